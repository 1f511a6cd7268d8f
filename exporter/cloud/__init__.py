"""Talking to the cloud: the HTTP client (auth, transport, rate limit, the per-account and per-endpoint
guards) and the error parser that maps every documented error answer to the fixed reason list."""

from __future__ import annotations

from exporter.cloud.client import MAX_AUTH_FAILURES, TRACE, ApiClient, Observer, RateLimiter
from exporter.cloud.errors import ApiError, ApiFailure, classify, parse_error_body

__all__ = [
    "MAX_AUTH_FAILURES",
    "TRACE",
    "ApiClient",
    "ApiError",
    "ApiFailure",
    "Observer",
    "RateLimiter",
    "classify",
    "parse_error_body",
]
