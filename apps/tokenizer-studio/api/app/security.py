"""Request gate: Host and Origin checks, token/session auth and closed-by-default CORS.

See SECURITY.md for the threat model. The gate itself is enginekit's (`enginecore.security`);
this is Tokenizer Studio's instance of it: its names, sentences and body caps.

The OpenAPI schema is deliberately not an open route: it maps the whole API, so it is for
callers that already hold the token or a session. The Vite build's <meta> policy
(web/vite.config.ts) says the same as CONTENT_SECURITY_POLICY for the bundled page; a test keeps
the two in step.
"""

from __future__ import annotations

from app.settings import ENGINE
from app.uploads import MAX_TOKENIZER_BYTES, MULTIPART_OVERHEAD, TOKENIZER_UPLOAD, upload_too_large
from enginecore.errors import ApiError
from enginecore.security import (
    CONTENT_SECURITY_POLICY,
    HARDENING_HEADERS,
    LAUNCH_CODE_TTL_S,
    OPEN_ROUTE_MAX_BODY,
    OPEN_ROUTES,
    BodyTooLarge,
    RouteLimit,
    SessionStore,
)
from enginecore.security import SecurityMiddleware as _Gate

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "HARDENING_HEADERS",
    "IMPORT_ROUTE",
    "JSON_MAX_BODY",
    "LAUNCH_CODE_TTL_S",
    "OPEN_ROUTES",
    "OPEN_ROUTE_MAX_BODY",
    "TOKEN_HEADER",
    "UPLOAD_ROUTE",
    "SecurityMiddleware",
    "SessionStore",
    "cookie_name",
]

TOKEN_HEADER = ENGINE.token_header.lower()
# JSON bodies are small configs; the upload routes get their file cap plus the multipart framing.
JSON_MAX_BODY = 1024 * 1024
UPLOAD_ROUTE = ("POST", "/api/v1/datasets")
IMPORT_ROUTE = ("POST", "/api/v1/jobs/import")
_BODY_HINT = " (a dataset goes to the upload endpoint, in one multipart file field)"


class SecurityMiddleware(_Gate):
    token_header = TOKEN_HEADER
    cookie_prefix = "tsession"
    host_refused = "This server only answers requests addressed to 127.0.0.1 or localhost with its own port."
    origin_refused = (
        "Requests from other web pages are refused. Open the app from its own "
        "window, or list the dev server in TOKENIZER_STUDIO_CORS_ORIGINS."
    )
    json_max_body = JSON_MAX_BODY

    def route_limit(self, method: str, path: str) -> RouteLimit:
        # An upload says the file limit, in the upload's own words; the rest, the body cap.
        if (method, path) == UPLOAD_ROUTE:
            cap = self.max_upload_bytes
            return cap + MULTIPART_OVERHEAD, lambda: upload_too_large(cap)
        if (method, path) == IMPORT_ROUTE:
            return (
                MAX_TOKENIZER_BYTES + MULTIPART_OVERHEAD,
                lambda: TOKENIZER_UPLOAD.too_large_error(MAX_TOKENIZER_BYTES),
            )
        limit = OPEN_ROUTE_MAX_BODY if (method, path) in OPEN_ROUTES else JSON_MAX_BODY
        return limit, lambda: _body_too_large(limit)


def _body_too_large(limit: int) -> ApiError:
    return BodyTooLarge(limit, _BODY_HINT)


cookie_name = SecurityMiddleware.cookie_name
