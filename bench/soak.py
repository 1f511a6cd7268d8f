"""Soak: the exporter (its own process, behind TLS and basic auth as a user deploys it) against the fake
cloud with every fault kind mixed, two scrapers, reloads and hostile clients, for a number of minutes;
then, faults off, three hostile phases of PHASE seconds each while the scrapers go on: 1,000 TLS
connections that never send a ClientHello (re-opened as the exporter closes them), 50 clients sending
wrong passwords, and an intake flood (`IntakeFlood`: hostile posts to both intake doors, a few valid
CloudEvents). Prints what went wrong, and exits 1 when anything that must not happen did: a crash, a
failed scrape, a lost task, a series of an unfinished task gone for one scrape and back in the next, an
error not counted as the faults say, file descriptors that kept growing, RSS that grew 50 MiB or more
under the half-open flood, a scrape slower than 2 s (or 2.5 times the median scrape before the floods,
where that is longer: `scrape_limit`) under the password or the intake flood, and under the intake
flood: RSS that grew INTAKE_RSS MiB or more, file descriptors that did not come back, a refusal kind not
counted, fewer counted rate_limited than the messages over the rate limit (`over_the_rate`), accepted
events not those answered 200, an answer but 200/400/403/413/429.

    python bench/soak.py --minutes 1               # `make test` runs this
    python bench/soak.py --minutes 10              # bench/README.md has its table
    python bench/soak.py --minutes 10 --tasks 400  # the churn scenario and EVS jobs that run for ever

Faults (per service request, from the fake cloud's `fault_mix`): throttle (429), server_error (5xx),
timeout (held for a minute), malformed (truncated JSON), wrong_shape (a list), reset (the connection
drops), html (a proxy's error page with 200), huge (a 5 MB body). Every fault that reached the exporter
must be counted in `huaweicloud_task_api_errors_total` under exactly one reason, its own, and nothing
else may fail (`Accounting` says how the fake cloud's counts give what the exporter must have seen:
a reset of a kept-alive connection is sent again on a new one, RFC 9112 section 9.3.1, and a request
the exporter gave up on is a timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import errno
import json
import os
import signal
import socket
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import httpx
import trustme
import yaml
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.demo import DEMO_REGION, demo_config
from exporter.services import BUILTIN
from exporter.simulator import (
    DEFAULT_PROJECT_ID,
    DEMO_TOKEN,
    SimStats,
    Simulator,
    churn_scenario,
    start_simulator,
    traces,
)
from exporter.simulator.push import CLOUDEVENTS_SOURCE, CLOUDEVENTS_TYPE, FakePki
from exporter.simulator.scenario import Task

FAULTS = {
    "throttle": 0.01,
    "server_error": 0.01,
    "timeout": 0.002,
    "malformed": 0.01,
    "wrong_shape": 0.01,
    "reset": 0.005,
    "html": 0.005,
    "huge": 0.002,
}
REASON = {
    "throttle": "throttled",
    "server_error": "server_error",
    "timeout": "timeout",
    "malformed": "bad_response",
    "wrong_shape": "bad_response",
    "reset": "connect",
    "html": "bad_response",
    "huge": "bad_response",
}
Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]
PHASE = 8.0  # seconds of each hostile phase
USER, PASSWORD = "prometheus", "soak-scrape-password"
HALF_OPEN = 1000
FINAL = frozenset({"succeeded", "failed", "stopped"})
GUESSERS = 50
SCRAPE_LIMIT = 2.0  # seconds a scrape may take under the password and intake floods (or CALM_SLACK x calm)
# ... times the median scrape before the floods, where that is longer (a slow machine). SCRAPE_LIMIT is 2.2
# times a fast machine's median (0.9 s); a loaded one's floods took up to 1.9 times it (two CPU burners);
# bcrypt on the event loop, which the password flood is there to catch, took 40 times it.
CALM_SLACK = 2.5
# --web.header-timeout: the default, as a user deploys it. It bounds the TLS handshake too: 2 s, tried
# before, closed fresh connections (a scraper's, an intake client's) on a loaded machine mid-handshake.
HEADER_TIMEOUT = "5s"
INTAKERS, INTAKE_SENDERS = 16, 4  # intake flood clients, from this many loopback addresses (127.0.2.x)
INTAKE_TOKEN_HEADER, INTAKE_TOKEN = "X-Intake-Token", "soak-intake-token"
INTAKE_MAX_BODY = 64 * 1024  # intake.max_body_size in the soak
INTAKE_RATE = 5  # intake.rate_limit in the soak: messages a second per address, so that the flood is over it
INTAKE_BURST = 2 * INTAKE_RATE  # the exporter's bucket per address holds twice the rate
INTAKE_RSS = 30  # MiB the exporter's RSS may grow under the intake flood
INTAKE_ANSWERS = frozenset({200, 400, 403, 413, 429})
SMN_TOPIC = f"urn:smn:{DEMO_REGION}:{DEFAULT_PROJECT_ID}:soak-events"


def parse(text: str) -> Scrape:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def sockets_of(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    return count


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Phase:
    """What a phase of the soak saw: scrape latencies, and the exporter's peaks."""

    name: str
    scrapes: list[float] = field(default_factory=list)
    rss: float = 0.0
    sockets: int = 0
    notes: str = ""

    def line(self) -> str:
        took = sorted(self.scrapes) or [0.0]
        return (
            f"  {self.name:28} scrapes {len(self.scrapes):4}  median {statistics.median(took):.3f} s  "
            f"max {took[-1]:.3f} s   peak RSS {self.rss:.0f} MiB   peak sockets {self.sockets:4}  {self.notes}"
        )


@dataclass
class Families:
    """One scraper's view of the task series: per task ID, the families of its series in the last two
    scrapes. A family that was there, went away for one scrape and came back, while the task was
    unfinished in all three, is a blink."""

    history: list[tuple[dict[str, frozenset[str]], frozenset[str]]] = field(default_factory=list)
    blinks: Counter[str] = field(default_factory=Counter)  # family -> blinks
    examples: list[str] = field(default_factory=list)

    def take(self, data: Scrape) -> None:
        found: dict[str, set[str]] = {}
        final: set[str] = set()
        for (name, labels), value in data.items():
            label = dict(labels)
            task_id = label.get("task_id")
            if task_id is None:
                continue
            found.setdefault(task_id, set()).add(name.removeprefix("huaweicloud_task_"))
            if name == "huaweicloud_task_status" and value == 1 and label["state"] in FINAL:
                final.add(task_id)
        families = {task_id: frozenset(names) for task_id, names in found.items()}
        if len(self.history) == 2:
            (before, final_before), (last, final_last) = self.history
            for task_id, names in families.items():
                if task_id in final or task_id in final_last or task_id in final_before:
                    continue
                for family in sorted((before.get(task_id, frozenset()) & names) - last.get(task_id, frozenset())):
                    self.blinks[family] += 1
                    if len(self.examples) < 5:
                        self.examples.append(f"{task_id} {family}")
        self.history = [*self.history[-1:], (families, frozenset(final))]


class Soak:
    def __init__(self, url: str, pid: int, tls: ssl.SSLContext) -> None:
        self.url, self.pid, self.tls = url, pid, tls
        self.codes: Counter[str] = Counter()
        self.late = 0
        self.seen: dict[str, set[str]] = {}  # task ID -> states seen
        self.last: Scrape = {}
        self.lost: set[str] = set()
        self.families: list[Families] = []
        self.phase = Phase("mixed faults")

    def client(self, address: str = "127.0.0.1", *, timeout: float) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address, verify=self.tls)
        return httpx.AsyncClient(base_url=self.url, transport=transport, timeout=timeout)

    async def scraper(self, timeout: float, stop: asyncio.Event) -> None:
        families = Families()
        self.families.append(families)
        async with self.client(timeout=timeout + 5) as http:
            http.auth = (USER, PASSWORD)
            while not stop.is_set():
                started = time.monotonic()
                try:
                    response = await http.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": str(timeout)})
                    self.codes[str(response.status_code)] += 1
                    if response.status_code == 200:
                        data = parse(response.text)
                        self.take(data)
                        families.take(data)
                except httpx.HTTPError as exc:
                    self.codes[type(exc).__name__] += 1
                took = time.monotonic() - started
                self.phase.scrapes.append(took)
                if took > timeout + 1.0:
                    self.late += 1
                await asyncio.sleep(1.0)

    async def watch(self, stop: asyncio.Event) -> None:
        """The exporter's RSS and open sockets, every 0.2 s, into the phase's peaks."""
        while not stop.is_set():
            with contextlib.suppress(OSError):
                self.phase.rss = max(self.phase.rss, rss_mib(self.pid))
                self.phase.sockets = max(self.phase.sockets, sockets_of(self.pid))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    async def half_open(self, seconds: float) -> str:
        """HALF_OPEN TLS connections that never send a byte, re-opened as the exporter closes them."""
        port = int(self.url.rsplit(":", 1)[1])
        held: list[socket.socket] = []
        opened = 0
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            held = [sock for sock in held if _alive(sock)]
            for _ in range(HALF_OPEN - len(held)):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
                held.append(sock)
                opened += 1
            await asyncio.sleep(0.2)
        for sock in held:
            sock.close()
        return f"{opened} connections opened, {opened - len(held)} closed by the exporter"

    async def guessers(self, seconds: float) -> str:
        """GUESSERS clients, each from its own loopback address, sending wrong passwords back to back."""
        answers: Counter[int] = Counter()
        until = time.monotonic() + seconds

        async def guess(n: int) -> None:
            async with self.client(f"127.0.0.{n + 2}", timeout=30) as http:
                tries = 0
                while time.monotonic() < until:
                    tries += 1
                    token = base64.b64encode(f"{USER}:guess-{n}-{tries}".encode()).decode()
                    with contextlib.suppress(httpx.HTTPError):
                        answers[
                            (await http.get("/metrics", headers={"Authorization": "Basic " + token})).status_code
                        ] += 1

        await asyncio.gather(*(guess(n) for n in range(GUESSERS)))
        return "wrong passwords answered " + ", ".join(f"{code}: {n}" for code, n in sorted(answers.items()))

    def take(self, data: Scrape) -> None:
        present: set[str] = set()
        for (name, labels), value in data.items():
            if name == "huaweicloud_task_status" and value == 1:
                label = dict(labels)
                self.seen.setdefault(label["task_id"], set()).add(label["state"])
                present.add(label["task_id"])
        # A task that was there and is gone without having been seen final is lost.
        for task_id, states in self.seen.items():
            if task_id not in present and not states & FINAL and self.last:
                self.lost.add(task_id)
        self.last = data

    async def hostile(self, stop: asyncio.Event) -> None:
        host, port = self.url.removeprefix("https://").split(":")
        while not stop.is_set():
            idle = []
            for _ in range(50):  # connections that never send a request
                try:
                    idle.append(await asyncio.open_connection(host, int(port)))
                except OSError:
                    break
            try:
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(b"NOT-HTTP\x00\x01\r\n\r\n")
                await writer.drain()
                await asyncio.wait_for(reader.read(100), 5)
                writer.close()
            except (OSError, TimeoutError):
                pass
            await asyncio.sleep(2.0)
            for _, idle_writer in idle:
                idle_writer.close()

    async def reloads(self, stop: asyncio.Event, every: float) -> int:
        count = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if not stop.is_set():
                os.kill(self.pid, signal.SIGHUP)
                count += 1
        return count


class IntakeFlood:
    """The intake flood: INTAKERS clients, four to each of INTAKE_SENDERS loopback addresses (each address
    well over the rate limit), posting to both intake doors back to back (truncated JSON, bodies over
    the limit with a Content-Length and chunked, a wrong token, SMN-shaped bodies whose signatures verify
    against nothing), and one more client from an address of its own posting valid CloudEvents of the
    scenario's jobs with the right token, five a second at most (the rate limit: few are refused). A
    body over the limit is sent with `Connection: close`: the exporter may close that connection as it
    answers (413 unread, or a 429 before the body), and a client would otherwise race it reusing it."""

    KINDS = ("malformed", "too large", "chunked", "wrong token", "bad signature")

    def __init__(self, soak: Soak, records: list[dict[str, object]]) -> None:
        self.soak, self.records = soak, records  # the trace records of jobs of the scenario
        self.answers: Counter[tuple[str, str]] = Counter()  # (kind, status code or exception) -> requests
        self.valid_ok = 0  # valid events answered 200
        self.fds = (0, 0)  # the exporter's file descriptors before the flood and once it is over
        self.answered: Counter[str] = Counter()  # flooding address -> requests answered with a status
        self.took = 0.0  # seconds from the flood's first request to its last answer

    async def run(self, seconds: float) -> str:
        before = fds(self.soak.pid)
        started = time.monotonic()
        until = started + seconds
        await asyncio.gather(*(self.flooder(n, until) for n in range(INTAKERS)), self.sender(until))
        self.took = time.monotonic() - started
        self.fds = (before, await settled(self.soak.pid, before + 20, 30.0))
        codes: Counter[str] = Counter()
        for (_, code), n in self.answers.items():
            codes[code] += n
        answers = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items()))
        return f"fds {self.fds[0]} -> {self.fds[1]}; answers {answers}; over the rate limit {self.over_the_rate()}"

    async def post(self, http: httpx.AsyncClient, kind: str, request: tuple[str, object, dict[str, str]]) -> int:
        path, content, headers = request
        try:
            response = await http.post(path, content=content, headers=headers)  # type: ignore[arg-type]
        except httpx.TimeoutException:
            self.answers[kind, "timeout"] += 1
            return 0
        except httpx.HTTPError as exc:
            self.answers[kind, type(exc).__name__] += 1
            return 0
        self.answers[kind, str(response.status_code)] += 1
        return response.status_code

    async def flooder(self, n: int, until: float) -> None:
        address = f"127.0.2.{n % INTAKE_SENDERS + 2}"
        async with self.soak.client(address, timeout=10) as http:
            http.auth = (USER, PASSWORD)
            sent = n
            while time.monotonic() < until:
                kind = self.KINDS[sent % len(self.KINDS)]
                if await self.post(http, kind, hostile_intake(kind, sent, self.records)):
                    self.answered[address] += 1
                sent += 1

    def over_the_rate(self) -> int:
        """Messages the exporter must have refused as rate_limited: every answered one past what an
        address's bucket lets through in the flood's time (INTAKE_BURST, then INTAKE_RATE a second). A
        machine too slow to send that many gives 0, and asks nothing of the count."""
        allowed = INTAKE_BURST + INTAKE_RATE * self.took
        return sum(max(0, int(n - allowed)) for n in self.answered.values())

    async def sender(self, until: float) -> None:
        async with self.soak.client("127.0.3.2", timeout=10) as http:
            http.auth = (USER, PASSWORD)
            sent = 0
            while time.monotonic() < until and self.records:
                record = self.records[sent % len(self.records)]
                headers = {"Content-Type": "application/cloudevents+json", INTAKE_TOKEN_HEADER: INTAKE_TOKEN}
                if await self.post(http, "valid", ("/intake/cloudevents", cloudevent(record), headers)) == 200:
                    self.valid_ok += 1
                sent += 1
                await asyncio.sleep(0.2)

    def wrong_answers(self) -> dict[tuple[str, str], int]:
        """Answers no client may get: a status but 200/400/403/413/429, a timeout, a connection error other
        than the exporter closing it on a chunked body over the limit (it answers 413 and closes, the
        rest unread: the client may still be writing)."""
        return {
            (kind, code): n
            for (kind, code), n in self.answers.items()
            if not (code.isdigit() and int(code) in INTAKE_ANSWERS)
            and not (kind == "chunked" and not code.isdigit() and code != "timeout")
        }


def cloudevent(record: dict[str, object]) -> bytes:
    """A structured CloudEvents 1.0 event whose data is a trace record (as the fake cloud's Pusher makes)."""
    event = {
        "id": uuid.uuid4().hex,
        "specversion": "1.0",
        "source": CLOUDEVENTS_SOURCE,
        "type": CLOUDEVENTS_TYPE,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "datacontenttype": "application/json",
        "data": record,
    }
    return json.dumps(event).encode()


def forged_smn() -> tuple[bytes, dict[str, str]]:
    """An SMN notification of the soak's topic, fresh, with a signature of random bytes."""
    fields = {
        "type": "Notification",
        "signature_version": "v1",
        "topic_urn": SMN_TOPIC,
        "message_id": uuid.uuid4().hex,
        "message": json.dumps({"service_type": "EVS", "trace_name": "createVolume", "noise": uuid.uuid4().hex}),
        "subject": "CTS key event: EVS createVolume",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "signing_cert_url": f"https://smn.{DEMO_REGION}.myhuaweicloud.com/smn/SMN_{DEMO_REGION}_forged.pem",
        "unsubscribe_url": f"https://smn.{DEMO_REGION}.myhuaweicloud.com/smn/unsubscribe",
        "signature": base64.b64encode(os.urandom(256)).decode(),
    }
    headers = {
        "Content-Type": "application/json",
        "X-SMN-MESSAGE-TYPE": "Notification",
        "X-SMN-MESSAGE-ID": fields["message_id"],
        "X-SMN-TOPIC-URN": SMN_TOPIC,
    }
    return json.dumps(fields).encode(), headers


async def chunks(total: int, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    """`total` bytes in chunks (httpx sends it chunked: no Content-Length to refuse up front)."""
    for _ in range(total // size):
        yield b" " * size


def hostile_intake(kind: str, n: int, records: list[dict[str, object]]) -> tuple[str, object, dict[str, str]]:
    """(path, body, headers) of a hostile intake request of `kind`; even `n` to the CloudEvents door, odd to
    SMN's where both take it."""
    door = "/intake/cloudevents" if n % 2 == 0 else "/intake/smn"
    token = {INTAKE_TOKEN_HEADER: INTAKE_TOKEN, "Content-Type": "application/cloudevents+json"}
    if kind == "malformed":
        return door, b'{"specversion": "1.0", "id": "' + uuid.uuid4().hex.encode(), token
    if kind == "too large":
        return door, b" " * (INTAKE_MAX_BODY + 1024), {**token, "Connection": "close"}
    if kind == "chunked":
        return door, chunks(2 * INTAKE_MAX_BODY), {**token, "Connection": "close"}
    if kind == "wrong token":
        wrong = {INTAKE_TOKEN_HEADER: f"guess-{n}", "Content-Type": "application/cloudevents+json"}
        return "/intake/cloudevents", cloudevent(records[n % len(records)] if records else {}), wrong
    body, headers = forged_smn()
    return "/intake/smn", body, headers


async def settled(pid: int, target: int, within: float) -> int:
    """The process's file descriptors once they are `target` or fewer, or when `within` seconds ran out."""
    deadline = time.monotonic() + within
    count = fds(pid)
    while count > target and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # polled, with a deadline
        count = fds(pid)
    return count


def traced_records(sim: Simulator) -> list[dict[str, object]]:
    """The trace records of the scenario's jobs that began, of services whose spec has a trace and whose
    targets are not fanned out (a job ID alone does not say its parent): valid CloudEvents name these."""
    elapsed = sim.elapsed()

    def named(task: Task) -> bool:
        spec = BUILTIN.get(task.cloud_service)
        begun = task.begin_offset is not None and task.begin_offset <= elapsed
        return spec is not None and spec.trace is not None and spec.parents is None and begun

    return [traces.trace_of(sim.parts, task) for task in sim.scenario.tasks if named(task)]


def _alive(sock: socket.socket) -> bool:
    """False once the other end closed `sock`."""
    try:
        return bool(sock.recv(1)) or False
    except BlockingIOError:
        return True
    except OSError as exc:
        if exc.errno in (errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE):
            sock.close()
            return False
        raise


def web_config(work: Path) -> Path:
    """TLS with a certificate made for the soak, and basic auth for USER (bcrypt cost 10)."""
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(work / "server.pem"))
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    web = work / "web.yaml"
    web.write_text(
        "tls_server_config: {cert_file: server.pem, key_file: server.pem}\n"
        f"basic_auth_users: {{{USER}: '{hashed}'}}\n"
    )
    return web


async def phase(soak: Soak, name: str, body: Callable[[], object]) -> Phase:
    soak.phase = Phase(name)
    result = body()
    if asyncio.iscoroutine(result):
        result = await result
    soak.phase.notes = "" if result is None else str(result)
    return soak.phase


def counted(data: Scrape) -> Counter[str]:
    totals: Counter[str] = Counter()
    for (name, labels), value in data.items():
        if name == "huaweicloud_task_api_errors_total":
            totals[dict(labels)["reason"]] += int(value)
    return totals


@dataclass
class Accounting:
    """What the exporter must have counted, by reason, from what the fake cloud saw.

    Every request the exporter sends arrives at the fake cloud once, and once more when a reset of a
    kept-alive connection is sent again on a new one; so the fake cloud's requests less the exporter's
    (`huaweicloud_task_api_requests_total`) are those second tries, and a reset is a `connect` error
    only when it is not one of them. A request whose client went away before the answer (the fake
    cloud counted it on arrival, never answered it) is a `timeout`: every `timeout` fault, and any
    request the exporter's own deadline ended first. Every other fault is answered at once, under its
    own reason. Nothing else fails in the soak, so every other reason must stay at 0."""

    injected: Counter[str]
    expected: Counter[str]
    retried: int
    cut: int  # requests ended by the exporter's deadline that were no timeout fault

    @classmethod
    def of(cls, stats: SimStats, sent: int) -> Accounting:
        injected: Counter[str] = Counter()
        for kind, count in stats.faults.items():
            injected[REASON[kind]] += count
        retried = stats.requests_total - sent
        unanswered = stats.requests_total - sum(stats.by_status.values())
        expected = Counter(injected)
        expected["connect"] = injected["connect"] - retried
        expected["timeout"] = unanswered
        return cls(injected, expected, retried, unanswered - injected["timeout"])

    def wrong(self, got: Counter[str]) -> dict[str, tuple[int, int]]:
        """Reasons counted otherwise than expected: reason -> (expected, counted)."""
        return {r: (self.expected[r], got[r]) for r in sorted({*self.expected, *got}) if self.expected[r] != got[r]}

    def lines(self, got: Counter[str]) -> list[str]:
        notes = {
            "connect": f"{self.retried} of the resets on kept-alive connections, sent again",
            "timeout": f"{self.cut} more requests ended by the exporter's deadline",
        }
        reasons = [r for r in sorted({*self.expected, *got}) if self.injected[r] or self.expected[r] or got[r]]
        head = f"    {'reason':13} {'injected':>8} {'expected':>8} {'counted':>8}"
        rows = (
            f"    {r:13} {self.injected[r]:8} {self.expected[r]:8} {got[r]:8}   {notes.get(r, '')}" for r in reasons
        )
        return [head, *(row.rstrip() for row in rows)]


async def run(minutes: float, tasks: int, poll: str = "0") -> int:
    scenario = churn_scenario()
    sim = Simulator(scenario, latency=0.02, extra_running_tasks=max(tasks - len(scenario.tasks), 0))
    cloud = await start_simulator(sim)
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    process, url = await start_exporter(work, cloud.url, sim, poll)
    tls = ssl.create_default_context(cafile=str(work / "ca.pem"))
    if not await ready(url, tls, process):
        print("the exporter did not start", file=sys.stderr)
        return 1
    soak = Soak(url, process.pid, tls)
    start_fds, start_rss = fds(process.pid), rss_mib(process.pid)
    sim.fault_mix = dict(FAULTS)
    stop, phases_done = asyncio.Event(), asyncio.Event()
    jobs = [
        asyncio.ensure_future(soak.scraper(4.5, stop)),  # an HA pair with different scrape timeouts
        asyncio.ensure_future(soak.scraper(3.0, stop)),
        asyncio.ensure_future(soak.watch(stop)),
    ]
    hostile = asyncio.ensure_future(soak.hostile(phases_done))  # idle and malformed, until the phases end
    reload_job = asyncio.ensure_future(soak.reloads(stop, 20.0))
    await asyncio.sleep(minutes * 30)
    middle_fds = fds(process.pid)
    await asyncio.sleep(minutes * 30)
    # Faults off; the "timeout" holds stay until the exporter's own budget (4 s) ends them, and a last
    # clean refresh makes every fault that reached the exporter show in its counters.
    sim.fault_mix = {}
    phases = [soak.phase]
    phases.append(await phase(soak, "faults off", lambda: asyncio.sleep(6)))
    phases.append(await phase(soak, f"{HALF_OPEN:,} half-open TLS", lambda: soak.half_open(PHASE)))
    phases.append(await phase(soak, f"{GUESSERS} password guessers", lambda: soak.guessers(PHASE)))
    flood = IntakeFlood(soak, traced_records(sim))
    phases.append(await phase(soak, "intake flood", lambda: flood.run(PHASE)))
    phases_done.set()
    await hostile
    stop.set()
    await asyncio.gather(*jobs)
    reloads = await reload_job
    async with soak.client(timeout=30) as http:
        http.auth = (USER, PASSWORD)
        await http.get(f"{url}/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})
        final = parse((await http.get(f"{url}/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})).text)
    end_fds, end_rss = fds(process.pid), rss_mib(process.pid)
    crashed = process.returncode is not None
    process.send_signal(signal.SIGTERM)
    await process.wait()
    await cloud.close()
    outcome = Outcome(minutes, reloads, crashed, (start_fds, middle_fds, end_fds), (start_rss, end_rss), phases)
    problems = report(soak, sim, final, outcome, flood)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


async def start_exporter(
    work: Path, cloud_url: str, sim: Simulator, poll: str = "0"
) -> tuple[asyncio.subprocess.Process, str]:
    """The exporter in a process of its own, over TLS with basic auth, tracking the fake cloud's tasks."""
    config = yaml.safe_load(demo_config(cloud_url, sim.scenario.targets(), {"type": "token", "token": DEMO_TOKEN}))
    config["scrape"] = {"refresh_timeout": 4, "default_timeout": 5}
    # poll_interval 0 (the soak's default): every scrape asks every unfinished task, the most calls and
    # faults per minute; `--poll-interval 30s` runs it at the exporter's default economy.
    config["tracking"] = {
        "finished_ttl": "2h",
        "discovery_interval": "10s",
        "not_found_limit": 1000,
        "poll_interval": poll,
    }
    for service in config["services"]:
        if service["cloud_service"] == "codearts_check":
            service["discover"] = {"codearts_projects": ["9f3c2a1e5b7d4c8e9a6b0d1f2e3c4a5b"]}
        if service["cloud_service"] == "cph":
            service["discover"] = {"request_ids": ["7e9a1c3b5d7f4e2a8c0b6d4f1a3e5c02"]}
    config["intake"] = intake_config(work)
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    web = web_config(work)
    port = free_port()
    log = (work / "exporter.log").open("w")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", "--config.file", str(work / "config.yaml"), "--web.config.file", str(web),
        "--web.listen-address", f"127.0.0.1:{port}", "--log.format", "json", "--web.header-timeout", HEADER_TIMEOUT,
        "--web.max-connections", "2000",
        stdout=asyncio.subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    return process, f"https://127.0.0.1:{port}"


def intake_config(work: Path) -> dict[str, object]:
    """Both intake doors: CloudEvents with a token from a file, SMN with the soak's topic and a signing
    certificate made for the soak, pinned (nothing fetched); bodies of INTAKE_MAX_BODY at most, INTAKE_RATE
    messages a second per sender address (the flood's addresses are over it even on a loaded machine)."""
    token = work / "intake-token"
    token.write_text(INTAKE_TOKEN + "\n")
    token.chmod(0o600)
    signing = work / "smn-signing.pem"
    signing.write_bytes(FakePki.generate().signing_cert_pem)
    return {
        "smn": {"topics": [{"urn": SMN_TOPIC, "account": "demo"}], "certificate_files": [str(signing)]},
        "cloudevents": {"account": "demo", "token_header": INTAKE_TOKEN_HEADER, "token_file": str(token)},
        "max_body_size": INTAKE_MAX_BODY,
        "rate_limit": INTAKE_RATE,
    }


async def ready(url: str, tls: ssl.SSLContext, process: asyncio.subprocess.Process) -> bool:
    """Whether the exporter answers /-/ready within 30 s (False at once if it exits)."""
    async with httpx.AsyncClient(verify=tls, auth=(USER, PASSWORD)) as http:
        deadline = time.monotonic() + 30
        while True:
            try:
                if (await http.get(f"{url}/-/ready", timeout=1)).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.returncode is not None:
                return False
            await asyncio.sleep(0.1)


@dataclass(frozen=True)
class Outcome:
    """What the run measured of the exporter's process."""

    minutes: float
    reloads: int
    crashed: bool
    fds: tuple[int, int, int]  # at the start, in the middle, at the end
    rss: tuple[float, float]  # at the start, at the end (MiB)
    phases: list[Phase]


def report(soak: Soak, sim: Simulator, final: Scrape, outcome: Outcome, flood: IntakeFlood) -> list[str]:
    """Print the figures; the problems they show."""
    got = counted(final)
    sent = sum(int(value) for (name, _), value in final.items() if name == "huaweicloud_task_api_requests_total")
    accounting = Accounting.of(sim.stats, sent)
    ended = {c.task_id for c in sim.created_tasks() if c.created_at + 60 < time.time() - 10}
    missed = sorted(t for t in ended if t in soak.seen and not soak.seen[t] & FINAL)
    (start_fds, middle_fds, end_fds), (start_rss, end_rss) = outcome.fds, outcome.rss
    print(f"soak: {outcome.minutes:g} min, {outcome.reloads} reloads, fake cloud requests {sim.stats.requests_total}")
    print(
        f"  crashes: {int(outcome.crashed)}   /metrics answers: {dict(soak.codes)}   over their deadline: {soak.late}"
    )
    blinks = sum((f.blinks for f in soak.families), Counter[str]())
    print(f"  tasks seen: {len(soak.seen)}   lost: {len(soak.lost)}   final states missed: {len(missed)}")
    print(f"  series of unfinished tasks gone for one scrape: {f'{blinks.total()} {dict(blinks)}' if blinks else 0}")
    print("  faults injected, errors expected from what the fake cloud saw, errors the exporter counted:")
    for line in accounting.lines(got):
        print(line)
    print(f"  file descriptors: {start_fds} -> {middle_fds} -> {end_fds}   RSS: {start_rss:.0f} -> {end_rss:.0f} MiB")
    intake = intake_counted(final)
    outcome.phases[-1].notes += "; counted " + ", ".join(f"{r}: {n}" for r, n in sorted(intake.items()) if n)
    print("  phases (the two scrapers every second; the exporter's RSS and sockets every 0.2 s):")
    for seen in outcome.phases:
        print(seen.line())
    print(f"  a scrape under the password and intake floods may take {scrape_limit(outcome):.2f} s")
    return [*problems(soak, outcome, blinks, accounting.wrong(got)), *intake_problems(flood, outcome, intake)]


def scrape_limit(outcome: Outcome) -> float:
    """The longest a scrape may take under a flood: SCRAPE_LIMIT, or CALM_SLACK times the median scrape
    before the floods (mixed faults and faults off) where the machine is slow enough for that to be longer
    (two cores at poll 0: those scrapes themselves take 2.6 s there). A flood is judged by what it adds,
    not by the machine's speed; the median of the whole first part, not of the faults-off phase alone (a
    handful of scrapes, one on an overloaded machine)."""
    calm = [took for seen in outcome.phases[:2] for took in seen.scrapes]
    return max(SCRAPE_LIMIT, CALM_SLACK * statistics.median(calm)) if calm else SCRAPE_LIMIT


def intake_counted(data: Scrape) -> Counter[str]:
    """huaweicloud_task_intake_messages_total by result, both doors together."""
    totals: Counter[str] = Counter()
    for (name, labels), value in data.items():
        if name == "huaweicloud_task_intake_messages_total":
            totals[dict(labels)["result"]] += int(value)
    return totals


def intake_problems(flood: IntakeFlood, outcome: Outcome, counted: Counter[str]) -> list[str]:
    found = []
    *before, flooded = outcome.phases
    limit = scrape_limit(outcome)
    if max(flooded.scrapes, default=0.0) > limit:
        found.append(f"a scrape took {max(flooded.scrapes):.1f} s under the intake flood (limit {limit:.1f} s)")
    grew = flooded.rss - max(p.rss for p in before)
    if grew >= INTAKE_RSS:
        found.append(f"RSS grew {grew:.0f} MiB under the intake flood")
    if flood.fds[1] > flood.fds[0] + 20:
        found.append(f"file descriptors went from {flood.fds[0]} to {flood.fds[1]} with the intake flood over")
    missing = [r for r in ("too_large", "malformed", "bad_signature") if not counted[r]]
    if missing:
        found.append(f"the intake flood's messages not counted as {missing}: {dict(counted)}")
    over = flood.over_the_rate()
    if counted["rate_limited"] < over:
        found.append(
            f"{over} intake messages over the rate limit ({INTAKE_RATE} a second per address after a burst of "
            f"{INTAKE_BURST}: {dict(flood.answered)} in {flood.took:.1f} s), {counted['rate_limited']} rate_limited"
        )
    if not flood.valid_ok or counted["accepted"] != flood.valid_ok:
        found.append(f"{flood.valid_ok} valid CloudEvents answered 200, {counted['accepted']} counted accepted")
    wrong = flood.wrong_answers()
    if wrong:
        found.append(f"intake answers no client may get ((kind, answer): requests): {wrong}")
    return found


def problems(soak: Soak, outcome: Outcome, blinks: Counter[str], wrong: dict[str, tuple[int, int]]) -> list[str]:
    found = []
    calm, flooded, guessed = outcome.phases[1], outcome.phases[2], outcome.phases[3]
    if flooded.rss - calm.rss >= 50:
        found.append(f"RSS grew {flooded.rss - calm.rss:.0f} MiB under {HALF_OPEN} half-open TLS connections")
    limit = scrape_limit(outcome)
    if max(guessed.scrapes, default=0.0) > limit:
        found.append(f"a scrape took {max(guessed.scrapes):.1f} s under the password flood (limit {limit:.1f} s)")
    if outcome.crashed:
        found.append("the exporter crashed")
    failed_scrapes = sum(n for code, n in soak.codes.items() if code != "200")
    if failed_scrapes:
        found.append(f"{failed_scrapes} scrapes failed")
    if soak.lost:
        found.append(f"tasks lost: {sorted(soak.lost)[:5]}")
    if blinks:
        examples = [e for f in soak.families for e in f.examples][:5]
        found.append(f"series of unfinished tasks gone for one scrape: {dict(blinks)}, e.g. {examples}")
    if wrong:
        found.append(f"errors not counted as the faults say (reason: (expected, counted)): {wrong}")
    _, middle_fds, end_fds = outcome.fds
    if end_fds > middle_fds + 20:  # the first half fills the connection pools; after that, no growth
        found.append(f"file descriptors grew from {middle_fds} to {end_fds}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument(
        "--tasks", type=int, default=0, help="tasks in the config: the churn scenario's, then EVS jobs running for ever"
    )
    parser.add_argument(
        "--poll-interval", default="0", help="the exporter's tracking.poll_interval (default 0: every scrape)"
    )
    args = parser.parse_args()
    return asyncio.run(run(args.minutes, args.tasks, args.poll_interval))


if __name__ == "__main__":
    raise SystemExit(main())
