"""The Campaign REST resources below `/{ORGANIZATION}/campaign/`: routing and record CRUD.

URL grammar (Adobe's): `/<api>/<resource>` lists (GET) or creates (POST);
`/<api>/<resource>/<PKey>` or, on the Ext endpoint, `/<resource>/<custom key>` reads (GET),
partially updates (PATCH → `{PKey, href}`) or deletes (DELETE → 200); filter segments chain
(`/profile/byEmail?email=…`) and may end in `_count` or a field name (projection);
`/<api>/resourceType/<name>` and `/<resource>/metadata` describe resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import metadata, query, subscriptions
from .errors import CampaignError, app_error, not_found_uri
from .metadata import EXT
from .records import builder
from .schema import COLLECTION, ITEM, Field, Filter, Resource
from .store import DuplicateKey, columns
from .validation import LinkResolver, check_mandatory, invalid_pkey, parse_body, to_storage

if TYPE_CHECKING:
    from .runtime import Runtime

APIS = ("profileAndServices", EXT)
NESTED = (ITEM, COLLECTION)  # fields that cannot be projected


@dataclass
class Call:
    """One API call, relative to the API base."""

    method: str
    segments: list[str]  # percent-decoded path segments after `/campaign/`
    params: list[tuple[str, str]]
    body: bytes


@dataclass
class Reply:
    """Status and JSON body (None: no body), or a text body with its `media_type`."""

    status: int
    body: Any = None
    media_type: str | None = None  # set: `body` is text of that type, not JSON


def _not_found(resource: Resource, key: str) -> CampaignError:
    return app_error(
        f"Unable to find document with path '{resource.name}' from key '{key}'", status=404
    )


def _method_not_allowed(call: Call) -> CampaignError:
    return CampaignError(405, {"code": 405, "message": f"Method {call.method} not allowed."})


def handle(rt: Runtime, call: Call) -> Reply:
    """Route one authenticated call."""
    segments = [s for s in call.segments if s]
    if segments and segments[-1].endswith(".json"):
        segments[-1] = segments[-1][: -len(".json")]
    if not segments or segments[0] not in APIS:
        raise not_found_uri()
    api, rest = segments[0], segments[1:]
    base = rt.href_base
    if not rest:
        _only(call, "GET")
        return Reply(200, metadata.api_root(rt.store.model.resources.values(), api, base))
    if rest[0] == "resourceType":
        _only(call, "GET")
        return Reply(200, _resource_type(rt, api, rest[1:], base))
    resource = rt.store.model.resource_for(api, rest[0])
    if resource is None:
        raise not_found_uri()
    tail = rest[1:]
    if not tail:
        if call.method == "POST":
            return _create(rt, call, api, resource)
        _only(call, "GET")
        return Reply(200, query.page(rt, _listing(rt, call, api, resource, [], None)))
    if tail == ["metadata"]:
        _only(call, "GET")
        return Reply(200, metadata.resource_type(rt.sealer, api, resource, base))
    if tail[0].startswith("@") and len(tail) == 1:
        return _record(rt, call, api, resource, record_id(rt, resource, tail[0]))
    if tail[0].startswith("@") and tail[1:2] == ["subscriptions"] and len(tail) <= 3:
        return _subscriptions(rt, call, api, resource, tail)
    return _collection_or_key(rt, call, api, resource, tail)


def _subscriptions(rt: Runtime, call: Call, api: str, resource: Resource, tail: list[str]) -> Reply:
    """`<profile or service>/<PKey>/subscriptions[/<PKey>]` (other resources have none)."""
    if resource.name not in subscriptions.OWNERS:
        raise not_found_uri()
    parent = record_id(rt, resource, tail[0])
    if rt.store.get(resource, parent) is None:
        raise _not_found(resource, tail[0])
    status, body = subscriptions.handle(rt, call, api, resource, parent, tail[2:])
    return Reply(status, body)


def _only(call: Call, method: str) -> None:
    if call.method != method:
        raise _method_not_allowed(call)


def _resource_type(rt: Runtime, api: str, rest: list[str], base: str) -> dict[str, Any]:
    model = rt.store.model
    if len(rest) == 1 and (resource := model.resource_for(api, rest[0])) is not None:
        return metadata.resource_type(rt.sealer, api, resource, base)
    if len(rest) == 2 and rest[1] == "filters":
        found = metadata.resource_of_type_pkey(rt.sealer, model.resources, api, rest[0])
        if found is not None:
            return metadata.filters(rt.sealer, api, found, base)
    raise not_found_uri()


def _listing(
    rt: Runtime,
    call: Call,
    api: str,
    resource: Resource,
    filters: list[Filter],
    projection: str | None,
) -> query.Listing:
    return query.Listing(
        resource=resource,
        builder=builder(resource, api),
        filters=filters,
        params=call.params,
        base=rt.href_base,
        projection=projection,
    )


def _collection_or_key(
    rt: Runtime, call: Call, api: str, resource: Resource, tail: list[str]
) -> Reply:
    ext = api == EXT
    filters = []
    while tail and (flt := resource.filter(tail[0], ext)) is not None:
        filters.append(flt)
        tail = tail[1:]
    visible = builder(resource, api).fields
    if len(tail) <= 1:
        projection = tail[0] if tail and tail[0] != "_count" else None
        field = visible.get(projection) if projection else None
        if not tail or tail == ["_count"] or (field is not None and field.kind not in NESTED):
            _only(call, "GET")
            listing = _listing(rt, call, api, resource, filters, projection)
            if tail == ["_count"]:
                return Reply(200, query.count(rt, listing))
            return Reply(200, query.page(rt, listing))
        if not filters and ext and resource.key:
            row_id = rt.store.find_key(resource, tail[0])
            if row_id is None:
                raise _not_found(resource, tail[0])
            return _record(rt, call, api, resource, row_id)
    raise not_found_uri()


def record_id(rt: Runtime, resource: Resource, pkey: str) -> int:
    """Row id behind a PKey of `resource` (Campaign's invalid-PKey 500 or a 404 otherwise)."""
    decoded = rt.sealer.row_of(pkey)
    if decoded is None:
        raise invalid_pkey(resource, pkey)
    code, row_id = decoded
    if code != resource.code:
        raise _not_found(resource, pkey)
    return row_id


def link_resolver(rt: Runtime) -> LinkResolver:
    """Resolve `{"PKey": …}` link values to existing target records."""

    def resolve(f: Field, pkey: str) -> str:
        assert f.target is not None
        target = rt.store.model.resources[f.target]
        row_id = record_id(rt, target, pkey)
        if rt.store.get(target, row_id) is None:
            raise _not_found(target, pkey)
        return pkey

    return resolve


def _duplicate(resource: Resource, values: dict[str, Any]) -> CampaignError:
    assert resource.key is not None
    constraint = f"{resource.schema.replace(':', '')}_{resource.key}".lower()
    return app_error(
        f"A '{resource.name}' with the same key '{values.get(resource.key)}' already exists. "
        f"PGS-220000 PostgreSQL error: ERROR:  duplicate key value violates unique constraint "
        f'"{constraint}"'
    )


def _output(rt: Runtime, api: str, resource: Resource, row: dict[str, Any]) -> dict[str, Any]:
    build = builder(resource, api)
    values = [row.get(c) for c in columns(resource)]
    return build.record(values, rt.href_base, rt.clock.now().date())


def _create(rt: Runtime, call: Call, api: str, resource: Resource) -> Reply:
    values = to_storage(resource, parse_body(call.body), ext=api == EXT, resolve=link_resolver(rt))
    check_mandatory(resource, values)
    try:
        row = rt.store.insert(resource, values)
    except DuplicateKey:
        raise _duplicate(resource, values) from None
    rt.engine_calls.record(resource.name, "insert")
    return Reply(201, _output(rt, api, resource, row))


def _record(rt: Runtime, call: Call, api: str, resource: Resource, row_id: int) -> Reply:
    current = rt.store.get(resource, row_id)
    if current is None:
        raise _not_found(resource, call.segments[-1])
    pkey = current["pkey"]
    if call.method == "GET":
        return Reply(200, _output(rt, api, resource, current))
    if call.method == "DELETE":
        rt.store.delete(resource, current)
        rt.engine_calls.record(resource.name, "delete")
        return Reply(200)
    if call.method != "PATCH":
        raise _method_not_allowed(call)
    values = to_storage(resource, parse_body(call.body), ext=api == EXT, resolve=link_resolver(rt))
    key = resource.key
    if key and key in values and current[key] is not None and values[key] != current[key]:
        raise app_error(
            f"RST-360012 Inconsistent operation on resource '{resource.name}' \N{EN DASH} "
            f"Cannot update key '{current[key]}' to '{values[key]}'."
        )
    check_mandatory(resource, {**current, **values})
    try:
        updated = rt.store.update(resource, current, values)
    except DuplicateKey:
        raise _duplicate(resource, values) from None
    rt.engine_calls.record(resource.name, "identical_update" if updated is None else "update")
    return Reply(200, {"PKey": pkey, "href": builder(resource, api).href(rt.href_base, pkey)})
