"""Fan-out parents: a service whose jobs are asked per parent resource (a DMS instance, a CCE cluster)
has a parent-list API, which the fake cloud answers from the scenario's ``parents:`` section
(`parents.py`).

Where the list is, is the spec's `parents:` (`ParentsSpec`: its list call and name pointer), or, for
tests, any description at ``spec.parents`` with the same fields (`parent_listing`): a
``path`` (``{project_id}`` for the project's parents), ``items`` and ``id`` pointers (``Field``), an
optional ``name`` pointer, ``paging`` (``Paging``, as a ``discover`` list's), ``method`` (GET) and
``query`` (fixed parameters: where specs share a list path, as the DMS engines' ListInstances with
``engine=kafka``, a request goes to the one whose parameters it sends).

The answer: the service's parents of the path's project in scenario order, each an object with its ID
(and name) at the pointers, paged as the paging says (``total`` and a ``next`` marker where it points);
through the gateway like every list, counted in ``list_requests["<service>.parents"]``; a bad page or
limit is 400 ``<SERVICE>.0400``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

from exporter.services import Field, Paging, ServiceSpec
from exporter.services.spec import ParentsSpec
from exporter.simulator import bodies
from exporter.simulator.lists import next_marker, page_bounds
from exporter.simulator.parents import Parent
from exporter.simulator.parts import Parts
from exporter.simulator.routing import Handler, Route, json_response, request_params

__all__ = ["ParentListing", "parent_listing", "routes"]


@dataclass(frozen=True, slots=True)
class ParentListing:
    """Where a service lists its parents, and how the list pages."""

    path: str
    items: Field
    id: Field
    name: Field | None = None
    paging: Paging = field(default_factory=Paging)
    method: str = "GET"
    query: Mapping[str, str] = field(default_factory=dict)  # its fixed parameters (DMS: engine=kafka)


def parent_listing(spec: ServiceSpec) -> ParentListing | None:
    """The spec's parent-list description (`spec.parents`, a `ParentsSpec`; or any object with the
    listing's fields, at `spec.parents` or `spec.discover.parents`), or None."""
    if isinstance(spec.parents, ParentsSpec):
        lister = spec.parents.lister
        return ParentListing(
            lister.path, lister.items, lister.id, spec.parents.name, lister.paging, lister.method, dict(lister.query)
        )
    for owner in (spec, spec.discover):
        found = getattr(owner, "parents", None)
        if isinstance(found, ParentListing):
            return found
        if found is not None and all(hasattr(found, key) for key in ("path", "items", "id")):
            return ParentListing(
                path=found.path,
                items=found.items,
                id=found.id,
                name=getattr(found, "name", None),
                paging=getattr(found, "paging", None) or Paging(),
                method=str(getattr(found, "method", "") or "GET").upper(),
            )
    return None


def routes(parts: Parts) -> list[Route]:
    """The route provider: each spec's parent list, at its path and under /{cloud_service}; where specs
    share a path (the DMS engines' ListInstances), the one whose fixed parameters the request sends."""
    shared: dict[tuple[str, str], list[tuple[ParentListing, Handler]]] = {}
    for spec in parts.specs.values():
        listing = parent_listing(spec)
        if listing is not None:
            handler = _handler(parts, spec.name, listing)
            for prefix in ("", f"/{spec.name}"):
                shared.setdefault((listing.method, prefix + listing.path), []).append((listing, handler))
    return [Route(method, path, _by_query(handlers)) for (method, path), handlers in shared.items()]


def _by_query(handlers: list[tuple[ParentListing, Handler]]) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        params = await request_params(request)
        fits = (h for listing, h in handlers if all(params.get(k) == v for k, v in listing.query.items()))
        return await next(fits, handlers[0][1])(request)

    return handle if len(handlers) > 1 else handlers[0][1]


def _handler(parts: Parts, cloud_service: str, listing: ParentListing) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        parts.stats.list_requests[f"{cloud_service}.parents"] += 1
        request_id, answered = await parts.gateway.admit(cloud_service, request)
        if answered is not None:
            return answered
        project = request.match_info.get("project_id", "")
        known: tuple[Parent, ...] = parts.scenario.sections.get("parents", {}).get(cloud_service, ())
        parents = [p for p in known if project in ("", p.project_id)]
        ids = [p.id for p in parents]
        try:
            first, limit = page_bounds(listing.paging, await request_params(request), ids)
        except ValueError as exc:
            body = {"error_code": f"{cloud_service.upper()}.0400", "error_msg": f"Invalid parameter: {exc}."}
            return json_response(400, body, request_id)
        page = parents[first : first + limit] if limit is not None else parents
        marker = next_marker(listing.paging, ids, first, limit)
        return json_response(200, _page(listing, page, len(parents), marker), request_id)

    return handle


def _page(listing: ParentListing, page: list[Parent], total: int, marker: str) -> bodies.JSON:
    items = []
    for parent in page:
        item: bodies.JSON = {}
        bodies.put(item, listing.id.pointers[0], parent.id)
        if listing.name is not None:
            bodies.put(item, listing.name.pointers[0], parent.name)
        items.append(item)
    body: bodies.JSON = {}
    bodies.put(body, listing.items.pointers[0], items)
    if listing.paging.total is not None:
        bodies.put(body, listing.paging.total.pointers[0], total)
    if listing.paging.next is not None:
        bodies.put(body, listing.paging.next.pointers[0], marker or None)
    return body
