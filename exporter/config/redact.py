"""The running configuration as a YAML-able mapping with every secret replaced: what `/config` and
`/probe?debug=true` show. A secret given inline shows as `<secret>`, one read from a file as the file's
path (`<secret from /run/secrets/sk>`), a proxy's user info as `http://<secret>@proxy:3128`; a value is
never read here."""

from __future__ import annotations

import dataclasses
from typing import Any

from exporter.config.document import Account, Config, TargetConfig
from exporter.config.secrets import Secret
from exporter.schema import hide_user_info
from exporter.services import BUILTIN

__all__ = ["redacted", "redacted_target"]


def _secret(value: Secret | None) -> str | None:
    if value is None:
        return None
    return f"<secret from {value.path}>" if value.path is not None else "<secret>"


def _account(account: Account) -> dict[str, Any]:
    auth = account.auth
    shown: dict[str, Any] = {"type": auth.type}
    for name in ("token", "password", "access_key", "secret_key", "security_token"):
        value = _secret(getattr(auth, name))
        if value is not None:
            shown[name] = value
    shown |= {k: getattr(auth, k) for k in ("user_name", "domain_name") if getattr(auth, k)}
    out: dict[str, Any] = {"name": account.name, "cloud": account.cloud, "auth": shown}
    if account.iam_endpoint:
        out["iam_endpoint"] = account.iam_endpoint
    out["auth_cooldown"] = account.auth_cooldown
    out["tls"] = dataclasses.asdict(account.tls)
    if account.proxy:
        out["proxy"] = hide_user_info(account.proxy)
    if account.cloud_trace is not None:
        out["discover"] = {"cloud_trace": dataclasses.asdict(account.cloud_trace)}
    return out


def redacted_target(target: TargetConfig) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "cloud_service": target.cloud_service,
        "account": target.account,
        "region": target.region,
        "project_id": target.project_id,
        "endpoint": target.endpoint,
        "time_zone": str(target.time_zone),
        "tasks": list(target.tasks),
    }
    if target.discover:
        shown["discover"] = list(target.discover.values) or True
    if target.params:
        shown["params"] = dict(target.params)
    shown["spec"] = target.spec.source or target.spec.name
    return shown


def redacted(config: Config, target: TargetConfig | None = None) -> dict[str, Any]:
    """The whole configuration, or one target and its account."""
    if target is not None:
        return {"account": _account(config.accounts[target.account]), "target": redacted_target(target)}
    return {
        "file": config.file,
        "accounts": [_account(a) for a in config.accounts.values()],
        "services": [redacted_target(t) for t in config.targets],
        "custom_services": sorted(set(config.services) - set(BUILTIN)),
        "scrape": dataclasses.asdict(config.scrape),
        "tracking": dataclasses.asdict(config.tracking),
        "task_files": list(config.task_files),
        "metrics": {"finished_states": config.metrics.finished_states, "exclude": sorted(config.metrics.exclude)},
        "intake": _intake(config),
    }


def _intake(config: Config) -> dict[str, Any]:
    intake = config.intake
    shown: dict[str, Any] = {"max_body_size": intake.max_body_size, "rate_limit": intake.rate_limit}
    if intake.smn is not None:
        shown["smn"] = dataclasses.asdict(intake.smn)
    if intake.cloudevents is not None:
        events = intake.cloudevents
        shown["cloudevents"] = {
            "account": events.account,
            "token_header": events.token_header,
            "token": _secret(events.token),
        }
    return shown
