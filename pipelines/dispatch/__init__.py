"""Dispatch (SEND-6, PLUS-1, PLUS-5, PLUS-9): the sendable rows of a plan, as SMS parts, over SMPP binds.

Each part goes out as one submit_sm with a delivery receipt requested (PDUs from `pipelines.smpp.pdu`,
profiled 20x cheaper per PDU than smpplib's PDU objects; the bind waits `bind_timeout` for a slow SMSC),
through a window of parts in flight and a rate limiter counted in parts per second. Throttling answers
(ESME_RTHROTTLED, ESME_RMSGQFUL) slow the bind down and the same parts are sent again, in order. An error
budget pauses the batch instead of burning the list.

The send ledger makes a part go out at most once per (campaign, recipient, part), across crashes, kills and
re-runs: before a group of parts is sent its `intent` records are fsynced, and every submit_sm_resp is
recorded with the SMSC's message id. A re-run skips what the ledger shows as accepted or refused. The one
ambiguous case is an intent with no response (the process died in between): the SMSC may or may not have
the part. Those parts are never resent blindly: the re-run first binds and listens for receipts (the SMSC
keeps them until a receiver binds) for `ambiguous_grace` seconds, and a receipt from that handset quoting
that part's text proves it was taken; only the parts with no such evidence are sent again. A part the SMSC
took but never reports on at all can therefore arrive twice: that is the documented price of never losing
one.

The package, one module per job, each importing only those above it:
  errors, settings   SMPP statuses and the errors a send stops with; the SMSC settings
  parts              the plan's sendable rows as SMS parts
  ledger             the send ledger and its state per part: files (ledger_files) or the account store
                     (ledger_store), SMSFLOW_LEDGER
  pacing             the rate limiter and the error budget
  session            one bind (BindSession)
  recovery           parts in flight when a sender stopped (SEND-7)
  lock               one live sender per campaign
  batch              SendJob, send_batch(job): a batch over one bind
  parallel           send_plan: the whole send, over parallel bind processes
  receiver           receive: `smsflow receive`
  test_send          send_test: SEND-3
"""

from pipelines.dispatch.batch import DispatchReport, SendJob, send_batch
from pipelines.dispatch.errors import (STATUS_NAMES, THROTTLING, CampaignBusy, DispatchError, DispatchPaused,
                                       PlanMissing, WindowClosed, status_name)
from pipelines.dispatch.ledger import (LEDGER_SCHEMA, Ledger, SendLedger, boot_id, campaign_dirs, ledger_mode,
                                       ledger_state, open_ledger)
from pipelines.dispatch.lock import campaign_lock
from pipelines.dispatch.parallel import require_plan, send_plan
from pipelines.dispatch.parts import (SHORT_CODE, OutPart, batch_count, build_parts, sendable_rows, source_address,
                                      validity_period)
from pipelines.dispatch.receiver import receive
from pipelines.dispatch.recovery import InFlight, in_flight_policy
from pipelines.dispatch.session import BindReport
from pipelines.dispatch.settings import SmscSettings, redact_url
from pipelines.dispatch.test_send import TestSendResult, send_test

__all__ = ["LEDGER_SCHEMA", "SHORT_CODE", "STATUS_NAMES", "THROTTLING", "BindReport", "CampaignBusy", "DispatchError",
           "DispatchPaused", "DispatchReport", "InFlight", "Ledger", "OutPart", "PlanMissing", "SendJob", "SendLedger",
           "SmscSettings", "TestSendResult", "WindowClosed", "batch_count", "boot_id", "build_parts", "campaign_dirs",
           "campaign_lock", "in_flight_policy", "ledger_mode", "ledger_state", "open_ledger", "receive", "redact_url",
           "require_plan", "send_batch", "send_plan", "send_test", "sendable_rows", "source_address", "status_name",
           "validity_period"]
