"""SEND-6: binding to an SMSC that answers slowly, refuses, or is not there; URLs never echo the password."""

from __future__ import annotations

import socket
import threading

import pytest

from pipelines.dispatch import DispatchError, SmscSettings, receive
from pipelines.smpp import pdu as P


class SlowBindSmsc:
    """A TCP server that answers the bind after `release` is set (or `delay` seconds), with `status`."""

    def __init__(self, status: int = P.ESME_ROK, delay: float | None = None):
        self.status, self.delay = status, delay
        self.release = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.server.accept()
        buffer = bytearray()
        with connection:
            while True:
                data = connection.recv(4096)
                if not data:
                    return
                buffer += data
                for command_id, _, sequence, _ in P.split(buffer):
                    if command_id in P.BINDS:
                        self.release.wait(self.delay)
                        connection.sendall(P.encode(command_id | P.RESPONSE, self.status, sequence,
                                                    P.cstring("slow")))
                    elif command_id == P.UNBIND:
                        connection.sendall(P.encode(P.UNBIND | P.RESPONSE, 0, sequence))
                        return

    def close(self) -> None:
        self.release.set()
        self.server.close()


@pytest.fixture
def slow_smsc():
    started = []

    def start(**settings) -> SlowBindSmsc:
        started.append(SlowBindSmsc(**settings))
        return started[-1]

    yield start
    for server in started:
        server.close()


def test_send6_an_smsc_answering_the_bind_after_1_5_s_is_bound(slow_smsc, tmp_path):
    server = slow_smsc(delay=1.5)
    report = receive(SmscSettings(port=server.port), tmp_path / "events", seconds=0.1)
    assert report.receipts == 0  # bound, listened, unbound: no error


def test_send6_bind_timeout_names_the_smsc_the_account_and_the_wait(slow_smsc, tmp_path):
    server = slow_smsc()  # never answers until the test ends
    settings = SmscSettings.from_url(f"smpp://acme:secret@127.0.0.1:{server.port}?bind_timeout=0.3")
    assert settings.bind_timeout == 0.3
    with pytest.raises(DispatchError) as error:
        receive(settings, tmp_path / "events", seconds=0.1)
    message = str(error.value)
    assert f"127.0.0.1:{server.port}" in message and "'acme'" in message and "after 0.3 s" in message
    assert "secret" not in message


def test_send6_bind_refused_names_the_status(slow_smsc, tmp_path):
    server = slow_smsc(status=P.ESME_RBINDFAIL, delay=0)
    with pytest.raises(DispatchError, match=r"bind refused with status 0x0D \(ESME_RBINDFAIL\)"):
        receive(SmscSettings(port=server.port), tmp_path / "events", seconds=0.1)


def test_send6_nothing_listening_is_a_refused_connection(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with pytest.raises(DispatchError, match=rf"127.0.0.1:{port} as 'smsflow' \(receiver\): connection refused"):
        receive(SmscSettings(port=port), tmp_path / "events", seconds=0.1)


@pytest.mark.parametrize("url", ["http://acme:s3cr3t-pw@host:2775", "smpp://acme:s3cr3t-pw@host:notaport",
                                 "smpp://acme:s3cr3t-pw@host:2775?window=0", "smpp://acme:s3cr3t-pw@host:2775?nope=1"])
def test_send6_a_refused_smsc_url_never_shows_the_password(url):
    with pytest.raises(ValueError) as error:
        SmscSettings.from_url(url)
    assert "s3cr3t-pw" not in str(error.value) and "***" in str(error.value)
    # no chained exception carries the URL into a traceback
    assert error.value.__cause__ is None and (error.value.__context__ is None or error.value.__suppress_context__)
