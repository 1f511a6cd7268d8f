"""An httpx transport that sends requests with aiohttp.

Why: httpx's own async connection pool costs about 1.1 ms of CPU per request at 32 concurrent requests
and turns CPU-bound at 64 (bench/README.md), while aiohttp's client costs a fraction of that. Keeping
httpx on top keeps its request model and `httpx.Auth` (the token and AK/SK signing flows); only the
bytes on the wire go through aiohttp. Transport failures map to httpx's exception classes so callers
can tell a timeout from a refused connection.
"""

from __future__ import annotations

import functools
import math
import ssl
import urllib.request

import aiohttp
import httpx
import yarl

__all__ = ["MAX_HEADER_BYTES", "AiohttpTransport", "proxy_for"]

MAX_HEADER_BYTES = 128 * 1024


def proxy_for(url: httpx.URL, proxies: dict[str, str]) -> str | None:
    """HTTPS_PROXY / HTTP_PROXY (of `proxies`, the environment's) for `url`, unless NO_PROXY exempts its host."""
    if not proxies:
        return None
    proxy = proxies.get(url.scheme)
    # proxy_bypass_environment is public in CPython but missing from typeshed.
    if proxy is None or urllib.request.proxy_bypass_environment(url.host, proxies):  # type: ignore[attr-defined]
        return None
    return proxy


def _tenths(seconds: float | None) -> float | None:
    """Rounded up to a tenth of a second, so that the timeouts of a scrape's requests repeat (the
    caller's asyncio deadline is exact)."""
    return None if seconds is None else math.ceil(seconds * 10) / 10


@functools.lru_cache(maxsize=256)
def _client_timeout(pool: float | None, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts for httpx's; the few values in use are made once."""
    return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (one connection pool) per transport."""

    def __init__(
        self, *, verify: ssl.SSLContext | bool = True, proxy: str | None = None, max_connections: int = 100
    ) -> None:
        """`verify`: True (system CAs), an SSLContext, or False (no verification). Without `proxy`, the
        standard HTTPS_PROXY / HTTP_PROXY / NO_PROXY environment variables apply."""
        self._ssl = verify
        self._proxy = proxy
        # The environment's proxies, read once: looking them up costs more than the rest of a request.
        self._env_proxies: dict[str, str] = {} if proxy else urllib.request.getproxies_environment()
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl, ttl_dns_cache=300)
            # Decompression is left to httpx, which sees the Content-Encoding header.
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
                # No cookies: the APIs set none that matter, and a jar is looked up on every request.
                cookie_jar=aiohttp.DummyCookieJar(),
                # Not trust_env: that also reads ~/.netrc and would add its credentials to our requests.
                trust_env=False,
                # IAM tokens (X-Subject-Token) run to many kilobytes; the default limit is 8190 bytes.
                max_line_size=MAX_HEADER_BYTES,
                max_field_size=MAX_HEADER_BYTES,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        timeout = _client_timeout(*(_tenths(timeouts.get(k)) for k in ("pool", "connect", "read")))
        body = await request.aread()
        try:
            async with self._get_session().request(
                request.method,
                # httpx has encoded the URL already: yarl need not quote it again.
                yarl.URL(str(request.url), encoded=True),
                headers=list(request.headers.multi_items()),
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
                proxy=self._proxy or proxy_for(request.url, self._env_proxies),
            ) as response:
                content = await response.read()
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
                return httpx.Response(response.status, headers=headers, content=content, request=request)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(f"timed out talking to {request.url.host}", request=request) from exc
        except aiohttp.ClientProxyConnectionError as exc:
            raise httpx.ProxyError(
                f"cannot connect to the proxy: {exc.os_error.strerror or exc}", request=request
            ) from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            raise httpx.ConnectError(
                f"TLS certificate of {request.url.host} not trusted: {exc.certificate_error.__class__.__name__}",
                request=request,
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or str(exc.os_error) or exc.__class__.__name__
            raise httpx.ConnectError(
                f"cannot connect to {request.url.host}:{request.url.port or ''}: {reason}", request=request
            ) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(
                f"connection to {request.url.host} failed: {exc.__class__.__name__}", request=request
            ) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
