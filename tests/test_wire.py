"""The lean HTTP/1.1 client (exporter/cloud/wire.py) against scripted servers on real sockets: every way an
answer may be framed, connection reuse and its limit, a server that closed a kept-alive connection, and
each failure as the httpx exception the client maps (with its message)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from exporter.cloud.wire import WireTransport

Answer = Callable[[bytes, int], bytes | None]  # (request head, connection's request number) -> bytes to send
Starter = Callable[[Answer], Awaitable[tuple["Scripted", str]]]


class Scripted:
    """A server that answers each request head with what `answer` returns (None: close without a word)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.heads: list[bytes] = []
        self.open_now = 0
        self.most_open = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        number = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.heads.append(head)
                out = self.answer(head, number)
                number += 1
                if out is None:
                    return
                if out.startswith(b"SLEEP"):  # no answer at all
                    await asyncio.sleep(float(out.split()[1]))
                    continue
                if out.startswith(b"DELAY"):  # the usual answer, late
                    await asyncio.sleep(float(out.split()[1]))
                    out = ok()
                writer.write(out)
                await writer.drain()
                if b"Connection: close" in out or out.startswith(b"HTTP/1.0"):
                    return
        finally:
            self.open_now -= 1
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Starter]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> tuple[Scripted, str]:
        scripted = Scripted(answer)
        server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
        servers.append(server)
        return scripted, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()


def ok(body: bytes = b'{"status": "RUNNING"}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def get(transport: WireTransport, url: str, timeout: float = 5.0) -> httpx.Response:
    request = httpx.Request("GET", url, headers={"Host": url.split("/")[2]})
    request.extensions["timeout"] = {"connect": timeout, "read": timeout, "pool": timeout, "write": timeout}
    return await transport.handle_async_request(request)


async def test_content_length_answers_reuse_one_connection(serve: Starter) -> None:
    scripted, url = await serve(lambda head, n: ok())
    transport = WireTransport()
    for _ in range(5):
        response = await get(transport, url + "/v1/p/jobs/1?x=1")
        assert response.status_code == 200 and response.json() == {"status": "RUNNING"}
    assert scripted.connections == 1
    assert scripted.heads[0].startswith(b"GET /v1/p/jobs/1?x=1 HTTP/1.1\r\n")
    await transport.aclose()


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n", b"abcdefg"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-Trailer: 1\r\n\r\n", b"ab"),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", b"until the end"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold", b"old"),
    ],
    ids=["chunked", "chunked-trailer", "100-continue", "204", "until-close", "http-1.0"],
)
async def test_every_framing_is_read_whole(serve: Starter, answer: bytes, body: bytes) -> None:
    _, url = await serve(lambda head, n: answer)
    transport = WireTransport()
    response = await get(transport, url + "/")
    assert response.content == body
    await transport.aclose()


async def test_a_gzip_body_is_decoded_by_httpx(serve: Starter) -> None:
    packed = gzip.compress(b'{"a": 1}')
    _, url = await serve(lambda head, n: ok(packed, b"Content-Encoding: gzip\r\n"))
    transport = WireTransport()
    assert (await get(transport, url + "/")).json() == {"a": 1}
    await transport.aclose()


async def test_connection_close_and_http_1_0_are_not_reused(serve: Starter) -> None:
    scripted, url = await serve(lambda head, n: ok(extra=b"Connection: close\r\n"))
    transport = WireTransport()
    for _ in range(3):
        assert (await get(transport, url + "/")).status_code == 200
    assert scripted.connections == 3
    await transport.aclose()


async def test_a_kept_alive_connection_the_server_closed_is_retried_once(serve: Starter) -> None:
    # The server answers the first request, then closes the connection when the second one arrives.
    scripted, url = await serve(lambda head, n: ok() if n == 0 else None)
    transport = WireTransport()
    assert (await get(transport, url + "/")).status_code == 200
    assert (await get(transport, url + "/")).status_code == 200  # on a new connection
    assert scripted.connections == 2
    await transport.aclose()


async def test_a_fresh_connection_closed_without_an_answer_is_a_read_error(serve: Starter) -> None:
    scripted, url = await serve(lambda head, n: None)
    transport = WireTransport()
    with pytest.raises(httpx.ReadError, match=r"connection to 127\.0\.0\.1 failed: the connection ended before a full"):
        await get(transport, url + "/")
    assert scripted.connections == 1  # not retried: the server saw the request
    await transport.aclose()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "a malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "a malformed header line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "a malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 140_000 + b"\r\n\r\n", "larger than 128 KiB"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * 20 + ok(), "more than 16 interim"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "unsupported Transfer-Encoding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x10\r\n", "a malformed chunk size"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched protocols"),
    ],
    ids=[
        "not-http",
        "bad-length",
        "bad-header",
        "bad-chunk",
        "huge-header",
        "many-1xx",
        "gzip-transfer-coding",
        "0x-chunk-size",
        "101",
    ],
)
async def test_malformed_answers_are_read_errors(serve: Starter, answer: bytes, message: str) -> None:
    _, url = await serve(lambda head, n: answer)
    transport = WireTransport()
    with pytest.raises(httpx.ReadError, match=message):
        await get(transport, url + "/")
    await transport.aclose()


async def test_a_short_body_before_close_is_a_read_error(serve: Starter) -> None:
    _, url = await serve(lambda head, n: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc")
    transport = WireTransport()
    with pytest.raises(httpx.ReadError, match="ended before the body's Content-Length"):
        await get(transport, url + "/")
    await transport.aclose()


async def test_silence_is_a_read_timeout_and_the_connection_is_dropped(serve: Starter) -> None:
    scripted, url = await serve(lambda head, n: b"SLEEP 5" if len(scripted.heads) == 1 else ok())
    transport = WireTransport()
    with pytest.raises(httpx.ReadTimeout, match=r"timed out talking to 127\.0\.0\.1"):
        await get(transport, url + "/", timeout=0.2)
    assert (await get(transport, url + "/")).status_code == 200
    assert scripted.connections == 2
    await transport.aclose()


async def test_a_deadline_bounds_the_wait_for_a_connection_and_for_the_answer(serve: Starter) -> None:
    """The `deadline` extension (the loop's time by which the answer must be in) ends a request whose
    timeouts alone would let it wait longer: waiting for a free connection, and waiting for the answer."""
    _, url = await serve(lambda head, n: b"SLEEP 5")
    transport = WireTransport(max_connections=1)
    loop = asyncio.get_running_loop()

    async def until(deadline: float) -> httpx.Response:
        request = httpx.Request("GET", url + "/", headers={"Host": url.split("/")[2]})
        request.extensions["timeout"] = dict.fromkeys(("connect", "read", "pool", "write"), 5.0)
        request.extensions["deadline"] = deadline
        return await transport.handle_async_request(request)

    started = loop.time()
    # The first takes the one connection and waits for its answer; the second waits for the connection.
    results = await asyncio.gather(until(started + 0.4), until(started + 0.2), return_exceptions=True)
    assert loop.time() - started < 3  # the deadlines (0.4 s), not the timeouts (5 s), with room for a loaded machine
    assert [type(result) for result in results] == [httpx.ReadTimeout, httpx.PoolTimeout]
    await transport.aclose()


async def test_a_refused_port_is_a_connect_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    transport = WireTransport()
    with pytest.raises(httpx.ConnectError, match=f"cannot connect to 127.0.0.1:{port}: "):
        await get(transport, f"http://127.0.0.1:{port}/")
    await transport.aclose()


async def test_connections_stay_within_the_limit(serve: Starter) -> None:
    scripted, url = await serve(lambda head, n: ok())
    transport = WireTransport(max_connections=3)
    responses = await asyncio.gather(*(get(transport, url + f"/{i}") for i in range(30)))
    assert all(r.status_code == 200 for r in responses)
    assert scripted.most_open <= 3
    await transport.aclose()


async def test_line_breaks_in_a_header_are_refused_before_sending(serve: Starter) -> None:
    scripted, url = await serve(lambda head, n: ok())
    transport = WireTransport()
    request = httpx.Request("GET", url + "/", headers={"X-Evil": "a"})
    request.headers._list = [(b"X-Evil", b"x-evil", b"a\r\nInjected: 1")]  # what httpx itself would not allow
    with pytest.raises(httpx.LocalProtocolError, match="line break"):
        await transport.handle_async_request(request)
    assert scripted.heads == []
    await transport.aclose()


async def test_the_retry_after_a_stale_connection_opens_a_new_one(serve: Starter) -> None:
    # Two kept-alive connections that the server closes when they are used next: the retry must not take
    # the second stale one.
    scripted, url = await serve(lambda head, n: ok() if n == 0 else None)
    transport = WireTransport()
    await asyncio.gather(get(transport, url + "/a"), get(transport, url + "/b"))
    assert scripted.connections == 2
    assert (await get(transport, url + "/c")).status_code == 200
    assert scripted.connections == 3
    await transport.aclose()


async def test_idle_connections_are_dropped_after_the_keep_alive_time(
    serve: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import exporter.cloud.wire as wire

    scripted, url = await serve(lambda head, n: ok())
    transport = WireTransport()
    assert (await get(transport, url + "/")).status_code == 200
    monkeypatch.setattr(wire, "KEEPALIVE", 0.0)  # every idle connection is now too old
    assert (await get(transport, url + "/")).status_code == 200
    assert scripted.connections == 2
    await transport.aclose()


async def test_a_long_chunked_body_in_small_pieces_is_read_once(serve: Starter) -> None:
    body = b"".join(b"400\r\n" + bytes([65 + i % 26]) * 1024 + b"\r\n" for i in range(2000)) + b"0\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    _, url = await serve(lambda head, n: answer)
    transport = WireTransport()
    started = asyncio.get_running_loop().time()
    response = await get(transport, url + "/")
    assert len(response.content) == 2000 * 1024 and response.content[:2] == b"AA"
    assert asyncio.get_running_loop().time() - started < 5  # quadratic re-parsing took far longer
    await transport.aclose()


async def test_a_waiter_woken_then_cancelled_passes_the_wake_up_on(serve: Starter) -> None:
    # The pool is full; B and C wait. A slot frees and B is woken, but B is cancelled before it runs:
    # C must get the slot, not sleep until its pool timeout.
    from exporter.cloud.wire import _Pool

    _, url = await serve(lambda head, n: ok())
    transport = WireTransport(max_connections=1)
    pool = _Pool(1)
    pool.count = 1  # someone holds the only connection
    request = httpx.Request("GET", url + "/")
    port = request.url.port or 80
    b = asyncio.ensure_future(transport._acquire(pool, request, port, 5.0, 5.0))
    c = asyncio.ensure_future(transport._acquire(pool, request, port, 5.0, 5.0))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(pool.waiters) == 2
    pool.count -= 1  # the holder closes its connection
    pool.wake()  # B's waiter is done...
    b.cancel()  # ...and B is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await b
    connection = await asyncio.wait_for(c, 2)
    assert connection.open and pool.count == 1
    pool.release(connection, False)
    await transport.aclose()


async def test_a_connection_in_use_at_aclose_is_closed_after_its_answer(serve: Starter) -> None:
    _, url = await serve(lambda head, n: b"DELAY 0.2")
    transport = WireTransport()
    pending = asyncio.ensure_future(get(transport, url + "/"))
    for _ in range(20):
        await asyncio.sleep(0)
    await transport.aclose()  # while the request is out
    assert (await pending).status_code == 200
    assert all(not pool.idle and pool.count == 0 for pool in transport._pools.values())
