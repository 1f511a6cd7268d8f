"""The fake cloud's IAM project lists: `GET /v3/projects` (AK/SK-signed or a token, as the SDK core asks
when a credential has no project ID) and `GET /v3/auth/projects` (the token's own projects), a
domain-scoped password login for the latter, and the domain list `GET /v3/auth/domains` (as the SDK's
GlobalCredentials asks for the domain ID that signs a global service's calls).

The projects are the scenario's `projects:` (ID -> name; a name `<region>_<x>` is a sub-project of the
region's project), all enabled, plus its `iam_projects.extra` (any names, repeated or disabled ones, `MOS`).
The domain is the scenario's IAM domain, with the ID `domain_id(scenario)`. `iam_projects.refuse: true`
answers every list with IAM's 403, as for a user without the permission.

Scenario key (`iam_projects.SECTION`, read through sections.SECTIONS)::

    iam_projects:
      refuse: false
      extra:
        - {id: 0123456789abcdef0123456789abcd01, name: cn-north-4, enabled: true}
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from aiohttp import web

from exporter.simulator import bodies
from exporter.simulator.iam_projects import IamProjects
from exporter.simulator.parts import Parts
from exporter.simulator.routing import Handler, Route, json_response
from exporter.simulator.scenario import Scenario

__all__ = ["domain_id", "domain_login", "project_list", "routes"]

FORBIDDEN = "You are not authorized to perform the requested action: identity:list_projects."
FORBIDDEN_DOMAINS = "You are not authorized to perform the requested action: identity:list_domains."


def _settings(parts: Parts) -> IamProjects:
    found = parts.scenario.sections.get("iam_projects")
    return found if isinstance(found, IamProjects) else IamProjects()


def domain_id(scenario: Scenario) -> str:
    """The ID of the scenario's IAM domain (the account), as the token API's answers give it too."""
    return uuid.uuid5(uuid.NAMESPACE_OID, f"domain:{scenario.iam_domain}").hex


def _domain_id(parts: Parts) -> str:
    return domain_id(parts.scenario)


def project_list(parts: Parts) -> list[dict[str, Any]]:
    """IAM's `projects` array for the scenario."""
    scenario = parts.scenario
    domain = _domain_id(parts)
    by_name = {name: pid for pid, name in scenario.projects.items()}
    listed = [(pid, name, True) for pid, name in scenario.projects.items()]
    listed += list(_settings(parts).extra)
    return [
        {
            "id": pid,
            "name": name,
            "domain_id": domain,
            "parent_id": by_name.get(name.partition("_")[0], domain) if "_" in name else domain,
            "enabled": enabled,
            "is_domain": False,
            "description": "",
            "links": {"self": f"https://iam.myhuaweicloud.com/v3/projects/{pid}"},
        }
        for pid, name, enabled in listed
    ]


def routes(parts: Parts) -> list[Route]:
    handler = _projects_handler(parts)
    return [
        Route("GET", "/v3/projects", handler),
        Route("GET", "/v3/auth/projects", handler),
        Route("GET", "/v3/auth/domains", _domains_handler(parts)),
    ]


def _domains_handler(parts: Parts) -> Handler:
    """IAM's "domains the credentials may access": the scenario's one domain."""

    async def domains(request: web.Request) -> web.StreamResponse:
        auth = await parts.gateway.auth.authenticate(request)
        if not auth.ok:
            return json_response(401, bodies.apigw_error(auth.error_code, auth.error_msg, bodies.new_request_id()))
        if _settings(parts).refuse:
            return json_response(403, bodies.iam_error(403, FORBIDDEN_DOMAINS, "Forbidden"))
        domain = _domain_id(parts)
        listed = {
            "id": domain,
            "name": parts.scenario.iam_domain,
            "enabled": True,
            "description": "",
            "links": {"self": f"https://iam.myhuaweicloud.com/v3/domains/{domain}"},
        }
        return json_response(
            200, {"links": {"self": "https://iam.myhuaweicloud.com/v3/auth/domains"}, "domains": [listed]}
        )

    return domains


def _projects_handler(parts: Parts) -> Handler:
    async def projects(request: web.Request) -> web.StreamResponse:
        auth = await parts.gateway.auth.authenticate(request)
        if not auth.ok:
            return json_response(401, bodies.apigw_error(auth.error_code, auth.error_msg, bodies.new_request_id()))
        if _settings(parts).refuse:
            return json_response(403, bodies.iam_error(403, FORBIDDEN, "Forbidden"))
        listed = project_list(parts)
        if "name" in request.query:  # the SDK core asks per region: GET /v3/projects?name=<region>
            listed = [p for p in listed if p["name"] == request.query["name"]]
        return json_response(
            200, {"links": {"self": f"https://iam.myhuaweicloud.com{request.path}"}, "projects": listed}
        )

    return projects


def domain_login(parts: Parts, text: str) -> web.Response | None:
    """A password login scoped to the domain (`scope: {domain: {name}}`), or None for any other body."""
    try:
        auth = json.loads(text)["auth"]
        user = auth["identity"]["password"]["user"]
        scope = auth["scope"]["domain"]["name"]
        given = (str(user["domain"]["name"]), str(user["name"]), str(user["password"]))
    except (ValueError, KeyError, TypeError):
        return None
    sc = parts.scenario
    expected = (sc.iam_domain, sc.iam_user, sc.iam_password)
    if scope != sc.iam_domain or not secrets.compare_digest("\0".join(given).encode(), "\0".join(expected).encode()):
        return json_response(401, bodies.iam_error(401, "The username or password is wrong.", "Unauthorized"))
    token = parts.gateway.auth.issue_token()
    now = parts.clock.now()
    body = {
        "token": {
            "expires_at": bodies.iso_utc_micro(now + parts.gateway.auth.token_ttl),
            "issued_at": bodies.iso_utc_micro(now),
            "methods": ["password"],
            "domain": {"id": _domain_id(parts), "name": sc.iam_domain},
        }
    }
    return web.json_response(body, status=201, headers={"X-Subject-Token": token})
