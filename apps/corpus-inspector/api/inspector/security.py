"""Request gate: enginekit's (`enginecore.security`: Host and Origin checks, token or session
cookie, body caps, hardening headers), with Corpus Inspector's names, sentences and body caps."""

from __future__ import annotations

from enginecore.security import (
    CONTENT_SECURITY_POLICY,
    HARDENING_HEADERS,
    LAUNCH_CODE_TTL_S,
    OPEN_ROUTE_MAX_BODY,
    OPEN_ROUTES,
    RouteLimit,
    SessionStore,
)
from enginecore.security import SecurityMiddleware as _Gate
from inspector.settings import ENGINE
from inspector.uploads import DATASET_UPLOAD, MAX_TOKENIZER_BYTES, MULTIPART_OVERHEAD, TOKENIZER_UPLOAD

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "HARDENING_HEADERS",
    "JSON_MAX_BODY",
    "LAUNCH_CODE_TTL_S",
    "OPEN_ROUTES",
    "OPEN_ROUTE_MAX_BODY",
    "TOKEN_HEADER",
    "SecurityMiddleware",
    "SessionStore",
    "cookie_name",
]

TOKEN_HEADER = ENGINE.token_header.lower()
DATASET_ROUTE = ("POST", "/api/v1/datasets")
TOKENIZER_ROUTE = ("POST", "/api/v1/tokenizers")
JSON_MAX_BODY = 64 * 1024


class SecurityMiddleware(_Gate):
    token_header = TOKEN_HEADER
    cookie_prefix = "cisession"
    host_refused = "This engine only answers requests addressed to 127.0.0.1 or localhost with its own port."
    origin_refused = "Requests from other web pages are refused; open Corpus Inspector from its own window."
    json_max_body = JSON_MAX_BODY

    def route_limit(self, method: str, path: str) -> RouteLimit:
        if (method, path) == DATASET_ROUTE:
            cap = self.max_upload_bytes
            return cap + MULTIPART_OVERHEAD, lambda: DATASET_UPLOAD.too_large_error(cap)
        if (method, path) == TOKENIZER_ROUTE:
            return (
                MAX_TOKENIZER_BYTES + MULTIPART_OVERHEAD,
                lambda: TOKENIZER_UPLOAD.too_large_error(MAX_TOKENIZER_BYTES),
            )
        return super().route_limit(method, path)


cookie_name = SecurityMiddleware.cookie_name
