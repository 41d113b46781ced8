"""SMPP command statuses as people look them up, and the errors a send stops with (SEND-2, PLUS-1, PLUS-5)."""

from __future__ import annotations

from datetime import datetime

from pipelines.smpp import pdu as P

THROTTLING = {P.ESME_RTHROTTLED, P.ESME_RMSGQFUL}
STATUS_NAMES = {P.ESME_RINVMSGLEN: "ESME_RINVMSGLEN", P.ESME_RINVCMDLEN: "ESME_RINVCMDLEN",
                P.ESME_RINVCMDID: "ESME_RINVCMDID", P.ESME_RINVBNDSTS: "ESME_RINVBNDSTS",
                P.ESME_RALYBND: "ESME_RALYBND", P.ESME_RSYSERR: "ESME_RSYSERR", P.ESME_RBINDFAIL: "ESME_RBINDFAIL",
                P.ESME_RINVPASWD: "ESME_RINVPASWD", 0x0F: "ESME_RINVSYSID", P.ESME_RTHROTTLED: "ESME_RTHROTTLED"}


def status_name(status: int) -> str:
    """`0x0D (ESME_RBINDFAIL)`: an SMPP 3.4 §5.1.3 command_status as people look it up."""
    name = STATUS_NAMES.get(status)
    return f"0x{status:02X}" + (f" ({name})" if name else "")


class DispatchPaused(RuntimeError):
    """The error budget was exceeded: the batch stopped instead of burning the list."""


class DispatchError(RuntimeError):
    """The SMSC could not be reached or refused the bind."""


class CampaignBusy(DispatchError):
    """Another sender of this campaign (or a bind process it left behind) is alive: one live sender at a time."""


class PlanMissing(DispatchError, FileNotFoundError):
    """The plan folder or one of its files (recipients, summary) is not there."""


class WindowClosed(RuntimeError):
    """SEND-2, PLUS-10: the legal window is closed (or closed mid-batch) for the rows left, each judged in its
    recipient's local time; the batch resumes at `reopens`, the earliest of their openings."""

    def __init__(self, reopens: datetime, sent: int = 0, waiting: int = 0):
        self.reopens, self.sent, self.waiting = reopens, sent, waiting
        left = f"; {waiting:,} parts wait for their recipients' local window to open" if waiting else ""
        super().__init__(f"the send window is closed; {sent:,} parts went out before it closed{left}; the batch "
                         f"resumes at {reopens:%A %d/%m/%Y %H:%M} (Europe/Paris) [SEND-2]")

    def __reduce__(self):
        # A bind process returns this to its parent: pickled by its fields, not by the message its __init__ makes.
        return type(self), (self.reopens, self.sent, self.waiting)
