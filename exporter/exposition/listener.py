"""The exporter's listening socket, guarded against slow and half-open clients.

aiohttp bounds a connection only by its keep-alive (about an hour by default), so a thousand clients
that open a connection and never finish their request line exhaust the file descriptors, and
`/metrics` stops answering. Here:

- a connection that has not sent its request headers within `header_timeout` seconds is closed;
- at most `max_connections` are open at once: a new one beyond that closes the oldest connection that
  has sent nothing, else the oldest still waiting for its headers, else the oldest idle keep-alive
  one (or, if every open one is being served, is closed itself), so a flood of idle connections never
  keeps Prometheus out;
- an idle keep-alive connection is closed after `KEEPALIVE` seconds;
- each of these is logged once, then at every power of ten, with the count.

Over TLS the same guard holds from the moment the TCP connection is accepted, not from the end of the
handshake: the TLS layer sits under the guard (`_TLSGate`), so a client that connects and never sends
a ClientHello, or stalls mid-handshake, is closed at `header_timeout` and counts against
`max_connections`. The TLS state of a connection (asyncio's SSLProtocol, with a 256 KiB read buffer of
its own) is made only when the client's first bytes arrive, with a 16 KiB buffer: a flood of
connections that never handshake costs a socket each, nothing more. A TLS connection being closed
waits at most `TLS_SHUTDOWN` seconds for the client's close_notify (asyncio: 30 s), and stopping the
server drops whatever is still open.
"""

from __future__ import annotations

import asyncio
import resource
import select
import ssl
from asyncio import sslproto
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from exporter.log import said as _said

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "KEEPALIVE",
    "SAFE_HEADERS",
    "ConnectionGuard",
    "Serving",
    "default_max_connections",
    "serve",
]

log = structlog.get_logger(__name__)

DEFAULT_HEADER_TIMEOUT = 5.0
KEEPALIVE = 30.0
_END_OF_HEADERS = b"\r\n\r\n"
# On every answer, aiohttp's own included: no content sniffing, no framing, nothing loaded or run.
SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}
TLS_SHUTDOWN = 2.0


def default_max_connections() -> int:
    """Well below the process's file descriptor limit (it also needs some for the cloud and its files)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = soft if soft != resource.RLIM_INFINITY else 4096
    return max(16, min(1024, limit // 2))


class ConnectionGuard:
    """Tracks the open connections in the order they came, and whether each has sent its headers."""

    def __init__(self, header_timeout: float, max_connections: int) -> None:
        self.header_timeout, self.max_connections = header_timeout, max_connections
        self._open: dict[_Guarded, None] = {}  # insertion-ordered: oldest first
        self.timed_out = 0
        self.shed = 0

    def opened(self, connection: _Guarded) -> bool:
        """Admit `connection`; False when it must be closed at once (every open one is being served)."""
        self._open[connection] = None
        if len(self._open) <= self.max_connections:
            return True
        # The oldest that has sent nothing at all, else the oldest still short of its headers (over TLS a
        # scrape in its handshake has sent its ClientHello: a flood of silent connections never sheds it).
        waiting = (
            next((c for c in self._open if not c.heard and c is not connection), None)
            or next((c for c in self._open if not c.complete and c is not connection), None)
            or next((c for c in self._open if c.idle() and c is not connection), None)
        )
        self.shed += 1
        if _said(self.shed):
            log.warning(
                "connection limit reached; closing connections that are not being served",
                max_connections=self.max_connections,
                closed=self.shed,
            )
        # Out of the count at once: it is closing, and the next connection of a burst, accepted before it
        # is gone, must shed another one rather than pick this one again.
        shed = waiting if waiting is not None else connection
        self._open.pop(shed)
        shed.close()
        return waiting is not None

    def closed(self, connection: _Guarded) -> None:
        self._open.pop(connection, None)

    def drop_all(self) -> None:
        """Close every connection still open (the server is stopping)."""
        for connection in list(self._open):
            connection.abort()

    def expired(self) -> None:
        self.timed_out += 1
        if _said(self.timed_out):
            log.info(
                "closed connections that sent no request headers in time",
                header_timeout=self.header_timeout,
                closed=self.timed_out,
            )

    @property
    def open(self) -> int:
        return len(self._open)


class _Guarded(asyncio.Protocol):
    """aiohttp's request handler, with a deadline for the first request's headers.

    Over plain HTTP it is the TCP connection's protocol; over TLS it sits above the TLS layer (it sees
    the decrypted bytes), and `_TLSGate` admits it when the TCP connection is accepted."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard, self._inner = guard, inner
        self._raw: asyncio.BaseTransport | None = None  # the TCP connection's transport
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""
        self.heard = False  # any bytes came (over TLS: encrypted ones)
        self.complete = False

    def admit(self, raw: asyncio.BaseTransport) -> bool:
        """Count the TCP connection `raw` and start its header deadline; False when it must be closed."""
        self._raw = raw
        # A client's first bytes (its request, its ClientHello) are usually in by the time it is accepted;
        # looked at now, a burst of silent connections accepted in the same turn cannot shed it.
        self.heard = _readable(raw)
        if not self._guard.opened(self):
            return False
        self._timer = asyncio.get_running_loop().call_later(self._guard.header_timeout, self._expire)
        return True

    def release(self) -> None:
        """The TCP connection is gone (said once or twice: over TLS both layers say it)."""
        if self._timer is not None:
            self._timer.cancel()
        self._guard.closed(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)
        if self._raw is None:  # plain HTTP: this is the TCP connection
            self.admit(transport)  # closed by the guard when it is refused

    def data_received(self, data: bytes) -> None:
        self.heard = True
        if not self.complete:
            seen = self._tail + data
            if _END_OF_HEADERS in seen:
                self.complete = True
                if self._timer is not None:
                    self._timer.cancel()
            self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.release()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def idle(self) -> bool:
        """A keep-alive connection between requests: aiohttp's handler has none in progress or queued
        (read from its private state; without it, a connection never counts as idle)."""
        return (
            self.complete
            and getattr(self._inner, "_request_in_progress", True) is False
            and not getattr(self._inner, "_messages", True)
        )

    def _expire(self) -> None:
        if not self.complete:
            self._guard.expired()
            self.close()

    def close(self) -> None:
        """Drop the TCP connection (over TLS without a close_notify: the client is not being served)."""
        if self._raw is not None and not self._raw.is_closing():
            self._raw.close()

    def abort(self) -> None:
        """Drop the TCP connection now, whatever it has still to send."""
        if isinstance(self._raw, asyncio.Transport):
            self._raw.abort()


def _readable(transport: asyncio.BaseTransport) -> bool:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class _LeanTLS(sslproto.SSLProtocol):
    """asyncio's TLS layer with a 16 KiB read buffer instead of 256 KiB: a TLS record holds at most
    16 KiB, and a request to this exporter is a few hundred bytes."""

    max_size = 16 * 1024


class _TLSGate(asyncio.BufferedProtocol):
    """The TCP connection's protocol on a TLS listener: admits the connection to the guard at once and
    makes its TLS layer when the first bytes arrive (a connection that sends nothing holds no TLS state)."""

    def __init__(self, guarded: _Guarded, context: ssl.SSLContext, handshake_timeout: float) -> None:
        self._guarded, self._context, self._handshake_timeout = guarded, context, handshake_timeout
        self._raw: asyncio.Transport | None = None
        self._tls: _LeanTLS | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        self._guarded.admit(transport)  # closed by the guard when it is refused

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._tls is None:
            self._guarded.heard = True
            # No waiter (asyncio's own servers pass none either); typeshed wants a future and an int.
            self._tls = _LeanTLS(
                asyncio.get_running_loop(), self._guarded, self._context, None,  # type: ignore[arg-type]
                server_side=True, ssl_handshake_timeout=self._handshake_timeout,  # type: ignore[arg-type]
                ssl_shutdown_timeout=TLS_SHUTDOWN,
            )  # fmt: skip
            assert self._raw is not None
            self._tls.connection_made(self._raw)
        buffer: memoryview = self._tls.get_buffer(sizehint)
        return buffer

    def buffer_updated(self, nbytes: int) -> None:
        assert self._tls is not None
        self._tls.buffer_updated(nbytes)

    def eof_received(self) -> bool | None:
        if self._tls is None:
            return None  # closed before a byte came
        # typeshed says None; it returns True while the application has paused reading.
        keep: bool | None = self._tls.eof_received()  # type: ignore[func-returns-value]
        return keep

    def connection_lost(self, exc: Exception | None) -> None:
        if self._tls is not None:
            self._tls.connection_lost(exc)
        self._guarded.release()

    def pause_writing(self) -> None:
        if self._tls is not None:
            self._tls.pause_writing()

    def resume_writing(self) -> None:
        if self._tls is not None:
            self._tls.resume_writing()


class _PlainErrors(RequestHandler):
    """aiohttp's request handler, but a request it cannot read is answered without its bytes quoted
    back (aiohttp shows the offending line), and with the headers every answer has."""

    __slots__ = ()

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> StreamResponse:
        plain = f"{HTTPStatus(status).phrase}: the request could not be read as HTTP/1.1\n" if message else None
        response = super().handle_error(request, status, exc, plain)
        response.headers.update(SAFE_HEADERS)
        return response


@dataclass(frozen=True)
class Serving:
    """A started server: the port it bound (useful with port 0), its guard, and how to stop it."""

    port: int
    stop: Callable[[], Awaitable[None]]
    guard: ConnectionGuard


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    max_connections: int | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Serving:
    """Start serving `app` on host:port (0: any free port), guarded as the module docstring says."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=KEEPALIVE)
    await runner.setup()
    guard = ConnectionGuard(header_timeout, max_connections or default_max_connections())
    handlers = runner.server
    assert handlers is not None
    loop = asyncio.get_running_loop()

    def accept() -> asyncio.BaseProtocol:
        handler = handlers()
        handler.__class__ = _PlainErrors  # the same slots: only handle_error differs
        guarded = _Guarded(guard, handler)
        if ssl_context is None:
            return guarded
        # The TLS handshake is under the guard's deadline; asyncio's own timeout is only a backstop.
        return _TLSGate(guarded, ssl_context, header_timeout + 1)

    # asyncio's accept queue of 100 stays: it is also how many connections one turn of the loop accepts
    # before the guard sheds any, and so bounds the file descriptors a burst takes at once.
    server = await loop.create_server(accept, host or None, port, reuse_address=True)
    bound = int(server.sockets[0].getsockname()[1])

    async def stop() -> None:
        server.close()
        await runner.cleanup()  # closes the connections aiohttp knows
        guard.drop_all()  # and those it does not: TLS ones still in their handshake
        await server.wait_closed()

    return Serving(bound, stop, guard)
