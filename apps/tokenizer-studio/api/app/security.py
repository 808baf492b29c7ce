"""Request gate: Host and Origin checks, token/session auth and closed-by-default CORS.

See SECURITY.md for the threat model. Written as plain ASGI middleware so it runs before
routing and its answers cannot be bypassed by a route.
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

from app.errors import ApiError, error_response
from app.uploads import MAX_TOKENIZER_BYTES, MULTIPART_OVERHEAD, TOKENIZER_UPLOAD, upload_too_large

TOKEN_HEADER = "x-tokenizer-studio-token"
LAUNCH_CODE_TTL_S = 60
# Reachable without credentials: liveness, the session bootstrap (it checks the code itself).
# The OpenAPI schema is deliberately not here: it maps the whole API, so it is for callers
# that already hold the token or a session.
OPEN_ROUTES = {
    ("GET", "/health"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/session"),
    ("POST", "/api/v1/session"),
}

# The UI talks only to the server that serves it: no inline or foreign script (an injected
# <script> does nothing), no fetch to another origin (nothing can be sent elsewhere), no
# framing, no <base> rewriting. The Vite build's <meta> policy (web/vite.config.ts) says the
# same for the bundled page; a test keeps the two in step.
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

# Request bodies are capped before anything reads them: one huge POST to an open route must
# not grow the process by its size. The open routes take a launch code at most; JSON bodies
# are small configs; the upload routes get their file cap plus the multipart framing.
OPEN_ROUTE_MAX_BODY = 16 * 1024
JSON_MAX_BODY = 1024 * 1024
UPLOAD_ROUTE = ("POST", "/api/v1/datasets")
IMPORT_ROUTE = ("POST", "/api/v1/jobs/import")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def cookie_name(port: int) -> str:
    # Per port: two launches on one machine must not share (or clobber) each other's cookie.
    return f"tsession_{port}"


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
        """Returns a new session secret, or None when the code is unknown, used or expired."""
        with self._lock:
            expires = self._codes.pop(_digest(code), None)
            if expires is None or expires < time.monotonic():
                return None
            session = secrets.token_urlsafe(32)
            self._sessions.add(_digest(session))
            return session

    def is_valid(self, session: str) -> bool:
        # Looking up a SHA-256 of the secret: timing reveals nothing usable about the secret.
        with self._lock:
            return _digest(session) in self._sessions


class BodyTooLarge(ApiError):
    """The request body passed its route's cap; answered 413, whoever was reading it."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            "body_too_large",
            f"The request body is larger than the {limit:,} bytes this endpoint accepts; send "
            "less (a dataset goes to the upload endpoint, in one multipart file field).",
        )


class _CappedReceive:
    """Counts the body as it arrives (chunked bodies too) and stops at the cap."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
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
                raise BodyTooLarge(self.limit)
        return message


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


class SecurityMiddleware:
    def __init__(
        self,
        app: Callable,
        *,
        port: int,
        token: str | None,
        cors_origins: tuple[str, ...],
        sessions: SessionStore,
        max_upload_bytes: int = JSON_MAX_BODY,
    ) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.port = port
        self.token = token
        self.sessions = sessions
        self.allowed_hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.own_origins = {f"http://{h}" for h in self.allowed_hosts}
        self.cors_origins = set(cors_origins)
        self.cookie = cookie_name(port)

    def has_token(self, scope: Scope) -> bool:
        """Whether the request carries the launch token itself (not just a session cookie)."""
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
            # No websocket routes exist; refuse before anything else sees the handshake.
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        host = (_header(scope, b"host") or "").lower()
        if host not in self.allowed_hosts:
            await error_response(
                403,
                "forbidden_host",
                "This server only answers requests addressed to 127.0.0.1 or localhost with its own port.",
            )(scope, receive, send)
            return

        origin = _header(scope, b"origin")
        cors_origin = None
        if origin is not None:
            if origin in self.cors_origins:
                cors_origin = origin
            elif origin not in self.own_origins:
                await error_response(
                    403,
                    "forbidden_origin",
                    "Requests from other web pages are refused. Open the app from its own "
                    "window, or list the dev server in TOKENIZER_STUDIO_CORS_ORIGINS.",
                )(scope, receive, send)
                return

        method = scope["method"]
        if cors_origin and method == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await self._preflight(cors_origin, send)
            return

        path = scope["path"]
        needs_auth = path.startswith("/api/") and (method, path) not in OPEN_ROUTES
        if needs_auth and not self.is_authenticated(scope):
            await error_response(
                401,
                "unauthorized",
                "Missing or wrong credentials: send the X-Tokenizer-Studio-Token header, or "
                "reopen the app window to get a new session.",
                headers=self._cors_headers(cors_origin),
            )(scope, receive, send)
            return

        extra = [(k.encode(), v.encode()) for k, v in self._cors_headers(cors_origin).items()]
        extra += HARDENING_HEADERS

        limit = self.body_limit(method, path)
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await self._too_large(method, path, cors_origin)(scope, receive, send)
            return
        capped = _CappedReceive(receive, limit)
        replaced = False

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                if capped.tripped:
                    # Whatever the reader made of the cut-off body (FastAPI calls it a parse
                    # error), the answer is the cap's.
                    replaced = True
                    await self._too_large(method, path, cors_origin)(scope, receive, send)
                    return
                capped.response_started = True
                message["headers"] = list(message.get("headers") or []) + extra
            elif replaced:
                return
            await send(message)

        await self.app(scope, capped, send_with_headers)

    def body_limit(self, method: str, path: str) -> int:
        if (method, path) in OPEN_ROUTES:
            return OPEN_ROUTE_MAX_BODY
        if (method, path) == UPLOAD_ROUTE:
            return self.max_upload_bytes + MULTIPART_OVERHEAD
        if (method, path) == IMPORT_ROUTE:
            return MAX_TOKENIZER_BYTES + MULTIPART_OVERHEAD
        return JSON_MAX_BODY

    def _too_large(self, method: str, path: str, cors_origin: str | None):
        # An upload says the file limit, in the upload's own words; the rest, the body cap.
        if (method, path) == UPLOAD_ROUTE:
            error: ApiError = upload_too_large(self.max_upload_bytes)
        elif (method, path) == IMPORT_ROUTE:
            error = TOKENIZER_UPLOAD.too_large_error(MAX_TOKENIZER_BYTES)
        else:
            error = BodyTooLarge(self.body_limit(method, path))
        headers = {**self._cors_headers(cors_origin), "connection": "close"}
        response = error_response(error.status, error.code, error.message, headers=headers)
        response.headers.update({k.decode(): v.decode() for k, v in HARDENING_HEADERS})
        return response

    @staticmethod
    def _cors_headers(origin: str | None) -> dict[str, str]:
        if origin is None:
            return {}
        return {
            "access-control-allow-origin": origin,
            "access-control-allow-credentials": "true",
            "access-control-expose-headers": "content-disposition",
            "vary": "Origin",
        }

    async def _preflight(self, origin: str, send: Send) -> None:
        headers = {
            **self._cors_headers(origin),
            "access-control-allow-methods": "GET, POST, PATCH, DELETE, OPTIONS",
            "access-control-allow-headers": f"content-type, {TOKEN_HEADER}",
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
