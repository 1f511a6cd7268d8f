"""The fake cloud's IAM project lists: `GET /v3/projects` (AK/SK-signed or a token, as the SDK core asks
when a credential has no project ID) and `GET /v3/auth/projects` (the token's own projects), and a
domain-scoped password login for the latter.

The projects are the scenario's `projects:` (ID -> name; a name `<region>_<x>` is a sub-project of the
region's project), all enabled, plus its `iam_projects.extra` (any names, repeated or disabled ones, `MOS`).
`iam_projects.refuse: true` answers both lists with IAM's 403, as for a user without the permission.

Scenario key (read by scenario.py)::

    iam_projects:
      refuse: false
      extra:
        - {id: 0123456789abcdef0123456789abcd01, name: cn-north-4, enabled: true}
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from exporter.simulator import bodies

if TYPE_CHECKING:
    from exporter.simulator.app import Simulator

__all__ = ["IamProjects", "domain_login", "project_list", "read_iam_projects", "register"]

FORBIDDEN = "You are not authorized to perform the requested action: identity:list_projects."


@dataclass(frozen=True)
class IamProjects:
    refuse: bool = False
    extra: tuple[tuple[str, str, bool], ...] = ()  # (id, name, enabled)


def read_iam_projects(raw: object) -> IamProjects:
    """The scenario's `iam_projects`; ValueError names the key."""
    if raw is None:
        return IamProjects()
    if not isinstance(raw, dict) or set(raw) - {"refuse", "extra"}:
        raise ValueError("expected a mapping with 'refuse' and 'extra'")
    refuse = raw.get("refuse", False)
    if not isinstance(refuse, bool):
        raise ValueError(f"refuse: expected true or false, got {refuse!r}")
    extra = []
    for index, item in enumerate(raw.get("extra") or []):
        if not isinstance(item, dict) or not {"id", "name"} <= set(item) <= {"id", "name", "enabled"}:
            raise ValueError(f"extra[{index}]: expected {{id, name, enabled}}")
        extra.append((str(item["id"]), str(item["name"]), item.get("enabled", True) is not False))
    return IamProjects(refuse, tuple(extra))


def _domain_id(sim: Simulator) -> str:
    return uuid.uuid5(uuid.NAMESPACE_OID, f"domain:{sim.scenario.iam_domain}").hex


def project_list(sim: Simulator) -> list[dict[str, Any]]:
    """IAM's `projects` array for the scenario."""
    scenario = sim.scenario
    domain = _domain_id(sim)
    by_name = {name: pid for pid, name in scenario.projects.items()}
    listed = [(pid, name, True) for pid, name in scenario.projects.items()]
    listed += list(scenario.iam_projects.extra)
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


def register(sim: Simulator, app: web.Application) -> None:
    """The routes, on the simulator's application."""

    async def projects(request: web.Request) -> web.StreamResponse:
        auth = await sim._authenticate(request)
        if not auth.ok:
            request_id = bodies.new_request_id()
            return web.json_response(bodies.apigw_error(auth.error_code, auth.error_msg, request_id), status=401)
        if sim.scenario.iam_projects.refuse:
            return web.json_response(bodies.iam_error(403, FORBIDDEN, "Forbidden"), status=403)
        self_link = f"https://iam.myhuaweicloud.com{request.path}"
        listed = project_list(sim)
        if "name" in request.query:  # the SDK core asks per region: GET /v3/projects?name=<region>
            listed = [p for p in listed if p["name"] == request.query["name"]]
        return web.json_response({"links": {"self": self_link}, "projects": listed})

    app.router.add_get("/v3/projects", projects)
    app.router.add_get("/v3/auth/projects", projects)


def domain_login(sim: Simulator, text: str) -> web.Response | None:
    """A password login scoped to the domain (`scope: {domain: {name}}`), or None for any other body."""
    try:
        auth = json.loads(text)["auth"]
        user = auth["identity"]["password"]["user"]
        scope = auth["scope"]["domain"]["name"]
        given = (str(user["domain"]["name"]), str(user["name"]), str(user["password"]))
    except (ValueError, KeyError, TypeError):
        return None
    sc = sim.scenario
    expected = (sc.iam_domain, sc.iam_user, sc.iam_password)
    if scope != sc.iam_domain or not secrets.compare_digest("\0".join(given).encode(), "\0".join(expected).encode()):
        wrong = bodies.iam_error(401, "The username or password is wrong.", "Unauthorized")
        return web.json_response(wrong, status=401)
    token = sim.issue_token()
    body = {
        "token": {
            "expires_at": bodies.iso_utc_micro(sim.now() + sim.token_ttl),
            "issued_at": bodies.iso_utc_micro(sim.now()),
            "methods": ["password"],
            "domain": {"id": _domain_id(sim), "name": sc.iam_domain},
        }
    }
    return web.json_response(body, status=201, headers={"X-Subject-Token": token})
