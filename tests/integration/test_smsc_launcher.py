"""The simulator's one launcher (SimulatorProcess, start_process): config, URL, log, start failures, stop (SEND-6)."""

from __future__ import annotations

import socket

import pydantic
import pytest
import smpplib.client

from pipelines.dispatch import SmscSettings
from pipelines.smpp.simulator import SimulatorProcess, SmscConfig, start_process


def bind_and_submit(host: str, port: int, system_id: str = "smsflow", password: str = "smsflow") -> str:
    """Bind a transmitter, submit one part, unbind; returns the message id the SMSC gave."""
    connection = smpplib.client.Client(host, port, timeout=10)
    connection.connect()
    connection.bind_transmitter(system_id=system_id, password=password)
    connection.send_message(source_addr_ton=5, source_addr="MABOUTIQUE", dest_addr_ton=1, dest_addr_npi=1,
                            destination_addr="33612345678", short_message=b"Bonjour")
    message_id = connection.read_pdu().message_id.decode()
    connection.unbind()
    connection.disconnect()
    return message_id


def test_send6_launcher_refuses_invalid_settings_before_starting_a_process(tmp_path):
    with pytest.raises(pydantic.ValidationError, match="receipts"):
        SimulatorProcess(tmp_path / "smsc", {"receipts": "forever"})
    assert not (tmp_path / "smsc" / "smsc.yaml").exists()  # refused when read, nothing written nor started


def test_send6_launcher_url_carries_the_configured_user_escaped_and_the_query(tmp_path):
    users = {"shop@x": "p:ss/1"}
    with SimulatorProcess(tmp_path / "smsc", users=users) as simulator:
        settings = SmscSettings.from_url(simulator.url(window=8, linger=0.5))
        assert (settings.system_id, settings.password, settings.host, settings.port) == (
            "shop@x", "p:ss/1", "127.0.0.1", simulator.port)
        assert (settings.window, settings.linger) == (8, 0.5)
        assert bind_and_submit(settings.host, settings.port, settings.system_id, settings.password) == "1000000"
    assert simulator.process.returncode == 0  # left the `with`: stopped by SIGTERM and reaped
    assert [record["event"] for record in simulator.records()] == ["part", "message"]


def test_send6_launcher_log_relative_to_the_callers_folder_not_the_childs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SimulatorProcess(tmp_path / "smsc", SmscConfig(port=0, log="handsets.jsonl")) as simulator:
        bind_and_submit(simulator.host, simulator.port)
    assert simulator.log == tmp_path / "handsets.jsonl"
    assert [record["text"] for record in simulator.records("message")] == ["Bonjour"]


def test_send6_launcher_start_failure_names_the_cause_from_the_simulators_stderr(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="did not start") as error:
            SimulatorProcess(tmp_path / "smsc", port=port)
    assert "exited with status 1" in str(error.value) and "address already in use" in str(error.value)


def test_send6_start_process_keeps_the_demo_contract_popen_and_port(tmp_path):
    config = SmscConfig(port=0, log=tmp_path / "smsc" / "smsc.jsonl", receipt_delay=1.0)
    process, port = start_process(config, tmp_path / "smsc")
    try:
        assert bind_and_submit("127.0.0.1", port) == "1000000"
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert (tmp_path / "smsc" / "smsc.jsonl").read_text(encoding="utf-8").count('"event": "part"') == 1
