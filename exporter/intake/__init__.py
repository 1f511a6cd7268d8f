"""Pushed task notices: the messages a cloud sends to the exporter (today SMN HTTP(S) subscriptions), checked
before anything reaches tracking. This package is pure checking and fetching of what a check needs (SMN's
signing certificates); the HTTP endpoint, the configuration and the tracking of what is accepted live in
exposition, config and tracking."""

from __future__ import annotations

from exporter.intake.smn import (
    CertificateFileError,
    CertificateStore,
    Received,
    Result,
    SmnPolicy,
    SmnReceiver,
    check_policy,
    string_to_sign,
)

__all__ = [
    "CertificateFileError",
    "CertificateStore",
    "Received",
    "Result",
    "SmnPolicy",
    "SmnReceiver",
    "check_policy",
    "string_to_sign",
]
