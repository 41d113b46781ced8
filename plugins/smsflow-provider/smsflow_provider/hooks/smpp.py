"""SmppHook: an Airflow connection of type `smpp` → the dispatcher's SMSC settings (SEND-6).

    AIRFLOW_CONN_SMSC_DEFAULT='smpp://system_id:password@host:2775?binds=2&window=64&tps=500'

Login and password are the bind's system_id and password; throughput, window, binds and the other
`pipelines.dispatch.SmscSettings` fields come from the connection's extras (or the URI's query).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.bases.hook import BaseHook


class SmppHook(BaseHook):
    """Connects smsflow to an operator's SMSC over SMPP 3.4."""

    conn_name_attr = "smpp_conn_id"
    default_conn_name = "smsc_default"
    conn_type = "smpp"
    hook_name = "SMPP (SMSC)"

    def __init__(self, smpp_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.smpp_conn_id = smpp_conn_id
        self._session = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema"],
            "relabeling": {"login": "System ID", "password": "Password"},
            "placeholders": {"host": "smsc.operator.example", "port": "2775",
                             "extra": '{"binds": 2, "window": 64, "tps": 500, "system_type": ""}'},
        }

    def get_settings(self):
        """The connection as validated dispatcher settings (every field checked when read)."""
        from pipelines.dispatch import SmscSettings

        connection = self.get_connection(self.smpp_conn_id)
        values: dict[str, Any] = {key: value for key, value in connection.extra_dejson.items()
                                  if key in SmscSettings.model_fields}
        values.update({"host": connection.host or "127.0.0.1", "port": connection.port or 2775})
        if connection.login:
            values["system_id"] = connection.login
        if connection.password is not None:
            values["password"] = connection.password
        return SmscSettings.model_validate(values)

    def get_conn(self):
        """A bound smpplib transceiver client (closed by the context manager)."""
        import smpplib.client

        settings = self.get_settings()
        client = smpplib.client.Client(settings.host, settings.port, timeout=settings.timeout,
                                       allow_unknown_opt_params=True)
        client.connect()
        client.bind_transceiver(system_id=settings.system_id, password=settings.password,
                                system_type=settings.system_type)
        self._session = client
        return client

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.unbind()
            finally:
                self._session.disconnect()
                self._session = None

    def __enter__(self):
        return self.get_conn()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def test_connection(self) -> tuple[bool, str]:
        """Bind and unbind: the connection's "Test" button in the Airflow UI."""
        try:
            settings = self.get_settings()
            with self:
                pass
        except Exception as error:  # any failure is reported to the UI, not raised
            return False, f"SMPP bind failed: {error}"
        return True, f"Bound to {settings.host}:{settings.port} as {settings.system_id!r}"
