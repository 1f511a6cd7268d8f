"""An httpx transport that sends requests with aiohttp.

Why: httpx's own async connection pool costs about 1.1 ms of CPU per request at 32 concurrent requests
and turns CPU-bound at 64 (bench/README.md), while aiohttp's client costs a fraction of that. Keeping
httpx on top keeps its request model and `httpx.Auth` (the token and AK/SK signing flows); only the
bytes on the wire go through aiohttp. Transport failures map to httpx's exception classes so callers
can tell a timeout from a refused connection.
"""

from __future__ import annotations

import ssl
import urllib.request

import aiohttp
import httpx

__all__ = ["AiohttpTransport"]

MAX_HEADER_BYTES = 128 * 1024


def _proxy_from_environment(url: httpx.URL, proxies: dict[str, str]) -> str | None:
    """HTTPS_PROXY / HTTP_PROXY (of `proxies`, the environment's) for `url`, unless NO_PROXY exempts its host."""
    if not proxies:
        return None
    proxy = proxies.get(url.scheme)
    # proxy_bypass_environment is public in CPython but missing from typeshed.
    if proxy is None or urllib.request.proxy_bypass_environment(url.host, proxies):  # type: ignore[attr-defined]
        return None
    return proxy


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
                # Not trust_env: that also reads ~/.netrc and would add its credentials to our requests.
                trust_env=False,
                # IAM tokens (X-Subject-Token) run to many kilobytes; the default limit is 8190 bytes.
                max_line_size=MAX_HEADER_BYTES,
                max_field_size=MAX_HEADER_BYTES,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        body = await request.aread()
        try:
            async with self._get_session().request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
                proxy=self._proxy or _proxy_from_environment(request.url, self._env_proxies),
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
