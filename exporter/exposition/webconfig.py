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

Every endpoint is behind basic auth when users are given (`BasicAuth`). bcrypt costs about 60 ms of
CPU a check, by design, so:

- checks run in one worker thread, never on the event loop (bcrypt lets go of the GIL), and at most
  `QUEUE` wait for it: beyond that a request is answered 429 at once;
- a check's outcome is remembered by a SHA-256 of (user, hash, password): a scrape with an accepted
  password pays for bcrypt once every `ACCEPTED_FOR` seconds, a wrong password repeated costs nothing;
- an unknown user is checked against a dummy hash of the same cost, so a refusal takes as long
  whether or not the user exists (as the exporter toolkit does);
- a password longer than bcrypt's 72 bytes is refused (401) after the same dummy check;
- each client (by address) has one check at a time, `WAITING` more may wait, and after `FREE_FAILURES`
  failures its next checks start later and later (`delay`, at most `MAX_DELAY` seconds): a client
  guessing passwords slows itself, not the scrapes of others. A success forgets its failures.

The hashes and passwords never reach logs or errors.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import heapq
import itertools
import os
import re
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import bcrypt
from aiohttp import web

from exporter.schema import ConfigError, Ctx, Section, load_document

__all__ = ["BasicAuth", "WebConfig", "load_web_config"]

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# $2a$, $2b$ or $2y$, a cost of 4 to 31, then 22 characters of salt and 31 of hash.
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
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
        if not _BCRYPT_HASH.fullmatch(hashed):
            # The message names the user, never the value.
            table.raw(str(name))[0].fail("expected a bcrypt hash ($2y$, a cost of 04 to 31, $, 53 characters)")
        users[str(name)] = hashed.encode()
    return users


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ACCEPTED_FOR = 300.0  # seconds an accepted password is taken without bcrypt
QUEUE = 64  # checks waiting for the worker, all clients together
WAITING = 2  # checks of one client waiting behind its own
FREE_FAILURES = 5  # failures of one client before its checks are delayed
MAX_DELAY = 5.0
FORGET_AFTER = 600.0  # seconds after its last failure a client is forgotten
_REMEMBERED = 1024  # outcomes and clients kept, the oldest forgotten first
_BCRYPT_MAX = 72  # bytes of a password bcrypt reads
_REALM = 'Basic realm="huaweicloud-task-exporter"'
V = TypeVar("V")


def delay(failures: int) -> float:
    """Seconds a client waits before its next check after `failures` failures in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY, 0.1 * 2.0 ** (failures - FREE_FAILURES))


@dataclass
class _Client:
    failures: int = 0
    not_before: float = 0.0  # monotonic time its next check may start
    checking: int = 0  # its requests being checked, or waiting to be
    last: float = 0.0
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)  # its checks one after another


class _Turns:
    """The bcrypt worker, one check at a time: clients with fewer failures first, then by arrival, so a
    client guessing passwords never queues ahead of one that has not failed."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def take(self, failures: int) -> None:
        if not self._busy:
            self._busy = True
            return
        turn = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (failures, next(self._order), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give()  # the turn came as the request went: pass it on
            else:
                self._waiting = [w for w in self._waiting if w[2] is not turn]
                heapq.heapify(self._waiting)
            raise

    def give(self) -> None:
        while self._waiting:
            turn = heapq.heappop(self._waiting)[2]
            if not turn.done():
                turn.set_result(None)
                return
        self._busy = False


class BasicAuth:
    """The middleware of `basic_auth_users`, as the module docstring says."""

    def __init__(self, users: Mapping[str, bytes], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._users = {user: hashed.replace(b"$2y$", b"$2b$", 1) for user, hashed in users.items()}
        # An unknown user's password is checked against this, at the cost of the dearest configured hash.
        cost = max(int(hashed[4:6]) for hashed in self._users.values())
        self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=cost))
        self._clock = clock
        self._accepted: OrderedDict[bytes, float] = OrderedDict()  # digest -> when accepted
        self._refused: OrderedDict[bytes, None] = OrderedDict()
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bcrypt")
        self._turns = _Turns()
        self.checks = 0  # bcrypt checks run

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        verdict = await self.check(request.headers.get("Authorization", ""), request.remote or "")
        if verdict is True:
            return await handler(request)
        if verdict is False:
            return web.Response(status=401, text="Unauthorized\n", headers={"WWW-Authenticate": _REALM})
        return web.Response(
            status=429, text="Too many password checks waiting; try again later\n",
            headers={"Retry-After": str(max(1, round(verdict)))},
        )  # fmt: skip

    async def check(self, header: str, client: str) -> bool | float:
        """True (let in), False (401), or the seconds to wait before asking again (429)."""
        credentials = _credentials(header)
        if credentials is None:
            return False  # no or malformed credentials: nothing to check
        user, password = credentials
        hashed = self._users.get(user)
        digest = hashlib.sha256(b"\0".join((user.encode(), hashed or b"", password.encode()))).digest()
        now = self._clock()
        accepted = self._accepted.get(digest)
        if accepted is not None and now - accepted < ACCEPTED_FOR:
            return True
        if digest in self._refused:
            return False
        who = self._client(client, now)
        if who.checking > WAITING:
            return max(who.not_before - now, 1.0)
        who.checking += 1
        try:
            async with who.turn:
                wait = who.not_before - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self._turns.waiting >= QUEUE:
                    return 1.0
                ok = await self._bcrypt(password.encode(), hashed, who.failures)
        finally:
            who.checking -= 1
        now = who.last = self._clock()
        if ok:
            _remember(self._accepted, digest, now)
            who.failures, who.not_before = 0, 0.0
            return True
        _remember(self._refused, digest, None)
        who.failures += 1
        who.not_before = now + delay(who.failures)
        return False

    async def _bcrypt(self, password: bytes, hashed: bytes | None, failures: int) -> bool:
        await self._turns.take(failures)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._worker, self._compare, password, hashed)
        finally:
            self._turns.give()

    def _compare(self, password: bytes, hashed: bytes | None) -> bool:
        self.checks += 1
        if hashed is None or len(password) > _BCRYPT_MAX:
            bcrypt.checkpw(b"", self._dummy)  # as long as a real check
            return False
        return bcrypt.checkpw(password, hashed)

    def _client(self, address: str, now: float) -> _Client:
        who = self._clients.pop(address, None)
        if who is None or (not who.checking and now - who.last > FORGET_AFTER):
            who = _Client(last=now)
        self._clients[address] = who  # the newest last
        while len(self._clients) > _REMEMBERED:
            oldest, first = next(iter(self._clients.items()))
            if first.checking:
                break  # the rest are bounded by the open connections
            del self._clients[oldest]
        return who

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)


def _remember(table: OrderedDict[bytes, V], key: bytes, value: V) -> None:
    table.pop(key, None)
    table[key] = value
    if len(table) > _REMEMBERED:
        table.popitem(last=False)


def _credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
