"""How a spec's calls are made, as pure functions: request headers (with a fresh UUID per request where
the spec asks for one), a POST list's JSON body with the paging and window values placed where the spec
says, a total read from a response header, and the lines `--service.try` shows for a spec's calls.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from exporter.services.spec import DiscoverySpec, Paging, ServiceSpec, Window, fill

__all__ = ["describe_calls", "fresh_headers", "header_total", "list_body", "place", "request_headers"]

_UNFILLED = re.compile(r"\{(?!uuid\})[a-z][a-z0-9_]*\}")  # a placeholder no value filled
_TOTAL = re.compile(r"\s*(?:[^/]*/)?\s*([0-9]{1,12})\s*")  # "25", or Content-Range's "0-9/25"


def request_headers(
    templates: Mapping[str, str],
    project_id: str,
    task_id: str = "",
    params: Mapping[str, str] | None = None,
    value: str = "",
) -> dict[str, str]:
    """The spec's header templates filled with the target's values; `{uuid}` stays for `fresh_headers`. A
    header that names a param the target does not give (an optional one: DataArts' workspace) is left out."""
    filled = {
        name: fill(text, project_id, task_id, params).replace("{value}", value) for name, text in templates.items()
    }
    return {name: text for name, text in filled.items() if _UNFILLED.search(text) is None}


def fresh_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of one request: each `{uuid}` a new random UUID (RFS wants one per request)."""
    return {
        name: text.replace("{uuid}", str(uuid.uuid4())) if "{uuid}" in text else text for name, text in headers.items()
    }


def header_total(value: str | None) -> int | None:
    """A list's total from a response header: a number, or the part after '/' (`0-9/25`, SWR's Content-Range)."""
    if not value:
        return None
    found = _TOTAL.fullmatch(value)
    return int(found.group(1)) if found is not None else None


def _tokens(pointer: str) -> list[str]:
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer.split("/")[1:]]


def place(body: Any, pointer: str, value: Any) -> Any:
    """`body` with `value` at the JSON pointer (RFC 6901), in place; missing objects are made on the way,
    and a list index past the end pads the list with nulls (a template's `value: ["", ""]` is filled)."""
    tokens = _tokens(pointer)
    if not tokens:
        return value
    node = body
    for token, after in zip(tokens, [*tokens[1:], None], strict=True):
        last = after is None
        if isinstance(node, list) and token.isdigit():
            index = int(token)
            node.extend([None] * (index + 1 - len(node)))
            if last:
                node[index] = value
            elif not isinstance(node[index], dict | list):
                node[index] = {}
            node = node[index]
        elif isinstance(node, dict):
            if last:
                node[token] = value
            elif not isinstance(node.get(token), dict | list):
                node[token] = {}
            node = node[token] if not last else node
        else:
            break  # a scalar in the way of a pointer the spec reader let through: leave the body as it is
    return body


def _strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_strings(item, change) for item in value]
    return value


def list_body(lister: DiscoverySpec, project_id: str, params: Mapping[str, str], value: str = "") -> Any:
    """A POST list's body template with the target's values in its strings (None for a GET list)."""
    if lister.method != "POST":
        return None
    return _strings(
        json.loads(lister.body), lambda text: fill(text, project_id, params=params).replace("{value}", value)
    )


def page_body(body: Any, paging: Paging, position: int, marker: str) -> Any:
    """A copy of a POST list's body with one page's paging values placed in it."""
    body = copy.deepcopy(body)
    if paging.style == "none" or paging.where != "body":
        return body
    body = place(body, paging.limit_param, paging.limit)
    if paging.style != "marker":
        return place(body, paging.param, position)
    return place(body, paging.param, marker) if marker else body


def _show_query(query: Mapping[str, str], each: Mapping[str, tuple[str, ...]], paging: Paging | None) -> str:
    pairs = [f"{key}={text}" for key, text in query.items()]
    pairs += [f"{key}={'|'.join(values)} (one call sequence per value)" for key, values in each.items()]
    if paging is not None and paging.style != "none" and paging.where == "query":
        if paging.template:
            pairs.append(f"{paging.param}={paging.template}")
        else:
            pairs += [f"{paging.limit_param}={{limit}}", f"{paging.param}={{{paging.style}}}"]
    return ("?" + "&".join(pairs)) if pairs else ""


def _window_marks(window: Window | None) -> tuple[dict[str, str], Any]:
    """The window's query parameters, or (for a body window) a body placer, shown as {from} and {to}."""
    if window is None:
        return {}, None
    names = {window.from_param: "{from}", **({window.to_param: "{to}"} if window.to_param else {})}
    return (names, None) if window.where == "query" else ({}, names)


def describe_calls(spec: ServiceSpec) -> list[str]:
    """What the exporter sends for a spec: method, path, query, headers and body, with the values it fills
    in per call as {placeholders}."""
    status = spec.status
    lines = [f"status call: GET {status.path}{_show_query(status.query, {}, None)}"]
    lines += [f"  header {name}: {text}" for name, text in status.headers.items()]
    lister = spec.discover
    if lister is None:
        return lines
    window_query, window_body = _window_marks(lister.window)
    query = _show_query({**lister.query, **window_query}, lister.query_each, lister.paging)
    lines.append(f"list call: {lister.method} {lister.path}{query}")
    lines += [f"  header {name}: {text}" for name, text in lister.headers.items()]
    if lister.method == "POST":
        body = json.loads(lister.body)
        for pointer, mark in (window_body or {}).items():
            body = place(body, pointer, mark)
        if lister.paging.style != "none" and lister.paging.where == "body":
            body = place(
                place(body, lister.paging.limit_param, "{limit}"), lister.paging.param, f"{{{lister.paging.style}}}"
            )
        lines.append(f"  body: {json.dumps(body, ensure_ascii=False)}")
    paging = lister.paging
    if paging.style != "none":
        total = (
            f"header {paging.total_header}" if paging.total_header else (paging.total.written if paging.total else "")
        )
        marker = f", next marker from the last item's {paging.item_marker.written}" if paging.item_marker else ""
        lines.append(
            f"  paging: {paging.style}, {paging.limit} per page" + (f", total at {total}" if total else "") + marker
        )
    return lines
