"""The extranet's lists pages (issue 14)."""

from __future__ import annotations

routes: list = []
