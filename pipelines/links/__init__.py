"""Tracked short links (URL-1…5).

Plan side: detect (the message's URLs, URL-1, URL-2), tokens (CSPRNG tokens, unique in a plan, URL-5), plan (short
links per sendable recipient and link, written to the plan folder's links.parquet). Serving side: the index, the
ASGI service and its click log. Nothing is imported here, so each side loads only what it uses.
"""
