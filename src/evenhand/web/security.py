"""Security headers on every response (a plain ASGI middleware: cheap, and it also covers
error pages and static files); HEAD answered as GET without a body; redirects made relative
(a Location never repeats the request's Host header); ``Allow`` on every 405."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW = b"GET, HEAD"

#: No inline script or style anywhere: htmx and the stylesheet are served from 'self'.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; connect-src 'self'"
)

HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        head = scope.get("method") == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                status = int(message.get("status", 200))
                if 300 <= status < 400:
                    headers = [(k, relative_location(v) if k.lower() == b"location" else v) for k, v in headers]
                if status == 405 and not any(k.lower() == b"allow" for k, _ in headers):
                    headers.append((b"allow", ALLOW))
                present = {k.lower() for k, _ in headers}
                message["headers"] = headers + [(k, v) for k, v in HEADERS if k not in present]
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}  # same headers (and length) as GET, no body
            await send(message)

        await self.app(scope, receive, send_with_headers)


def relative_location(value: bytes) -> bytes:
    """'http://any.host/school/1?x' -> '/school/1?x': the host came from the request's Host
    header, which a client controls; a path-only Location goes to the same server."""
    parts = urlsplit(value.decode("latin-1"))
    if not parts.scheme and not parts.netloc:
        return value
    path = "/" + parts.path.lstrip("/")  # never '//host': that would be another site
    return (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
