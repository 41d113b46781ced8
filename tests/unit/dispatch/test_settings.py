"""SEND-6: SMSC settings read from a URL, validated once (pipelines/dispatch/settings.py)."""

from __future__ import annotations

import pytest

from pipelines.dispatch import SmscSettings


def test_send6_settings_from_an_airflow_style_url():
    settings = SmscSettings.from_url("smpp://user%40x:p%3Ass@smsc.example:2776?binds=2&window=32&tps=500")
    assert (settings.system_id, settings.password, settings.host, settings.port) == ("user@x", "p:ss",
                                                                                     "smsc.example", 2776)
    assert (settings.binds, settings.window, settings.tps) == (2, 32, 500.0)
    with pytest.raises(ValueError):
        SmscSettings.from_url("http://x")
