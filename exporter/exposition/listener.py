"""The exporter's listening socket, guarded against slow and half-open clients.

aiohttp bounds a connection only by its keep-alive (about an hour by default), so a thousand clients
that open a connection and never finish their request line exhaust the file descriptors, and
`/metrics` stops answering. Here:

- a connection that has not sent its request headers within `header_timeout` seconds is closed;
- at most `max_connections` are open at once: a new one beyond that closes the oldest connection that
  is still waiting for its headers (or, if every open one is being served, is closed itself), so a
  flood of idle connections never keeps Prometheus out;
- an idle keep-alive connection is closed after `KEEPALIVE` seconds;
- each of these is logged once, then at every power of ten, with the count.
"""

from __future__ import annotations

import asyncio
import resource
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from exporter.log import said as _said

__all__ = ["DEFAULT_HEADER_TIMEOUT", "KEEPALIVE", "ConnectionGuard", "Serving", "default_max_connections", "serve"]

log = structlog.get_logger(__name__)

DEFAULT_HEADER_TIMEOUT = 5.0
KEEPALIVE = 30.0
_END_OF_HEADERS = b"\r\n\r\n"


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

    def wrap(self, inner: asyncio.Protocol) -> asyncio.Protocol:
        return _Guarded(self, inner)

    def opened(self, connection: _Guarded) -> bool:
        """Admit `connection`; False when it must be closed at once (every open one is being served)."""
        self._open[connection] = None
        if len(self._open) <= self.max_connections:
            return True
        waiting = next((c for c in self._open if not c.complete and c is not connection), None)
        self.shed += 1
        if _said(self.shed):
            log.warning(
                "connection limit reached; closing connections that have not sent a request",
                max_connections=self.max_connections,
                closed=self.shed,
            )
        if waiting is not None:
            waiting.close()
            return True
        return False

    def closed(self, connection: _Guarded) -> None:
        self._open.pop(connection, None)

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
    """aiohttp's request handler, with a deadline for the first request's headers."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard, self._inner = guard, inner
        self._transport: asyncio.BaseTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""
        self.complete = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)
        if not self._guard.opened(self):
            self.close()
            return
        self._timer = asyncio.get_running_loop().call_later(self._guard.header_timeout, self._expire)

    def data_received(self, data: bytes) -> None:
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
        if self._timer is not None:
            self._timer.cancel()
        self._guard.closed(self)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _expire(self) -> None:
        if not self.complete:
            self._guard.expired()
            self.close()

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


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
    server = await loop.create_server(
        lambda: guard.wrap(handlers()), host or None, port, reuse_address=True, ssl=ssl_context
    )
    bound = int(server.sockets[0].getsockname()[1])

    async def stop() -> None:
        server.close()
        await runner.cleanup()  # closes the open connections too
        await server.wait_closed()

    return Serving(bound, stop, guard)
