"""The extranet's blacklists pages (issue 14)."""

from __future__ import annotations

routes: list = []
