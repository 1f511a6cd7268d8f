"""The configuration: YAML -> a frozen, typed `Config`, or a `ConfigError` with file, key path and line.

Pure parsing and validation, nothing here opens a socket. `custom_services:` entries are read with
the same spec reader as the built-in services.
"""

from __future__ import annotations

from exporter.config.document import (
    Account,
    AuthConfig,
    CloudTrace,
    Config,
    DiscoverConfig,
    HistorySettings,
    MetricsSettings,
    RegionDoubt,
    RegionTargets,
    ScrapeSettings,
    TargetConfig,
    TlsConfig,
    TrackingSettings,
    load_config,
    parse_config,
)
from exporter.config.redact import redacted
from exporter.config.secrets import Secret, SecretError
from exporter.schema import ConfigError

__all__ = [
    "Account",
    "AuthConfig",
    "CloudTrace",
    "Config",
    "ConfigError",
    "DiscoverConfig",
    "HistorySettings",
    "MetricsSettings",
    "RegionDoubt",
    "RegionTargets",
    "ScrapeSettings",
    "Secret",
    "SecretError",
    "TargetConfig",
    "TlsConfig",
    "TrackingSettings",
    "load_config",
    "parse_config",
    "redacted",
]
