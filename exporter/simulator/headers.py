"""The request headers a spec requires, checked as the cloud checks them: a header whose spec value is
`{uuid}` (RFS's Client-Request-Id, "a unique ID of the request; a UUID is recommended") must be sent,
and hold a UUID; a missing or malformed one is the API's HTTP 400, in the spec's error shape."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from aiohttp import web

from exporter.services import ServiceSpec
from exporter.simulator.routing import json_response

__all__ = ["header_problem", "required_headers"]


def header_problem(templates: Mapping[str, str], request: web.Request) -> str:
    """What is wrong with the request's `{uuid}` headers ("" when nothing is)."""
    for name, template in templates.items():
        if template != "{uuid}":
            continue
        value = request.headers.get(name, "")
        if not value:
            return f"the header {name} is required"
        try:
            uuid.UUID(value)
        except ValueError:
            return f"the header {name} must be a UUID"
    return ""


def required_headers(
    spec: ServiceSpec, templates: Mapping[str, str], request: web.Request, request_id: str
) -> web.Response | None:
    """The 400 answer to a request that lacks a header the spec requires, or None."""
    problem = header_problem(templates, request)
    if not problem:
        return None
    body = {"error_code": f"{spec.name.upper()}.0400", "error_msg": f"Invalid parameter: {problem}."}
    return json_response(400, body, request_id)
