"""What every part of the fake cloud's HTTP side shares: routes, JSON answers with a request ID, and a
request's parameters read alike from its query string or (POST) its JSON body.

A *route provider* is a callable that takes the simulator's `Parts` (`parts.py`) and returns `Route`s;
`app.ROUTE_PROVIDERS` lists them, and a new API (IAM's project list, a service's parent list) is one
more provider there, not a method of `Simulator`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

from aiohttp import web

from exporter.simulator import bodies

__all__ = ["Handler", "Route", "int_param", "json_response", "request_params"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_INT_RE = re.compile(r"[+-]?[0-9]{1,15}")


class Route(NamedTuple):
    """One API: its HTTP method, its path (aiohttp's {name} placeholders) and its handler."""

    method: str
    path: str
    handler: Handler


def json_response(status: int, body: object, request_id: str | None = None) -> web.Response:
    headers = {"X-Request-Id": request_id or bodies.new_request_id()}
    return web.json_response(body, status=status, headers=headers)


async def request_params(request: web.Request) -> dict[str, str]:
    """The request's parameters: its query string, and for a POST its JSON body's top-level scalars by
    name and every scalar by its JSON pointer (a list call that sends its paging in the body); ValueError
    for a body that is not a JSON object."""
    params = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return params
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    for key, value in body.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            params[key] = str(value)
    params.update(_pointed(body, ""))
    return params


def _pointed(node: object, at: str) -> dict[str, str]:
    """Every scalar of a JSON body by its JSON pointer (`/offset`, `/filters/0/value/0`): where a spec
    pages or windows a POST list in its body (`in: body`), it names the values so."""
    if isinstance(node, dict):
        items = [(str(key).replace("~", "~0").replace("/", "~1"), value) for key, value in node.items()]
    elif isinstance(node, list):
        items = [(str(index), value) for index, value in enumerate(node)]
    else:
        return {} if node is None or isinstance(node, bool) else {at: str(node)}
    found: dict[str, str] = {}
    for key, value in items:
        found.update(_pointed(value, f"{at}/{key}"))
    return found


def int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    """Parameter ``name`` as an integer in ``low..high``; ValueError names the rule."""
    raw = params.get(name)
    if raw is None:
        return default
    rule = (
        f"{name} must be an integer from {low} to {high}" if high is not None else f"{name} must be an integer >= {low}"
    )
    if not _INT_RE.fullmatch(raw):
        raise ValueError(rule)
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise ValueError(rule)
    return value
