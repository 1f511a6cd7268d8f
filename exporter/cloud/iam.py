"""An account's IAM projects, to find the project of each region (`regions:` targets), and the IAM hosts.

How it is asked (next-services.md section A):

* AK/SK: `GET /v3/projects`, signed without `X-Project-Id`, as the SDK core's `BasicCredentials` does when
  it has no project ID (`huaweicloudsdkcore/auth/credentials.py` `process_auth_params`). The SDK asks once
  per region with `?name=<region>`; the exporter asks once per account without a filter (one request,
  whatever the number of regions, and the only form that can answer `regions: all`), and applies the
  SDK's rule to each name: none is "no project", more than one is an error ("select one").
* token: `GET /v3/auth/projects` with the token (the projects the token's user may use; no policy needed).
* password: a domain-scoped login (`POST /v3/auth/tokens`), then `GET /v3/auth/projects` with that token.

The IAM host is data: `IAM_HOSTS` is the SDK core's table (`huaweicloudsdkcore/auth/endpoint.py`) plus the
regions where it differs (`eu-west-101`, whose IAM is on `myhuaweicloud.eu`, from the IAM module's
`iam_region.py`); other regions use the cloud's global host, as the SDK does. An account's `iam_endpoint`
overrides it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass

import httpx

from exporter.cloud.errors import classify
from exporter.cloud.signing import AkSkAuth
from exporter.config import Account

__all__ = [
    "GLOBAL_IAM",
    "IAM_HOSTS",
    "IamError",
    "Project",
    "RegionProjects",
    "find_domain_id",
    "iam_base",
    "list_projects",
    "region_projects",
]

# huaweicloudsdkcore 3.1.219 auth/endpoint.py: the regions whose IAM has a host of its own.
_SDK_IAM_REGIONS = (
    "cn-north-2", "cn-north-4", "cn-north-1", "cn-east-2", "cn-east-3", "cn-south-1", "cn-south-2",
    "cn-southwest-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "af-south-1", "sa-brazil-1",
    "la-south-2", "na-mexico-1", "la-north-2", "cn-north-9", "eu-west-0", "my-kualalumpur-1", "ru-moscow-1",
    "me-east-1", "ap-southeast-4", "ae-ad-1", "cn-east-4", "cn-east-5", "tr-west-1", "cn-north-12",
)  # fmt: skip

IAM_HOSTS: Mapping[str, Mapping[str, str]] = {
    "huaweicloud": {
        **{region: f"https://iam.{region}.myhuaweicloud.com" for region in _SDK_IAM_REGIONS},
        # Not in the core table: the European site (huaweicloudsdkiam/v3/region/iam_region.py).
        "eu-west-101": "https://iam.eu-west-101.myhuaweicloud.eu",
    },
    # The OTC endpoint list (regions-and-endpoints): IAM in each region.
    "otc": {
        "eu-de": "https://iam.eu-de.otc.t-systems.com",
        "eu-nl": "https://iam.eu-nl.otc.t-systems.com",
    },
}
# Where a region has no IAM host of its own (the SDK's IamHelper.DEFAULT_ENDPOINT for Huawei Cloud).
GLOBAL_IAM: Mapping[str, str] = {
    "huaweicloud": "https://iam.myhuaweicloud.com",
    "otc": "https://iam.eu-de.otc.t-systems.com",
}

# A region project's name is a region ID: lower case, words joined by '-' (cn-north-4, eu-de). Sub-projects
# are `<region>_<name>`; `MOS` is OTC's built-in project of OBS.
_REGION_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+")
_HEADERS = {"Accept": "application/json", "Content-Type": "application/json;charset=utf8"}

Send = Callable[[httpx.Request, httpx.Auth], Awaitable[httpx.Response]]


class _Header(httpx.Auth):
    """A fixed header (an IAM token), or none."""

    def __init__(self, name: str = "", value: Callable[[], str] = str) -> None:
        self._name, self._value = name, value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._name:
            request.headers[self._name] = self._value()
        yield request


def iam_base(account: Account, region: str | None = None) -> str | None:
    """The IAM base URL for `account` in `region` (None: the cloud's global host), or None when the cloud
    has none (`custom` without `iam_endpoint`)."""
    if account.iam_endpoint:
        return account.iam_endpoint
    hosts = IAM_HOSTS.get(account.cloud, {})
    if region is not None and region in hosts:
        return hosts[region]
    return GLOBAL_IAM.get(account.cloud)


class IamError(Exception):
    """IAM did not give the project list: `refused` when it answered 401/403 (the credentials, or the
    permission to list projects), `credentials` when the credentials themselves were refused (a 401, or
    the account held back after that), else unreachable or an unreadable answer. The message names no
    secret."""

    def __init__(self, message: str, *, refused: bool = False, credentials: bool = False) -> None:
        super().__init__(message)
        self.refused = refused
        self.credentials = credentials


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    enabled: bool = True
    parent_id: str = ""
    domain_id: str = ""


@dataclass(frozen=True)
class RegionProjects:
    """An account's region projects: the one project of each region, and the regions whose name more
    than one enabled project carries (the SDK's "Multiple project ids found ... select one")."""

    projects: Mapping[str, str]  # region -> project ID
    duplicates: Mapping[str, tuple[str, ...]]  # region -> the project IDs of that name

    @property
    def regions(self) -> frozenset[str]:
        return frozenset(self.projects) | frozenset(self.duplicates)


def region_projects(projects: tuple[Project, ...]) -> RegionProjects:
    """Keep the enabled projects named as a region (no sub-project, no `MOS`, none under another project)."""
    ids = {p.id for p in projects}
    found: dict[str, list[str]] = {}
    for project in projects:
        if not project.enabled or not _REGION_NAME.fullmatch(project.name) or project.parent_id in ids:
            continue
        found.setdefault(project.name, []).append(project.id)
    return RegionProjects(
        {name: found_ids[0] for name, found_ids in found.items() if len(found_ids) == 1},
        {name: tuple(found_ids) for name, found_ids in found.items() if len(found_ids) > 1},
    )


def _read_projects(response: httpx.Response, url: str) -> tuple[Project, ...]:
    try:
        listed = json.loads(response.content)["projects"]
        if not isinstance(listed, list):
            raise TypeError
        return tuple(
            Project(
                id=str(item["id"]),
                name=str(item["name"]),
                enabled=item.get("enabled", True) is not False,
                parent_id=str(item.get("parent_id") or ""),
                domain_id=str(item.get("domain_id") or ""),
            )
            for item in listed
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise IamError(f"GET {url}: not IAM's project list ({{projects: [{{id, name, enabled}}]}})") from None


def _check(response: httpx.Response, what: str) -> None:
    """IamError for an answer that is not a 2xx: a 401 refused the credentials; a 403 of `GET /v3/projects`
    is the permission to list projects (`/v3/auth/projects` and the login need none)."""
    status = response.status_code
    if status < 300:
        return
    error = classify(status, response.content)
    code = error.code if error.code != str(status) else ""  # "HTTP 401: 401: ..." says it twice
    said = ": ".join(part for part in (f"HTTP {status}", code, error.message) if part)
    if status == 401:
        raise IamError(f"IAM refused the credentials ({what}): {said}", refused=True, credentials=True)
    if status == 403:
        hint = ""
        if what.startswith("GET ") and what.endswith("/v3/projects"):
            hint = " (the IAM user needs permission to list projects, e.g. iam:projects:listProjects)"
        raise IamError(f"IAM refused {what}: {said}{hint}", refused=True)
    raise IamError(f"IAM failed {what}: {said}")


async def _login(account: Account, base: str, send: Send) -> str:
    """A domain-scoped token of the account's IAM user (password accounts)."""
    auth = account.auth
    assert auth.password is not None
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "domain": {"name": auth.domain_name},
                        "name": auth.user_name,
                        "password": auth.password.reveal(),
                    }
                },
            },
            "scope": {"domain": {"name": auth.domain_name}},
        }
    }
    request = httpx.Request(
        "POST", f"{base}/v3/auth/tokens?nocatalog=true", content=json.dumps(body).encode(), headers=_HEADERS
    )
    response = await send(request, _Header())
    _check(response, f"the login of user {auth.user_name!r}")
    token = str(response.headers.get("X-Subject-Token", ""))
    if not token:
        raise IamError("IAM answered the login without an X-Subject-Token header")
    return token


async def list_projects(account: Account, base: str, send: Send) -> tuple[Project, ...]:
    """The account's projects, as IAM lists them (see the module's docstring for which call)."""
    try:
        return await _list_projects(account, base, send)
    except httpx.HTTPError as exc:
        raise IamError(f"IAM at {base} did not answer: {type(exc).__name__}: {exc or 'no answer'}") from None


async def _list_projects(account: Account, base: str, send: Send) -> tuple[Project, ...]:
    auth = account.auth
    flow: httpx.Auth
    if auth.type == "aksk":
        assert auth.access_key is not None
        assert auth.secret_key is not None
        token = auth.security_token
        url = f"{base}/v3/projects"
        flow = AkSkAuth(
            auth.access_key.reveal,
            auth.secret_key.reveal,
            security_token=token.reveal if token is not None else None,
            project_id=None,  # the SDK's BasicCredentials without a project ID: no X-Project-Id
        )
    else:
        url = f"{base}/v3/auth/projects"
        if auth.type == "token":
            assert auth.token is not None
            flow = _Header("X-Auth-Token", auth.token.reveal)
        else:
            login = await _login(account, base, send)
            flow = _Header("X-Auth-Token", lambda: login)
    response = await send(httpx.Request("GET", url, headers={"Accept": "application/json"}), flow)
    _check(response, f"GET {url}")
    return _read_projects(response, url)


async def find_domain_id(account: Account, base: str, send: Send) -> str:
    """The account's domain ID, for signing the calls of global services (AK/SK accounts): `GET
    /v3/auth/domains` signed with neither a project nor a domain ID, as the SDK's GlobalCredentials asks
    when it has no domain ID (`huaweicloudsdkcore/auth/credentials.py` `process_auth_params`), and the
    first domain listed. (The SDK then tries STS when the list is empty; the exporter says to set
    `domain_id` instead.)"""
    auth = account.auth
    assert auth.access_key is not None
    assert auth.secret_key is not None
    token = auth.security_token
    url = f"{base}/v3/auth/domains"
    flow = AkSkAuth(auth.access_key.reveal, auth.secret_key.reveal, security_token=token.reveal if token else None)
    try:
        response = await send(httpx.Request("GET", url, headers={"Accept": "application/json"}), flow)
    except httpx.HTTPError as exc:
        raise IamError(f"IAM at {base} did not answer: {type(exc).__name__}: {exc or 'no answer'}") from None
    if response.status_code >= 300:
        error = classify(response.status_code, response.content)
        said = ": ".join(part for part in (f"HTTP {response.status_code}", error.code, error.message) if part)
        refused = response.status_code in (401, 403)
        raise IamError(
            f"IAM {'refused' if refused else 'failed'} GET {url}: {said} (or set the account's 'domain_id')",
            refused=refused,
        )
    try:
        domains = json.loads(response.content)["domains"]
        found = str(domains[0]["id"]) if domains else ""
    except (ValueError, KeyError, TypeError, IndexError):
        raise IamError(f"GET {url}: not IAM's domain list ({{domains: [{{id, name}}]}})") from None
    if not found:
        raise IamError(f"GET {url}: IAM lists no domain for these credentials; set the account's 'domain_id'")
    return found
