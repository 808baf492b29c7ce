"""Request gate: Host and Origin checks, the token header or session cookie, body caps, and
hardening headers. Plain ASGI middleware, so it runs before routing and no route can bypass it.

The shell holds the launch token. It hands the page a session through a one-time launch code
(`POST /api/v1/session/launch-code` with the token, then `#launch=<code>` in the page's URL,
which the page exchanges at `POST /api/v1/session` for an HttpOnly cookie): the token never
appears in a URL or a log.

An app subclasses `SecurityMiddleware` with its names and sentences (`token_header`,
`cookie_prefix`, `host_refused`, `origin_refused`) and its routes' body caps (`route_limit`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from enginecore.errors import ApiError, error_response

LAUNCH_CODE_TTL_S = 60
# Reachable without credentials: liveness, and the session bootstrap (it checks the code itself).
OPEN_ROUTES = frozenset(
    {
        ("GET", "/health"),
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/session"),
        ("POST", "/api/v1/session"),
    }
)
# The open routes take a launch code at most: one huge POST to them must not grow the process.
OPEN_ROUTE_MAX_BODY = 16 * 1024

# The UI talks only to the engine that serves it: no inline or foreign script (an injected
# <script> does nothing), no fetch to another origin (nothing can be sent elsewhere), no
# framing, no <base> rewriting.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)
# No framing by other pages (clickjacking), no MIME sniffing, no Referer leaking local URLs.
HARDENING_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
# A route's body cap, and the error that says it in the route's own words.
RouteLimit = tuple[int, Callable[[], ApiError]]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class SessionStore:
    """Single-use launch codes and the session secrets they were exchanged for (memory only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[bytes, float] = {}
        self._sessions: set[bytes] = set()

    def issue_code(self) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            now = time.monotonic()
            self._codes = {c: exp for c, exp in self._codes.items() if exp > now}
            self._codes[_digest(code)] = now + LAUNCH_CODE_TTL_S
        return code

    def redeem(self, code: str) -> str | None:
        """A new session secret, or None when the code is unknown, used or expired."""
        with self._lock:
            expires = self._codes.pop(_digest(code), None)
            if expires is None or expires < time.monotonic():
                return None
            session = secrets.token_urlsafe(32)
            self._sessions.add(_digest(session))
            return session

    def is_valid(self, session: str) -> bool:
        # A lookup of the secret's SHA-256: its timing says nothing usable about the secret.
        with self._lock:
            return _digest(session) in self._sessions


class BodyTooLarge(ApiError):
    """The request body passed its route's cap; answered 413, whoever was reading it."""

    def __init__(self, limit: int, hint: str = "") -> None:
        super().__init__(
            413,
            "body_too_large",
            f"The request body is larger than the {limit:,} bytes this endpoint accepts; send less{hint}.",
        )


class _CappedReceive:
    """Counts the body as it arrives (a chunked one too) and stops it at the cap."""

    def __init__(self, receive: Receive, limit: int, too_large: Callable[[], ApiError]) -> None:
        self.receive = receive
        self.limit = limit
        self.too_large = too_large
        self.received = 0
        self.tripped = False
        self.response_started = False

    async def __call__(self) -> MutableMapping[str, Any]:
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.tripped = True
                if self.response_started:
                    # Too late for a 413, and an exception now would only surface as a
                    # "response already started" error: the reader sees the client gone.
                    return {"type": "http.disconnect"}
                raise self.too_large()
        return message


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


def cors_headers(origin: str | None) -> dict[str, str]:
    if origin is None:
        return {}
    return {
        "access-control-allow-origin": origin,
        "access-control-allow-credentials": "true",
        "access-control-expose-headers": "content-disposition",
        "vary": "Origin",
    }


class SecurityMiddleware:
    """The gate. A subclass sets the app's names and sentences below and its `route_limit`."""

    # The token header, lower case (`EngineApp.token_header`).
    token_header: str = ""
    # Session cookies are named `<cookie_prefix>_<port>`.
    cookie_prefix: str = ""
    host_refused: str = ""
    origin_refused: str = ""
    # The cap of a JSON body (any route without a cap of its own).
    json_max_body: int = 64 * 1024

    def __init__(
        self,
        app: Callable | None,
        *,
        port: int,
        token: str | None,
        sessions: SessionStore,
        max_upload_bytes: int | None = None,
        cors_origins: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.port = port
        self.token = token
        self.sessions = sessions
        self.max_upload_bytes = self.json_max_body if max_upload_bytes is None else max_upload_bytes
        self.allowed_hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.own_origins = {f"http://{h}" for h in self.allowed_hosts}
        # Development only (a dev server's page calling the engine); none in a runtime.
        self.cors_origins = set(cors_origins)
        self.cookie = self.cookie_name(port)

    @classmethod
    def cookie_name(cls, port: int) -> str:
        # Per port: two launches on one machine must not share (or clobber) each other's cookie.
        return f"{cls.cookie_prefix}_{port}"

    def unauthorized(self) -> str:
        header_name = "-".join(part.capitalize() for part in self.token_header.split("-"))
        return (
            f"Missing or wrong credentials: send the {header_name} header, or "
            "reopen the app window to get a new session."
        )

    def route_limit(self, method: str, path: str) -> RouteLimit:
        """The body cap of a route and its error; the app adds its upload routes."""
        if (method, path) in OPEN_ROUTES:
            return OPEN_ROUTE_MAX_BODY, lambda: BodyTooLarge(OPEN_ROUTE_MAX_BODY)
        return self.json_max_body, lambda: BodyTooLarge(self.json_max_body)

    def body_limit(self, method: str, path: str) -> int:
        return self.route_limit(method, path)[0]

    def has_token(self, scope: Scope) -> bool:
        """Whether the request carries the launch token itself (not only a session cookie).
        Without a token (development) the engine is open."""
        if self.token is None:
            return True
        supplied = header(scope, self.token_header.encode())
        return supplied is not None and hmac.compare_digest(
            supplied.encode("utf-8"), self.token.encode("utf-8")
        )

    def is_authenticated(self, scope: Scope) -> bool:
        if self.has_token(scope):
            return True
        raw_cookie = header(scope, b"cookie")
        if raw_cookie:
            jar = SimpleCookie()
            try:
                jar.load(raw_cookie)
            except Exception:
                return False
            morsel = jar.get(self.cookie)
            if morsel is not None and self.sessions.is_valid(morsel.value):
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # No websocket routes exist; refuse before anything else sees the handshake.
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # A page on another site that resolves its own name to 127.0.0.1 (DNS rebinding)
        # sends its own name as Host: refused.
        host = (header(scope, b"host") or "").lower()
        if host not in self.allowed_hosts:
            await error_response(403, "forbidden_host", self.host_refused)(scope, receive, send)
            return

        origin = header(scope, b"origin")
        cors_origin = None
        if origin is not None:
            if origin in self.cors_origins:
                cors_origin = origin
            elif origin not in self.own_origins:
                await error_response(403, "forbidden_origin", self.origin_refused)(scope, receive, send)
                return

        method = scope["method"]
        if cors_origin and method == "OPTIONS" and header(scope, b"access-control-request-method"):
            await self._preflight(cors_origin, send)
            return

        path = scope["path"]
        needs_auth = path.startswith("/api/") and (method, path) not in OPEN_ROUTES
        if needs_auth and not self.is_authenticated(scope):
            await error_response(401, "unauthorized", self.unauthorized(), headers=cors_headers(cors_origin))(
                scope, receive, send
            )
            return

        extra = [(k.encode(), v.encode()) for k, v in cors_headers(cors_origin).items()]
        extra += HARDENING_HEADERS

        limit, too_large = self.route_limit(method, path)
        length = header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await self._refuse(too_large(), cors_origin)(scope, receive, send)
            return
        capped = _CappedReceive(receive, limit, too_large)
        replaced = False

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                if capped.tripped:
                    # Whatever the reader made of the cut-off body (FastAPI calls it a parse
                    # error), the answer is the cap's.
                    replaced = True
                    await self._refuse(too_large(), cors_origin)(scope, receive, send)
                    return
                capped.response_started = True
                message["headers"] = list(message.get("headers") or []) + extra
            elif replaced:
                return
            await send(message)

        await self.app(scope, capped, send_with_headers)

    @staticmethod
    def _refuse(error: ApiError, cors_origin: str | None):
        headers = {**cors_headers(cors_origin), "connection": "close"}
        response = error_response(error.status, error.code, error.message, headers=headers)
        response.headers.update({k.decode(): v.decode() for k, v in HARDENING_HEADERS})
        return response

    async def _preflight(self, origin: str, send: Send) -> None:
        headers = {
            **cors_headers(origin),
            "access-control-allow-methods": "GET, POST, PATCH, DELETE, OPTIONS",
            "access-control-allow-headers": f"content-type, {self.token_header}",
            "access-control-max-age": "600",
        }
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": b""})
