"""The web extranet (issue 14): people with roles and a second factor, and campaigns run from a browser.

A Starlette application with Jinja2 templates and htmx (vendored, no CDN), on the account store: its users, sessions
and audit log live there, next to the campaigns, lists and blacklists the CLI manages — one library, two faces.
It talks to Airflow through its REST API (trigger a campaign's run, answer its approval). `smsflow console` starts
it; `create_app` builds it for tests and servers.
"""

from pipelines.console.app import create_app
from pipelines.console.settings import ConsoleSettings

__all__ = ["ConsoleSettings", "create_app"]
