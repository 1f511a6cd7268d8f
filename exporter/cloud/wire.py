"""A lean HTTP/1.1 client for the status GETs: keep-alive connections per host on asyncio protocols.

Why: at thousands of tasks per scrape the client is most of the exporter's CPU, and aiohttp's
general-purpose request path (URL building, header merging, tracing hooks, timers, its connector)
costs about a third of each query (bench/README.md). These GETs need little of it: a request head
written once, a response read whole (Content-Length, chunked, or until close), a pool of persistent
connections with a limit. Everything else goes to the aiohttp transport: requests with a body (IAM
logins) and requests through a proxy (HTTP_PROXY/HTTPS_PROXY or the account's `proxy`).

Failures map to httpx's exception classes, with the aiohttp transport's messages: a refused or
unresolvable host is `ConnectError`, an untrusted certificate `ConnectError` naming it, silence past
the read timeout `ReadTimeout`, a reset or a malformed answer `ReadError`. A kept-alive connection
that the server closed just before the request was written is retried once on a new connection (a
GET is idempotent); a fresh connection is never retried.

Besides httpx's `timeout` extension, a request may carry a `deadline` (the event loop's time by which
its answer must be in; no wait for a connection, connect or read goes past it). The timers that end a
request fail its own futures, never cancel the caller: an answer read by the time a timer runs is the
answer, even when the event loop was busy as the deadline passed (the loop reads a socket before it
runs the timers that came due meanwhile).
"""

from __future__ import annotations

import asyncio
import collections
import re
import ssl
import urllib.request
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from exporter.cloud.transport import MAX_HEADER_BYTES, AiohttpTransport, proxy_for

__all__ = ["WireTransport"]

NO_BODY_STATUSES = frozenset({204, 304})
MAX_INTERIM = 16  # 1xx answers before the real one
KEEPALIVE = 15.0  # seconds an idle connection is kept (as aiohttp's connector does): a NAT may drop it silently
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class _Stale(Exception):
    """A reused connection ended before any byte of the answer: the server had closed it."""


class _Malformed(Exception):
    """The answer is not HTTP/1.x as this client reads it."""


class _Connection(asyncio.Protocol):
    """One persistent connection; one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.used = False  # has answered a request before: a failure without bytes means "stale"
        self.idle_since = 0.0
        self._chunks = _Chunks()
        self._buffer = bytearray()
        self._answer: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes, bool]] | None = None
        self._eof = False

    # --- asyncio.Protocol ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self.open = transport, True

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._answer is not None and not self._answer.done():
            self._parse()
        elif len(self._buffer) > MAX_HEADER_BYTES:  # bytes nobody asked for: drop the connection
            self.close()

    def eof_received(self) -> bool:
        self._eof, self.open = True, False
        if self._answer is not None and not self._answer.done():
            self._parse()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.open, self._eof = False, True
        if self._answer is not None and not self._answer.done():
            self._parse(lost=exc)

    # --- one exchange ------------------------------------------------------------------------------

    @property
    def reusable(self) -> bool:
        """Open, and nothing arrived unasked since the last answer."""
        return self.open and not self._buffer

    def send(self, head: bytes) -> asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes, bool]]:
        """Write a request head; the future gets (status, headers, body, keep-alive)."""
        assert self.transport is not None
        self._answer = self.loop.create_future()
        self._chunks = _Chunks()
        self.transport.write(head)
        return self._answer

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        assert self._answer is not None
        self._answer.set_exception(exc)
        self.close()

    def _parse(self, lost: Exception | None = None) -> None:
        """Complete the answer once the buffer holds all of it (or the connection ended)."""
        buffer = self._buffer
        try:
            head = self._final_head(lost)
            found = None if head is None else _read_body(buffer, head, self._eof, self._chunks)
        except (_Malformed, _Stale) as exc:
            self._fail(exc)
            return
        if head is None or found is None:
            return
        body, done, keep = found
        assert self._answer is not None
        self.used = True
        del buffer[:done]
        self._answer.set_result((head.status, head.headers, body, keep and self.open and not buffer))

    def _final_head(self, lost: Exception | None) -> _Head | None:
        """The answer's head, past any interim (1xx) answers; None until the buffer holds it."""
        buffer = self._buffer
        for _ in range(MAX_INTERIM + 1):
            head = _read_head(buffer)
            if head is None:
                if len(buffer) > MAX_HEADER_BYTES:
                    raise _Malformed("the response header is larger than 128 KiB")
                if self._eof:
                    if not buffer and self.used:
                        raise _Stale
                    raise _Malformed(f"the connection ended before a full response header ({lost or 'EOF'})")
                return None
            if not 100 <= head.status < 200 or head.status == 101:
                break
            del buffer[: head.start]  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        else:
            raise _Malformed(f"more than {MAX_INTERIM} interim (1xx) answers")
        if head.status == 101:
            raise _Malformed("the server switched protocols (101)")
        return head


@dataclass(frozen=True, slots=True)
class _Head:
    status: int
    headers: list[tuple[bytes, bytes]]
    length: int | None
    chunked: bool
    keep: bool
    start: int  # where the body begins


async def _wait_for_room(pool: _Pool, request: httpx.Request, wait: float | None) -> None:
    """Wait in line until a connection of the pool is closed or given back (at most `wait` seconds)."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    pool.waiters.append(waiter)
    timer = loop.call_later(wait, _expire, waiter) if wait is not None else None
    try:
        await waiter
    except _ReadTimeout:
        raise httpx.PoolTimeout(f"no connection to {request.url.host} free in time", request=request) from None
    except asyncio.CancelledError:
        if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
            pool.wake()  # woken, then cancelled: the wake-up goes to the next in line
        raise
    finally:
        if timer is not None:
            timer.cancel()


def _read_head(buffer: bytearray) -> _Head | None:
    """The status line and headers, once the buffer holds them all (None before); raises _Malformed."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    if end > MAX_HEADER_BYTES:
        raise _Malformed("the response header is larger than 128 KiB")
    lines = bytes(buffer[:end]).split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise _Malformed(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
    head = _Head(int(parts[1]), [], None, False, parts[0] != b"HTTP/1.0", end + 4)
    for line in lines[1:]:
        head = _read_header(head, line, old=parts[0] == b"HTTP/1.0")
    return head


def _read_header(head: _Head, line: bytes, *, old: bool) -> _Head:
    """The head with one more header line read into it (its headers list is extended in place)."""
    name, sep, value = line.partition(b":")
    if not sep or not name or name != name.strip():
        raise _Malformed(f"a malformed header line: {line[:60]!r}")
    value = value.strip()
    head.headers.append((name, value))
    lower = name.lower()
    if lower == b"content-length":
        if not value.isdigit() or (head.length is not None and head.length != int(value)):
            raise _Malformed("a malformed Content-Length")
        return replace(head, length=int(value))
    if lower == b"transfer-encoding":
        if value.lower() != b"chunked":
            raise _Malformed(f"an unsupported Transfer-Encoding: {value[:40]!r}")
        return replace(head, chunked=True)
    if lower == b"connection":
        tokens = {t.strip() for t in value.lower().split(b",")}
        return replace(head, keep=b"keep-alive" in tokens if old else b"close" not in tokens)
    return head


def _read_body(buffer: bytearray, head: _Head, eof: bool, chunks: _Chunks) -> tuple[bytes, int, bool] | None:
    """(body, where the answer ends, keep-alive) once the buffer holds the body (None before)."""
    start = head.start
    if head.status in NO_BODY_STATUSES:
        return b"", start, head.keep
    if head.chunked:
        found = _dechunk(buffer, start, chunks)
        if found is None and eof:
            raise _Malformed("the connection ended inside a chunked body")
        return None if found is None else (*found, head.keep)
    if head.length is not None:
        if len(buffer) - start < head.length:
            if eof:
                raise _Malformed("the connection ended before the body's Content-Length")
            return None
        return bytes(buffer[start : start + head.length]), start + head.length, head.keep
    if not eof:  # neither: the body runs until the server closes the connection
        return None
    return bytes(buffer[start:]), len(buffer), False


@dataclass(slots=True)
class _Chunks:
    """How far a chunked body has been read: each read goes on from here (not from the start again)."""

    at: int = -1  # the next chunk's size line (-1: not begun)
    pieces: list[bytes] = field(default_factory=list)


def _dechunk(buffer: bytearray, start: int, state: _Chunks) -> tuple[bytes, int] | None:
    """A chunked body from `start`: (body, end offset), or None when incomplete; raises _Malformed."""
    at = start if state.at < 0 else state.at
    while True:
        state.at = at
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size_text = bytes(buffer[at:line_end]).split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            raise _Malformed(f"a malformed chunk size: {size_text[:20]!r}")
        size = int(size_text, 16)
        data = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", data)  # trailers (usually none), then an empty line
            while trailer_end >= 0 and trailer_end != data:
                data = trailer_end + 2
                trailer_end = buffer.find(b"\r\n", data)
            if trailer_end < 0:
                return None
            return b"".join(state.pieces), trailer_end + 2
        if len(buffer) < data + size + 2:
            return None
        if buffer[data + size : data + size + 2] != b"\r\n":
            raise _Malformed("a chunk without its closing CRLF")
        state.pieces.append(bytes(buffer[data : data + size]))
        at = data + size + 2


class _Pool:
    """The connections to one (scheme, host, port): idle ones reused newest first, at most `limit` open."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.idle: list[_Connection] = []
        self.count = 0  # open or opening
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def release(self, connection: _Connection, keep: bool) -> None:
        if keep and connection.reusable:
            connection.idle_since = connection.loop.time()
            self.idle.append(connection)
        else:
            connection.close()
            self.count -= 1
        self.wake()

    def wake(self) -> None:
        """Let one request waiting for a connection try again."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break


class WireTransport(httpx.AsyncBaseTransport):
    """GETs without a proxy over `_Connection`s; everything else through `AiohttpTransport`."""

    def __init__(
        self, *, verify: ssl.SSLContext | bool = True, proxy: str | None = None, max_connections: int = 100
    ) -> None:
        self._fallback = AiohttpTransport(verify=verify, proxy=proxy, max_connections=max_connections)
        self._proxy = proxy
        self._env_proxies: dict[str, str] = {} if proxy else urllib.request.getproxies_environment()
        self._limit = max_connections
        self._pools: dict[tuple[bytes, str, int], _Pool] = {}
        self._closed = False
        if verify is True:
            self._ssl: ssl.SSLContext = ssl.create_default_context()
        elif verify is False:
            self._ssl = ssl.create_default_context()
            self._ssl.check_hostname, self._ssl.verify_mode = False, ssl.CERT_NONE
        else:
            self._ssl = verify

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET" or self._proxy or proxy_for(request.url, self._env_proxies):
            return await self._fallback.handle_async_request(request)
        if request.headers.get("content-length") not in (None, "0") or "transfer-encoding" in request.headers:
            return await self._fallback.handle_async_request(request)
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.raw_scheme, url.host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(self._limit)
        timeouts = request.extensions.get("timeout", {})
        until: float | None = request.extensions.get("deadline")
        head = _head(request)
        for attempt in range(2):
            connection = await self._acquire(
                pool, request, port, timeouts.get("pool"), timeouts.get("connect"), until, fresh=attempt > 0
            )
            reused = connection.used
            try:
                status, headers, body, keep = await self._exchange(
                    connection, head, _within(timeouts.get("read"), until, connection.loop), request
                )
            except _Stale:
                pool.release(connection, False)
                if reused and attempt == 0:
                    continue
                message = f"connection to {url.host} failed: ServerDisconnectedError"
                raise httpx.ReadError(message, request=request) from None
            except BaseException:
                pool.release(connection, False)
                raise
            pool.release(connection, keep and not self._closed)  # after aclose(), nothing is kept
            return httpx.Response(status, headers=headers, content=body, request=request)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _acquire(
        self,
        pool: _Pool,
        request: httpx.Request,
        port: int,
        pool_timeout: float | None,
        connect_timeout: float | None,
        until: float | None = None,
        fresh: bool = False,
    ) -> _Connection:
        """A kept-alive connection (unless `fresh`), else a new one once the pool has room; neither the wait
        nor the connect goes past `until` (the request's deadline, in the loop's time)."""
        loop = asyncio.get_running_loop()
        while True:
            while pool.idle and not fresh:
                connection = pool.idle.pop()
                if connection.reusable and loop.time() - connection.idle_since < KEEPALIVE:
                    return connection
                connection.close()
                pool.count -= 1
            if pool.count < pool.limit:
                break
            if fresh and pool.idle:  # room for the new connection: close the oldest idle one
                pool.idle.pop(0).close()
                pool.count -= 1
                continue
            await _wait_for_room(pool, request, _within(pool_timeout, until, loop))
        pool.count += 1
        try:
            return await self._connect(request, port, _within(connect_timeout, until, loop))
        except BaseException:
            pool.count -= 1
            pool.wake()
            raise

    async def _connect(self, request: httpx.Request, port: int, timeout: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        url = request.url
        tls = self._ssl if url.scheme == "https" else None
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(loop),
                    url.host,
                    port,
                    ssl=tls,
                    server_hostname=url.host if tls else None,
                    happy_eyeballs_delay=0.25,  # a broken IPv6 address does not take the whole connect timeout
                ),
                timeout,
            )
        except Exception as exc:  # not a cancellation (a BaseException): that goes up as it is
            raise _connect_error(exc, url, port, request) from exc
        return connection

    async def _exchange(
        self, connection: _Connection, head: bytes, read_timeout: float | None, request: httpx.Request
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        url = request.url
        answer = connection.send(head)
        timer = None
        if read_timeout is not None:
            timer = connection.loop.call_later(read_timeout, _expire, answer)
        try:
            return await answer
        except _ReadTimeout:
            raise httpx.ReadTimeout(f"timed out talking to {url.host}", request=request) from None
        except _Malformed as exc:
            raise httpx.ReadError(f"connection to {url.host} failed: {exc}", request=request) from None
        finally:
            if timer is not None:
                timer.cancel()

    async def aclose(self) -> None:
        """Close the idle connections; those in use close when their answer is in."""
        self._closed = True
        for pool in self._pools.values():
            for connection in pool.idle:
                connection.close()
            pool.idle.clear()
        await self._fallback.aclose()


class _ReadTimeout(Exception):
    pass


def _within(seconds: float | None, until: float | None, loop: asyncio.AbstractEventLoop) -> float | None:
    """`seconds` from now, or what is left until `until` (the loop's time) if that comes first."""
    if until is None:
        return seconds
    left = max(until - loop.time(), 0.0)
    return left if seconds is None else min(seconds, left)


def _expire(answer: asyncio.Future[Any]) -> None:
    if not answer.done():
        answer.set_exception(_ReadTimeout())


def _head(request: httpx.Request) -> bytes:
    """The request line and headers, as httpx holds them (Host included)."""
    lines = [b"GET " + request.url.raw_path + b" HTTP/1.1"]
    for name, value in request.headers.raw:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
            raise httpx.LocalProtocolError("a header holds a line break", request=request)
        lines.append(name + b": " + value)
    lines.append(b"")
    lines.append(b"")
    return b"\r\n".join(lines)


def _connect_error(exc: Exception, url: httpx.URL, port: int, request: httpx.Request) -> Exception:
    if isinstance(exc, TimeoutError):
        return httpx.ConnectTimeout(f"timed out connecting to {url.host}:{port}", request=request)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return httpx.ConnectError(f"TLS certificate of {url.host} not trusted: {type(exc).__name__}", request=request)
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return httpx.ConnectError(f"cannot connect to {url.host}:{port}: {reason}", request=request)
    return httpx.ConnectError(f"cannot connect to {url.host}:{port}: {type(exc).__name__}", request=request)
