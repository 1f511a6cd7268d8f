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
import structlog
from aiohttp import web

from exporter.log import repeated
from exporter.schema import ConfigError, Ctx, Section, load_document

__all__ = ["BasicAuth", "WebConfig", "load_web_config"]

log = structlog.get_logger(__name__)

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# $2a$, $2b$ or $2y$, a cost of 4 to 31, then 22 characters of salt and 31 of hash; the salt's last
# character holds 2 bits, so only four are valid (bcrypt refuses the others at every check).
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{21}([./A-Za-z0-9])[./A-Za-z0-9]{31}")
MAX_COST = 16  # each step doubles a check's time: cost 10 about 60 ms, 16 about 4 s
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
        # The messages name the user, never the value.
        shape = _BCRYPT_HASH.fullmatch(hashed)
        if shape is None:
            table.raw(str(name))[0].fail("expected a bcrypt hash ($2y$, a cost of 04 to 31, $, 53 characters)")
        elif shape.group(2) not in ".Oeu":
            table.raw(str(name))[0].fail("not a bcrypt hash: its salt's last character is not one bcrypt writes")
        elif int(shape.group(1)) > MAX_COST:
            table.raw(str(name))[0].fail(
                f"a bcrypt cost of {shape.group(1)} makes every check take seconds or more; at most {MAX_COST} "
                "(htpasswd -nBC 10)"
            )
        users[str(name)] = hashed.encode()
    return users


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ACCEPTED_FOR = 300.0  # seconds after its last use an accepted password is taken without bcrypt
QUEUE = 64  # checks waiting for the worker, all clients together
TURN_WAIT = 10.0  # seconds a check waits for the worker at most (then 429)
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
    return min(MAX_DELAY, 0.1 * 2.0 ** min(failures - FREE_FAILURES, 16))  # no overflow at 1,029


@dataclass
class _Client:
    failures: int = 0
    not_before: float = 0.0  # monotonic time its next check may start
    checking: int = 0  # its requests being checked, or waiting to be
    last: float = 0.0
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)  # its checks one after another


class Busy(Exception):
    """No turn at the bcrypt worker: the queue is full of clients that rank as high, or the wait was
    over TURN_WAIT (the request gets a 429)."""


class _Turns:
    """The bcrypt worker, one check at a time, at most QUEUE waiting: clients that have not failed first,
    then in order of arrival, so a client guessing passwords never queues ahead of one that has not
    failed; when the queue is full, a client that has not failed takes the place of the last one that
    has."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []  # (failed, arrival, turn)
        self._order = itertools.count()

    async def take(self, failures: int) -> None:
        if not self._busy:
            self._busy = True
            return
        rank = min(failures, 1)
        if len(self._waiting) >= QUEUE:
            last = max(self._waiting)
            if last[0] <= rank:
                raise Busy
            self._drop(last[2])
            last[2].set_exception(Busy())
        turn = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (rank, next(self._order), turn))
        try:
            await asyncio.wait_for(asyncio.shield(turn), TURN_WAIT)  # Busy when it lost its place
        except TimeoutError:
            self._leave(turn)
            raise Busy from None
        except asyncio.CancelledError:
            self._leave(turn)
            raise

    def _leave(self, turn: asyncio.Future[None]) -> None:
        if turn.done() and not turn.cancelled() and turn.exception() is None:
            self.give()  # the turn came as the request went: pass it on
        else:
            turn.cancel()
            self._drop(turn)

    def _drop(self, turn: asyncio.Future[None]) -> None:
        self._waiting = [w for w in self._waiting if w[2] is not turn]
        heapq.heapify(self._waiting)

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
        # An unknown user's password is checked against this, at the cost of the dearest configured hash;
        # a refusal of a user whose hash is cheaper is made to take as long (`_pad`).
        costs = {int(hashed[4:6]) for hashed in self._users.values()}
        started = time.perf_counter()
        self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=max(costs)))
        self._pad = time.perf_counter() - started if len(costs) > 1 else 0.0
        self._clock = clock
        self._accepted: OrderedDict[bytes, float] = OrderedDict()  # digest -> when accepted
        self._refused: OrderedDict[bytes, None] = OrderedDict()
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bcrypt")
        self._turns = _Turns()
        self.checks = 0  # bcrypt checks run

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            verdict = await self.check(request.headers.get("Authorization", ""), request.remote or "")
        except Exception as exc:  # a bug here must not open the door, nor answer 500 with a traceback
            repeated(
                log.error, "password check failed; answering 401", exc.__class__.__name__, error=type(exc).__name__
            )
            verdict = False
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
            self._accepted[digest] = now  # 5 minutes from its last use: a steady scraper never waits
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
                ok = await self._bcrypt(password.encode(), hashed, who.failures)
        except Busy:
            return 1.0
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
        started = time.perf_counter()
        try:
            ok = await asyncio.get_running_loop().run_in_executor(self._worker, self._compare, password, hashed)
        finally:
            self._turns.give()
        left = self._pad - (time.perf_counter() - started)
        if not ok and left > 0:
            await asyncio.sleep(left)
        return ok

    def _compare(self, password: bytes, hashed: bytes | None) -> bool:
        self.checks += 1
        if hashed is None or len(password) > _BCRYPT_MAX:
            bcrypt.checkpw(b"", self._dummy)  # as long as a real check
            return False
        try:
            return bcrypt.checkpw(password, hashed)
        except ValueError:  # a hash bcrypt cannot read (load_web_config refuses those): no entry
            return False

    def _client(self, address: str, now: float) -> _Client:
        who = self._clients.pop(address, None)
        if who is None or (not who.checking and now - who.last > FORGET_AFTER):
            who = _Client(last=now)
        self._clients[address] = who  # the newest last
        if len(self._clients) > _REMEMBERED:
            # The oldest not being checked; those being checked are bounded by the open connections.
            idle = next((a for a, c in self._clients.items() if not c.checking), None)
            if idle is not None:
                del self._clients[idle]
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
