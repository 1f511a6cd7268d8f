"""`--web.config.file`: TLS and basic auth for the exporter's own listener, in the format of the
Prometheus exporter toolkit (exporter-toolkit's docs/web-configuration.md), so that one file serves
this exporter and the Go ones beside it:

    tls_server_config:
      cert_file: server.crt          # PEM; relative paths are relative to the web config file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # NoClientCert (default), RequestClientCert,
                                                     # RequireAnyClientCert, VerifyClientCertIfGiven
      client_ca_file: clients-ca.crt
      min_version: TLS12             # TLS10 .. TLS13 (default TLS12)
      max_version: TLS13
    basic_auth_users:                # user: bcrypt hash of the password (htpasswd -nBC 10 "" | tr -d ':\\n')
      prometheus: $2y$10$...

Every endpoint is behind basic auth when users are given. A password that matched is remembered (as
its SHA-256) so that a scrape does not pay for bcrypt each time; a wrong one costs bcrypt every try.
The hashes and passwords never reach logs or errors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import bcrypt
from aiohttp import web
from aiohttp.typedefs import Middleware

from exporter.schema import ConfigError, Ctx, Section, load_document

__all__ = ["WebConfig", "basic_auth_middleware", "load_web_config"]

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)  # user -> bcrypt hash


def load_web_config(path: str) -> WebConfig:
    """The web config file, or a ConfigError naming the file, key and line (never a hash)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read the web config file: {exc.strerror}", file=path) from None
    document = load_document(text, file=path) or {}
    top = Section(Ctx(path, "", None, {}), document, "the web config (tls_server_config, basic_auth_users)")
    top.allow("tls_server_config", "basic_auth_users", "http_server_config")
    base = os.path.dirname(os.path.abspath(path))
    return WebConfig(_tls(top, base), _users(top))


def _file(section: Section, key: str, base: str, *, required: bool) -> str:
    name = section.string(key, required=required, expect="a PEM file")
    if not name:
        return ""
    full = name if os.path.isabs(name) else os.path.join(base, name)
    if not os.path.isfile(full):
        section.raw(key)[0].fail(f"no such file: {full}")
    return full


def _tls(top: Section, base: str) -> ssl.SSLContext | None:
    ctx, value = top.raw("tls_server_config")
    if value is None:
        return None
    tls = Section(ctx, value, "TLS settings")
    tls.allow("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version",
              "cipher_suites", "curve_preferences", "prefer_server_cipher_suites")  # fmt: skip
    cert, key = _file(tls, "cert_file", base, required=True), _file(tls, "key_file", base, required=True)
    auth = tls.string("client_auth_type", default="NoClientCert", choices=sorted(_CLIENT_AUTH))
    client_ca = _file(tls, "client_ca_file", base, required=auth in ("VerifyClientCertIfGiven",
                                                                      "RequireAndVerifyClientCert"))  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[tls.string("min_version", default="TLS12", choices=sorted(_VERSIONS))]
    if tls.has("max_version"):
        context.maximum_version = _VERSIONS[tls.string("max_version", choices=sorted(_VERSIONS))]
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        tls.raw("cert_file")[0].fail(f"the certificate and key do not load: {exc.__class__.__name__}")
    context.verify_mode = _CLIENT_AUTH[auth]
    if client_ca:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (ssl.SSLError, OSError) as exc:
            tls.raw("client_ca_file")[0].fail(f"holds no PEM CA certificate: {exc.__class__.__name__}")
    return context


def _users(top: Section) -> dict[str, bytes]:
    ctx, value = top.raw("basic_auth_users")
    if value is None:
        return {}
    table = Section(ctx, value, "user -> bcrypt hash")
    users = {}
    for name in table.data:
        hashed = table.string(str(name), required=True, expect="a bcrypt hash such as $2y$10$...")
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")) or len(hashed) != 60:
            # The message names the user, never the value.
            table.raw(str(name))[0].fail("expected a bcrypt hash ($2y$..., 60 characters)")
        users[str(name)] = hashed.encode()
    return users


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def basic_auth_middleware(users: Mapping[str, bytes]) -> Middleware:
    accepted: set[bytes] = set()  # sha256(user:password) of passwords bcrypt accepted

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _authorized(request.headers.get("Authorization", ""), users, accepted):
            return await handler(request)
        return web.Response(
            status=401, text="Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="huaweicloud-task-exporter"'}
        )

    return check


def _authorized(header: str, users: Mapping[str, bytes], accepted: set[bytes]) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    hashed = users.get(user)
    if not sep or hashed is None:
        return False
    digest = hashlib.sha256(f"{user}:{password}".encode()).digest()
    if any(hmac.compare_digest(digest, known) for known in accepted):
        return True
    if bcrypt.checkpw(password.encode(), hashed.replace(b"$2y$", b"$2b$", 1)):
        accepted.add(digest)
        return True
    return False
