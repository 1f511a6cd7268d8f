"""IAM's token API, ``POST /v3/auth/tokens``, for the scenario's one IAM user (password login, scoped
to one of the scenario's projects by ID or name): 201 with ``X-Subject-Token``; a malformed body is
400, a wrong login or an unknown project 401, in IAM's error shape. It passes no gateway."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import structlog
from aiohttp import web

from exporter.simulator import bodies, iam
from exporter.simulator.parts import Parts
from exporter.simulator.routing import Handler, Route, json_response

__all__ = ["routes"]

log = structlog.get_logger()


def routes(parts: Parts) -> list[Route]:
    return [Route("POST", "/v3/auth/tokens", _handler(parts))]


def _handler(parts: Parts) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        text = await request.text()
        if (domain_scoped := iam.domain_login(parts, text)) is not None:
            return domain_scoped
        try:
            login = _password_login(json.loads(text))
        except ValueError:
            login = None
        if login is None:
            return json_response(400, bodies.iam_error(400, "The request body is invalid", "Bad Request"))
        domain, user, password, scope_key, scope_value = login
        sc = parts.scenario
        given = "\0".join((domain, user, password)).encode()
        if not secrets.compare_digest(given, "\0".join((sc.iam_domain, sc.iam_user, sc.iam_password)).encode()):
            log.info("simulator.login_rejected", domain=domain, user=user)
            return json_response(401, bodies.iam_error(401, "The username or password is wrong.", "Unauthorized"))
        by_name = {name: pid for pid, name in sc.projects.items()}
        project_id = scope_value if scope_key == "id" else by_name.get(scope_value, "")
        if project_id not in sc.projects:
            # Not documented; the exporter only needs to see an authentication failure.
            return json_response(401, bodies.iam_error(401, "The project in the scope does not exist.", "Unauthorized"))
        token = parts.gateway.auth.issue_token()
        body = _token_body(parts, domain, user, project_id)
        if request.query.get("nocatalog") != "true":
            body["catalog"] = []
        return web.json_response({"token": body}, status=201, headers={"X-Subject-Token": token})

    return handle


def _token_body(parts: Parts, domain: str, user: str, project_id: str) -> dict[str, Any]:
    now = parts.clock.now()
    domain_ref = {"id": _stable_id(f"domain:{domain}"), "name": domain}
    return {
        "expires_at": bodies.iso_utc_micro(now + parts.gateway.auth.token_ttl),
        "issued_at": bodies.iso_utc_micro(now),
        "methods": ["password"],
        "project": {"domain": domain_ref, "id": project_id, "name": parts.scenario.projects[project_id]},
        "user": {
            "domain": domain_ref,
            "id": _stable_id(f"user:{domain}:{user}"),
            "name": user,
            "password_expires_at": "",
        },
        "roles": [],
    }


def _stable_id(seed: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_OID, seed).hex


def _password_login(body: object) -> tuple[str, str, str, str, str] | None:
    """(domain, user, password, "id"|"name", project) from IAM's password body, or None if malformed."""
    try:
        auth = body["auth"]  # type: ignore[index]
        identity = auth["identity"]
        user = identity["password"]["user"]
        project = auth["scope"]["project"]
        methods = identity["methods"]
        values = (user["domain"]["name"], user["name"], user["password"])
        scope_key = "id" if "id" in project else "name"
        scope_value = project[scope_key]
    except (KeyError, TypeError):
        return None
    if not isinstance(methods, list) or "password" not in methods:
        return None
    if not all(isinstance(v, str) and v for v in (*values, scope_value)):
        return None
    return (*values, scope_key, scope_value)
