"""Airflow's REST API as a user's browser speaks it (login, the few calls smsflow needs), over plain HTTP: nothing
here imports Airflow. Used by the demo drivers, `smsflow credits` (which runs ended) and the provider's hook."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


class AirflowApi:
    """The few REST calls a user's browser makes, with the JWT the login gives."""

    def __init__(self, base: str):
        self.base, self.token = base, None

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 120):
        """(HTTP status, the answer's JSON or text). A read that times out is asked once more: Airflow's API
        server on SQLite (make airflow) has been seen silent for ~50 s on a loaded machine."""
        request = urllib.request.Request(
            self.base + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        for attempt in (1, 2):
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode(errors="replace")
            except TimeoutError:
                if method != "GET" or attempt == 2:
                    raise

    def login(self, username: str, password: str) -> None:
        """Sign in as a user (no default: the stack's admin password is generated, never admin/admin)."""
        status, answer = self.call("POST", "/auth/token", {"username": username, "password": password})
        if status not in (200, 201):
            raise RuntimeError(f"Airflow login failed ({status}): {answer}")
        self.token = answer["access_token"]

    def healthy(self) -> bool:
        try:
            status, answer = self.call("GET", "/api/v2/monitor/health")
        except OSError:
            return False
        return status == 200 and all(part.get("status") == "healthy" for part in answer.values()
                                     if isinstance(part, dict))
