"""The extranet's people pages (issue 14)."""

from __future__ import annotations

routes: list = []
