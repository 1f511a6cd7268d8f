"""What the fake cloud serves for Simple Message Notification (SMN) push: the topics' signing
certificates and the subscription confirmation. The push itself (signing, posting) is `push.py`.

- ``GET /smn/{file}.pem``: a topic's signing certificate (PEM), only over HTTPS (plain HTTP: 404), as
  SMN's ``signing_cert_url`` names it (``/smn/SMN_<region>_<hex>.pem``).
- ``GET /smn/confirm?token=T``: confirms the subscription that ``T`` was issued for (a
  ``SubscriptionConfirmation``'s ``subscribe_url``); 200 the first time, 403 for a token never issued
  or used already.
- ``GET /smn/redirect/{file}.pem?to=URL``: 302 to ``URL``, only over HTTPS: a ``signing_cert_url``
  that redirects (a hostile case for a verifier).

None of these is counted in `SimStats` (the gateway skips ``/smn/``), and none needs authentication:
SMN's certificate URL is public ("no authentication needed to fetch").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from aiohttp import web

from exporter.simulator.routing import Handler, Route, json_response

if TYPE_CHECKING:  # parts.py holds an SmnBook
    from exporter.simulator.parts import Parts

__all__ = ["SmnBook", "Subscription", "routes"]


class Subscription(NamedTuple):
    """An HTTP(S) subscription: its topic, its endpoint (the subscriber's URL) and its URN."""

    topic_urn: str
    endpoint: str
    urn: str


class SmnBook:
    """The simulator's SMN state: the certificates it serves and the subscriptions, by token."""

    def __init__(self) -> None:
        self._certs: dict[str, bytes] = {}
        self._pending: dict[str, Subscription] = {}
        self._confirmed: list[Subscription] = []

    def add_cert(self, file: str, pem: bytes) -> None:
        """Serve ``pem`` at ``/smn/{file}`` (``file`` ends in ``.pem``)."""
        if "/" in file or not file.endswith(".pem"):
            raise ValueError(f"a certificate file name ends in .pem and has no '/', got {file!r}")
        self._certs[file] = pem

    def cert(self, file: str) -> bytes | None:
        return self._certs.get(file)

    def add_subscription(self, token: str, subscription: Subscription) -> None:
        """A subscription waiting for ``GET /smn/confirm?token=<token>``."""
        self._pending[token] = subscription

    def confirm(self, token: str) -> Subscription | None:
        """Confirm the subscription of ``token`` (once); None for an unknown or used token."""
        subscription = self._pending.pop(token, None)
        if subscription is not None:
            self._confirmed.append(subscription)
        return subscription

    def confirmed(self, topic_urn: str = "") -> list[Subscription]:
        """The confirmed subscriptions (of ``topic_urn``, or all), in the order confirmed."""
        return [s for s in self._confirmed if not topic_urn or s.topic_urn == topic_urn]


def routes(parts: Parts) -> list[Route]:
    return [
        Route("GET", "/smn/confirm", _confirm(parts.smn)),
        Route("GET", "/smn/redirect/{file}", _redirect),
        Route("GET", "/smn/{file}", _cert(parts.smn)),
    ]


def _cert(book: SmnBook) -> Handler:
    async def cert(request: web.Request) -> web.StreamResponse:
        pem = book.cert(request.match_info["file"])
        if pem is None or not request.secure:
            return json_response(404, {"error": "no such certificate"})
        return web.Response(body=pem, content_type="application/x-pem-file")

    return cert


async def _redirect(request: web.Request) -> web.StreamResponse:
    target = request.query.get("to", "")
    if not request.secure or not target or not request.match_info["file"].endswith(".pem"):
        return json_response(404, {"error": "no such certificate"})
    return web.Response(status=302, headers={"Location": target})


def _confirm(book: SmnBook) -> Handler:
    async def confirm(request: web.Request) -> web.StreamResponse:
        subscription = book.confirm(request.query.get("token", ""))
        if subscription is None:
            return json_response(403, {"error": "unknown or used subscription token"})
        return json_response(200, {"subscription_urn": subscription.urn, "topic_urn": subscription.topic_urn})

    return confirm
