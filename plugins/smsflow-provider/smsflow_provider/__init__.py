"""The smsflow Airflow provider: registers the `smpp` connection type (SEND-6) with its hook, and the plugin that
shows a campaign's report on its run page (REP-1, `smsflow_provider.plugin`, an `airflow.plugins` entry point)."""

from __future__ import annotations


def get_provider_info() -> dict:
    """Read by Airflow's ProvidersManager through the `apache_airflow_provider` entry point."""
    return {
        "package-name": "smsflow-provider",
        "name": "smsflow",
        "description": "SMS campaigns over SMPP 3.4: the `smpp` connection type and the SmppHook.",
        "versions": ["0.1.0"],
        "connection-types": [
            {"connection-type": "smpp", "hook-class-name": "smsflow_provider.hooks.smpp.SmppHook"},
        ],
    }
