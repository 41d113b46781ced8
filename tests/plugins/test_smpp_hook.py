"""The `smpp` connection type: registered as an Airflow provider, read into validated SMSC settings."""

from __future__ import annotations

import json
import subprocess
import sys


def test_send6_smpp_connection_type_registered_through_the_provider_entry_point():
    code = ("from airflow.providers_manager import ProvidersManager\n"
            "info = ProvidersManager().hooks['smpp']\n"
            "print(info.hook_class_name, info.connection_testable)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split()[-2:] == ["smsflow_provider.hooks.smpp.SmppHook", "True"]


def test_send6_hook_reads_the_connection_and_tests_the_bind(smsc, monkeypatch):
    from smsflow_provider.hooks.smpp import SmppHook

    simulator = smsc()
    monkeypatch.setenv("AIRFLOW_CONN_SMSC_DEFAULT", json.dumps({
        "conn_type": "smpp", "host": simulator.host, "port": simulator.port, "login": "smsflow",
        "password": "smsflow", "extra": {"binds": 2, "window": 16, "tps": 300}}))
    settings = SmppHook().get_settings()
    assert (settings.port, settings.binds, settings.window, settings.tps) == (simulator.port, 2, 16, 300.0)
    assert SmppHook().test_connection() == (True, f"Bound to {simulator.host}:{simulator.port} as 'smsflow'")
    monkeypatch.setenv("AIRFLOW_CONN_SMSC_DEFAULT", f"smpp://smsflow:wrong@{simulator.host}:{simulator.port}")
    ok, message = SmppHook().test_connection()
    assert not ok and "Invalid Password" in message
