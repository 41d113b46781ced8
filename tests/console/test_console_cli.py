"""`smsflow console` as a person starts it (issue 14): a real process on 127.0.0.1, the login page served, every
other page closed without a session, and a plain `kill` (SIGTERM) stops it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

import httpx
from helpers import start_smsflow, wait_until


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_user1_smsflow_console_serves_login_on_loopback_redirects_the_rest_and_stops_on_sigterm(tmp_path):
    import psutil

    port, bucket = _free_port(), tmp_path / "bucket"
    bucket.mkdir()
    printed = tmp_path / "console.out"
    with printed.open("w", encoding="utf-8") as sink:
        server = start_smsflow("console", "--port", str(port), env={**os.environ, "SMSFLOW_BUCKET": str(bucket)},
                               stdout=sink, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: server.poll() is not None or _answers(f"{base}/login"), timeout=60,
                   what="smsflow console to answer")
        assert server.poll() is None, printed.read_text(encoding="utf-8")
        assert f"smsflow console on http://127.0.0.1:{port}" in printed.read_text(encoding="utf-8")
        login = httpx.get(f"{base}/login")
        assert login.status_code == 200 and 'name="csrf_token"' in login.text and "Connexion" in login.text
        home = httpx.get(f"{base}/", follow_redirects=False)
        assert home.status_code == 303 and home.headers["location"] == "/login"
        listening = {connection.laddr for connection in psutil.Process(server.pid).net_connections("inet")
                     if connection.status == psutil.CONN_LISTEN}
        assert listening == {("127.0.0.1", port)}, listening  # this machine only, unless --host says otherwise
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught, as a program killed by it would exit
    assert code in (0, -signal.SIGTERM), printed.read_text(encoding="utf-8")
    assert "Traceback" not in printed.read_text(encoding="utf-8")
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_user4_make_airflow_gives_the_demo_account_an_admin_with_a_new_password_at_each_start(tmp_path, monkeypatch):
    """`make airflow` prints a console login: the demo account's administrator, made on the first start, a new
    password (USER-1's policy) at each start, the previous one void."""
    from console_helpers import client, console_app, log_in

    from pipelines.demo.serve import CONSOLE_LOGIN, console_login
    from pipelines.store import create_account
    from pipelines.store.users import password_problems

    app = console_app(tmp_path, monkeypatch)
    create_account(app.state.engine, "demo")
    first = console_login(app.state.bucket)
    second = console_login(app.state.bucket)
    assert first != second and not password_problems(first) and not password_problems(second)
    assert log_in(client(app), CONSOLE_LOGIN, first).status_code == 401
    browser = client(app)
    assert log_in(browser, CONSOLE_LOGIN, second).status_code == 303
    assert browser.get("/users").status_code == 200  # an administrator of the account
