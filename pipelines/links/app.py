"""The short-link service as a plain app (URL-3, URL-4, URL-5): `GET /<token>` redirects a person, shows a
preview crawler the OpenGraph page, and records the event before answering.

One request path (`LinksApp.respond`) behind two protocols: RSGI for granian (`__rsgi__`: its bare 302 costs less
CPU than its ASGI one, bench/links.py) and ASGI for uvicorn (`__call__`). No framework routing: one path shape,
no middleware, and every microsecond counts at 15,000 redirects a second on one core. Configured by environment
(`SMSFLOW_BUCKET`, `SMSFLOW_LINKS_LIFETIME_DAYS`, `SMSFLOW_LINKS_POLL`, `SMSFLOW_LINKS_ROLL`) so that each
worker process builds its own (`create_app` is a factory).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
from functools import lru_cache
from html import escape
from pathlib import Path

from pipelines.links.clicks import LINE, ClickLog, event_head, event_tail
from pipelines.links.index import IndexWatcher, Link

# Link-preview fetchers by name (URL-4), checked before CrawlerDetect's list: it misses Android Messages'
# Google-PageRenderer and Samsung Messages' disguised agent (tests/unit/test_links_clicks.py), and its match does
# not say which app previewed. iMessage sends "facebookexternalhit/1.1 Facebot Twitterbot/1.0".
PREVIEW_AGENTS = (
    ("imessage", r"facebookexternalhit/1\.1 Facebot Twitterbot"),
    ("whatsapp", r"WhatsApp"),
    ("facebook", r"facebookexternalhit|Facebot|facebookcatalog"),
    ("twitter", r"Twitterbot"),
    ("telegram", r"TelegramBot"),
    ("slack", r"Slackbot|Slack-ImgProxy"),
    ("google-messages", r"GoogleMessages|Google-PageRenderer|developers\.google\.com/\+?/?web/snippet"),
    ("samsung-messages", r"^Mozilla/5\.0 \(X11; Ubuntu; Linux i686; rv:24\.0\) Gecko/20100101 Firefox/24\.0$"),
    ("discord", r"Discordbot"),
    ("linkedin", r"LinkedInBot"),
    ("skype", r"SkypeUriPreview"),
    ("apple", r"Applebot"),
)
_PREVIEW = re.compile("|".join(f"(?P<{name.replace('-', '_')}>{pattern})" for name, pattern in PREVIEW_AGENTS),
                      re.IGNORECASE)
_detector = None


@lru_cache(maxsize=16384)  # CrawlerDetect's regex takes ~0.5 ms on a browser's agent; agents repeat
def classify(user_agent: str) -> tuple[str, bool]:
    """(agent_class, bot): "person", "crawler:whatsapp", ..., "crawler:other" (CrawlerDetect), "crawler:empty"."""
    global _detector
    if not user_agent.strip():
        return "crawler:empty", True
    named = _PREVIEW.search(user_agent)
    if named:
        return "crawler:" + named.lastgroup.replace("_", "-"), True
    if _detector is None:
        from crawlerdetect import CrawlerDetect

        _detector = CrawlerDetect()
    return ("crawler:other", True) if _detector.isCrawler(user_agent) else ("person", False)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}", re.ASCII)


@lru_cache(maxsize=65536)
def ip_prefix(host: str | None) -> str | None:
    """The client's network for privacy: IPv4 truncated to /24, IPv6 to /48."""
    if not host:
        return None
    network, dot, last = host.rpartition(".")
    if dot and last.isdigit() and _IPV4.fullmatch(host):  # the usual case, without ipaddress's objects
        return network + ".0/24"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


def _page(title: str, body: str) -> bytes:
    return (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><meta name="robots" content="noindex">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
            f"</head><body>{body}</body></html>").encode()


NOT_FOUND = _page("Lien introuvable", "<h1>Lien introuvable</h1><p>Ce lien n'existe pas ou est mal recopié.</p>")
GONE = _page("Lien expiré", "<h1>Lien expiré</h1><p>Ce lien n'est plus valable.</p>")
NOT_ALLOWED = _page("Méthode non permise", "<h1>Méthode non permise</h1>")
IMAGE_TYPES = {".jpg": b"image/jpeg", ".jpeg": b"image/jpeg", ".png": b"image/png"}
_HTML = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"private, no-store"),
         (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]


def preview_page(link) -> bytes:
    """The OpenGraph page a preview crawler reads (URL-4), with a visible link for a person taken for one."""
    url = f"https://{link.short_url}"
    target = link.target.decode()
    meta = [("og:type", "website"), ("og:url", url), ("og:title", link.title),
            ("og:description", link.description)]
    if link.image:
        meta += [("og:image", f"{url}/{link.image}"), ("twitter:card", "summary_large_image")]
    tags = "".join(f'<meta property="{name}" content="{escape(value)}">' for name, value in meta)
    body = (f"<h1>{escape(link.title)}</h1><p>{escape(link.description)}</p>"
            f'<p><a href="{escape(target)}" rel="noreferrer">{escape(target)}</a></p>')
    return _page(link.title, body).replace(b"</head>", tags.encode() + b"</head>", 1)


@lru_cache(maxsize=16384)
def request_tail(user_agent: str, host: str | None, head: bool) -> tuple[bool, bytes]:
    """(a click?, the event line's tail) of a request by this agent from this client and method: a person's GET
    is a click, a crawler's fetch or any HEAD a preview (URL-4). Cached: one agent clicks many links."""
    agent_class, bot = classify(user_agent)
    kind = "preview" if bot or head else "click"
    return kind == "click", event_tail(kind, agent_class, bot, ip_prefix(host), user_agent)


_READS = ("GET", "HEAD")
_REDIRECT = [(b"cache-control", b"private, no-store"), (b"referrer-policy", b"no-referrer")]
_REDIRECT_RSGI = [(name.decode(), value.decode()) for name, value in _REDIRECT]
_EMPTY_BODY = {"type": "http.response.body", "body": b""}
# URL-5: the longest User-Agent kept. CrawlerDetect's patterns take time in the square of an agent's length (a
# 20 kB agent: 30 s of a worker's only thread) and every cache and log line holds the agent: one crafted request
# must not stall or bloat a worker. Real agents are under 300 characters; the first 512 still classify them.
MAX_AGENT = 512
UNREADABLE_AGENT = "\ufffd"  # a User-Agent granian's RSGI cannot give as text (not ASCII): a person's, not empty


class LinksApp:
    """The application of one worker: ASGI (uvicorn) and RSGI (granian), one request path (`respond`)."""

    def __init__(self, bucket: Path, lifetime_days: float | None = None, poll: float = 2.0,
                 roll_seconds: float = 5.0):
        self.bucket = Path(bucket)
        self.index = IndexWatcher(self.bucket, lifetime_days=lifetime_days, poll=poll)
        self.roll_seconds = roll_seconds
        self.clicks: ClickLog | None = None
        self._images: dict[Path, tuple[int, bytes]] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await self.http(scope, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.startup()
                except Exception as error:  # noqa: BLE001 - told to uvicorn, which stops
                    await send({"type": "lifespan.startup.failed", "message": f"{type(error).__name__}: {error}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def startup(self) -> None:
        classify("Mozilla/5.0 (warm-up)")  # CrawlerDetect compiles its patterns (~1 s) before the first request
        self.index.start()
        self.clicks = ClickLog(self.bucket, worker="links", roll_seconds=self.roll_seconds)
        self.clicks.start()

    def shutdown(self) -> None:
        self.index.stop()
        if self.clicks is not None:
            self.clicks.close()

    # RSGI (granian): its worker calls __rsgi_init__ before it accepts a connection, __rsgi_del__ when it stops
    def __rsgi_init__(self, loop) -> None:
        self.startup()

    def __rsgi_del__(self, loop) -> None:
        self.shutdown()

    async def __rsgi__(self, scope, protocol):
        headers, client = scope.headers, scope.client
        user_agent = headers.get("user-agent")
        if user_agent is None:
            user_agent = UNREADABLE_AGENT if "user-agent" in headers else ""
        answer = self.respond(scope.path.encode(), scope.method, user_agent,
                              client.rpartition(":")[0].strip("[]") if client else None)
        if answer.__class__ is bytes:  # the 302, handed to granian after the click's os.write
            return protocol.response_empty(302, [("location", answer.decode()), *_REDIRECT_RSGI])
        status, headers, body = answer  # granian counts the body's length, and leaves it out for HEAD
        protocol.response_bytes(status, [(name.decode(), value.decode()) for name, value in headers], body)

    async def http(self, scope, send):
        """ASGI (uvicorn)."""
        user_agent = ""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
                break
        client = scope.get("client")
        method = scope["method"]
        # the decoded path, as granian's RSGI gives it: the same answer to /Tok%30… on both servers
        answer = self.respond(scope["path"].encode(), method, user_agent, client[0] if client else None)
        if answer.__class__ is bytes:
            await send({"type": "http.response.start", "status": 302,
                        "headers": [(b"location", answer), *_REDIRECT, (b"content-length", b"0")]})
            return await send(_EMPTY_BODY)
        status, headers, body = answer
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    def respond(self, path: bytes, method: str, user_agent: str, host: str | None):
        """The answer to one request: a redirect's target (bytes: 302, `Cache-Control: private, no-store`), or
        (status, headers, body), the body whole for HEAD too (each server leaves it out). A click's or preview's
        event is in the kernel before this returns (URL-3, URL-4: a SIGKILL after it loses nothing)."""
        token = path[1:]
        user_agent = user_agent[:MAX_AGENT]
        if b"/" in token or method not in _READS:
            return self._other(path, method)
        found = self.index.snapshot.find(token)
        if found is None:
            return self._health() if path == b"/healthz" else (404, _HTML, NOT_FOUND)
        campaign, _, target, expires_us, id_line, link, ref = found
        now_us = time.time_ns() // 1000
        if now_us >= expires_us:
            return 410, _HTML, GONE
        click, tail = request_tail(user_agent, host, method == "HEAD")
        self.clicks.append(LINE % (token, event_head(campaign.campaign, campaign.ref_lists[ref]), id_line, link,
                                   now_us, tail))
        if click:
            return target
        return 200, _HTML, preview_page(Link(token.decode(), *found))

    def _other(self, path: bytes, method: str):
        """Anything but `GET|HEAD /<token>`: the health check, an image of a preview, 404 and 405."""
        if path == b"/healthz":
            return self._health()
        parts = path[1:].split(b"/")
        if len(parts) > 2:
            return 404, _HTML, NOT_FOUND
        if method not in _READS:
            return 405, _HTML + [(b"allow", b"GET, HEAD")], NOT_ALLOWED
        link = self.index.snapshot.lookup(parts[0])
        if link is None:
            return 404, _HTML, NOT_FOUND
        if time.time_ns() // 1000 >= link.expires_us:
            return 410, _HTML, GONE
        return self._image(link, parts[1])

    def _health(self):
        snapshot = self.index.snapshot
        body = json.dumps({"links": len(snapshot), "campaigns": len(snapshot.campaigns),
                           "events": self.clicks.appended if self.clicks else 0}).encode()
        return 200, [(b"content-type", b"application/json"), (b"cache-control", b"no-store")], body

    def _image(self, link, name: bytes):
        """The preview image named by the plan for this link, from its plan folder (never another file)."""
        image = link.image.encode()
        suffix = os.path.splitext(link.image)[1].lower()
        if not image or name != image or "/" in link.image or link.image.startswith(".") or \
                suffix not in IMAGE_TYPES:
            return 404, _HTML, NOT_FOUND
        path = link.plan_dir / link.image
        try:
            mtime = path.stat().st_mtime_ns
            cached = self._images.get(path)
            if cached is None or cached[0] != mtime:
                cached = self._images[path] = (mtime, path.read_bytes())
        except OSError:
            return 404, _HTML, NOT_FOUND
        return 200, [(b"content-type", IMAGE_TYPES[suffix]), (b"cache-control", b"public, max-age=86400"),
                     (b"x-content-type-options", b"nosniff")], cached[1]


def create_app() -> LinksApp:
    """The factory each worker calls (settings from the environment, set by `smsflow links serve`)."""
    lifetime = os.environ.get("SMSFLOW_LINKS_LIFETIME_DAYS")
    return LinksApp(Path(os.environ.get("SMSFLOW_BUCKET", "bucket")),
                    lifetime_days=float(lifetime) if lifetime else None,
                    poll=float(os.environ.get("SMSFLOW_LINKS_POLL", "2")),
                    roll_seconds=float(os.environ.get("SMSFLOW_LINKS_ROLL", "5")))
