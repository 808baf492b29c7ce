"""Request gate, as in Tokenizer Studio's engine: Host and Origin checks, token or session
cookie, body caps, and hardening headers. Plain ASGI middleware, so it runs before routing and
no route can bypass it.

The shell holds the launch token. It hands the page a session through a one-time launch code
(`POST /api/v1/session/launch-code` with the token, then `#launch=<code>` in the page's URL,
which the page exchanges at `POST /api/v1/session` for an HttpOnly cookie): the token never
appears in a URL or a log.
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

from inspector.errors import ApiError, error_response
from inspector.uploads import (
    DATASET_UPLOAD,
    MAX_TOKENIZER_BYTES,
    MULTIPART_OVERHEAD,
    TOKENIZER_UPLOAD,
)

TOKEN_HEADER = "x-corpus-inspector-token"
LAUNCH_CODE_TTL_S = 60
# Reachable without credentials: liveness, and the session bootstrap (it checks the code).
OPEN_ROUTES = {
    ("GET", "/health"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/session"),
    ("POST", "/api/v1/session"),
}
DATASET_ROUTE = ("POST", "/api/v1/datasets")
TOKENIZER_ROUTE = ("POST", "/api/v1/tokenizers")
OPEN_ROUTE_MAX_BODY = 16 * 1024
JSON_MAX_BODY = 64 * 1024

# The UI talks only to the engine that serves it: no inline or foreign script, no fetch to
# another origin, no framing, no <base> rewriting.
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
HARDENING_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def cookie_name(port: int) -> str:
    # Per port: two launches on one machine must not share (or clobber) each other's cookie.
    return f"cisession_{port}"


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
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            "body_too_large",
            f"The request body is larger than the {limit:,} bytes this endpoint accepts; send less.",
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
                    return {"type": "http.disconnect"}
                raise self.too_large()
        return message


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


class SecurityMiddleware:
    def __init__(
        self,
        app: Callable | None,
        *,
        port: int,
        token: str | None,
        sessions: SessionStore,
        max_upload_bytes: int,
    ) -> None:
        self.app = app
        self.port = port
        self.token = token
        self.sessions = sessions
        self.max_upload_bytes = max_upload_bytes
        self.allowed_hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.own_origins = {f"http://{h}" for h in self.allowed_hosts}
        self.cookie = cookie_name(port)

    def has_token(self, scope: Scope) -> bool:
        """Whether the request carries the launch token itself (not only a session cookie).
        Without a token (development) the engine is open."""
        if self.token is None:
            return True
        supplied = _header(scope, TOKEN_HEADER.encode())
        return supplied is not None and hmac.compare_digest(
            supplied.encode("utf-8"), self.token.encode("utf-8")
        )

    def is_authenticated(self, scope: Scope) -> bool:
        if self.has_token(scope):
            return True
        raw_cookie = _header(scope, b"cookie")
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
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # A page on another site that resolves its own name to 127.0.0.1 (DNS rebinding)
        # sends its own name as Host: refused.
        host = (_header(scope, b"host") or "").lower()
        if host not in self.allowed_hosts:
            await error_response(
                403,
                "forbidden_host",
                "This engine only answers requests addressed to 127.0.0.1 or localhost with its own port.",
            )(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if origin is not None and origin not in self.own_origins:
            await error_response(
                403,
                "forbidden_origin",
                "Requests from other web pages are refused; open Corpus Inspector from its own window.",
            )(scope, receive, send)
            return

        method, path = scope["method"], scope["path"]
        if (
            path.startswith("/api/")
            and (method, path) not in OPEN_ROUTES
            and not self.is_authenticated(scope)
        ):
            await error_response(
                401,
                "unauthorized",
                "Missing or wrong credentials: send the X-Corpus-Inspector-Token header, or "
                "reopen the app window to get a new session.",
            )(scope, receive, send)
            return

        limit, too_large = self._limit(method, path)
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await self._refuse(too_large())(scope, receive, send)
            return
        capped = _CappedReceive(receive, limit, too_large)
        replaced = False

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                if capped.tripped:
                    # Whatever the reader made of the cut-off body, the answer is the cap's.
                    replaced = True
                    await self._refuse(too_large())(scope, receive, send)
                    return
                capped.response_started = True
                message["headers"] = list(message.get("headers") or []) + HARDENING_HEADERS
            elif replaced:
                return
            await send(message)

        await self.app(scope, capped, send_with_headers)

    def _limit(self, method: str, path: str) -> tuple[int, Callable[[], ApiError]]:
        """The body cap of a route, and the error that says it in the route's own words."""
        if (method, path) in OPEN_ROUTES:
            return OPEN_ROUTE_MAX_BODY, lambda: BodyTooLarge(OPEN_ROUTE_MAX_BODY)
        if (method, path) == DATASET_ROUTE:
            cap = self.max_upload_bytes
            return cap + MULTIPART_OVERHEAD, lambda: DATASET_UPLOAD.too_large_error(cap)
        if (method, path) == TOKENIZER_ROUTE:
            return (
                MAX_TOKENIZER_BYTES + MULTIPART_OVERHEAD,
                lambda: TOKENIZER_UPLOAD.too_large_error(MAX_TOKENIZER_BYTES),
            )
        return JSON_MAX_BODY, lambda: BodyTooLarge(JSON_MAX_BODY)

    @staticmethod
    def _refuse(error: ApiError):
        response = error_response(error.status, error.code, error.message, headers={"connection": "close"})
        response.headers.update({k.decode(): v.decode() for k, v in HARDENING_HEADERS})
        return response
