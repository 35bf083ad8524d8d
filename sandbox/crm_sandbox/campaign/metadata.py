"""Resource metadata: `/<api>/resourceType/<name>`, its filters, and the API root listings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .pkeys import Sealer
from .schema import (
    DATE,
    DATETIME,
    DOUBLE,
    ENUM,
    INTEGER,
    ITEM,
    LINK,
    Field,
    Filter,
    Resource,
)

EXT = "profileAndServicesExt"
_TYPES = {INTEGER: "number", DOUBLE: "number", ENUM: "enumeration", LINK: "link", ITEM: "item"}


def field_metadata(f: Field) -> dict[str, Any]:
    """One entry of a resource's `content` node."""
    res_type = f.kind
    if f.kind == ENUM and f.enum is not None:
        res_type = "byte" if f.enum.numeric else "string"
    out: dict[str, Any] = {
        "apiName": f.name,
        "category": "Custom fields" if f.name.startswith("cus") else "Profile",
        "dataPolicy": f.data_policy,
        "label": f.label,
        "mandatory": f.mandatory,
        "readOnly": f.read_only,
        "resType": res_type,
        "sortable": f.sortable,
        "type": _TYPES.get(f.kind, f.kind),
    }
    if f.length is not None:
        out["length"] = f.length
    if f.enum is not None:  # the stored enumeration's writable values
        out["values"] = {
            v.name: {"label": v.label, "name": v.name, "value": v.value}
            for v in f.enum.values
            if v.enabled
        }
    if f.target is not None:
        out["resTarget"] = f.target
    if f.children:
        out["content"] = {c.name: field_metadata(c) for c in f.children}
    return out


def type_pkey(sealer: Sealer, api: str, resource: Resource) -> str:
    """PKey of a resource type (used in its `filters` href)."""
    return sealer.seal(b"resourceType", f"{api}/{resource.name}".encode())


def resource_type(sealer: Sealer, api: str, resource: Resource, base: str) -> dict[str, Any]:
    """`GET /<api>/resourceType/<name>`."""
    fields = resource.visible(api == EXT)
    pkey = type_pkey(sealer, api, resource)
    return {
        "PKey": pkey,
        "content": {f.name: field_metadata(f) for f in fields},
        "data": f"/{api}/{resource.name}/",
        "filters": {"href": f"{base}/{api}/resourceType/{pkey}/filters/"},
        "help": resource.help,
        "href": f"{base}/{api}/resourceType/{resource.name}",
        "label": resource.label,
        "mandatory": False,
        "name": resource.name,
        "pkgStatus": "never",
        "readOnly": False,
        "schema": resource.schema,
        "type": "item",
    }


def _parameter_metadata(resource: Resource, flt: Filter, param: str) -> dict[str, Any]:
    """Describe a filter parameter, typed like the field its condition compares."""
    f = resource.lookup(flt.field) if param == flt.params[0] and flt.name != "byText" else None
    kind = f.kind if f is not None and f.kind in (DATE, DATETIME) else "string"
    return {"apiName": param, "label": param, "resType": kind, "type": kind}


def filters(sealer: Sealer, api: str, resource: Resource, base: str) -> dict[str, Any]:
    """`GET /<api>/resourceType/<type PKey>/filters/`."""
    content = []
    for flt in resource.filters:
        if flt.ext_only and api != EXT:
            continue
        query = "&".join(f"{p}=$value" for p in flt.params if p != "filterType")
        content.append(
            {
                "PKey": sealer.seal(b"filter", f"{resource.name}/{flt.name}".encode()),
                "category": "Custom filters" if flt.custom else "Out-of-the-box filters",
                "condition": "",
                "data": f"/{api}/{resource.name}/{flt.name}?{query}",
                "formType": "none",
                "fragmentName": "",
                "label": flt.label,
                "metadata": {p: _parameter_metadata(resource, flt, p) for p in flt.params},
                "name": flt.name,
            }
        )
    return {"content": content}


def api_root(resources: Iterable[Resource], api: str, base: str) -> dict[str, Any]:
    """`GET /<api>/`: the resources of the endpoint (Ext adds custom resources)."""
    out: dict[str, Any] = {"apiName": "resourceType"}
    for resource in resources:
        if resource.custom and api != EXT:
            continue
        out[resource.name] = {
            "content": f"{base}/{api}/{resource.name}/",
            "data": f"/{api}/{resource.name}/",
            "help": resource.help,
            "href": f"{base}/{api}/{resource.name}/metadata",
            "name": resource.name,
            "type": "collection",
        }
    return out


def resource_of_type_pkey(
    sealer: Sealer, resources: Mapping[str, Resource], api: str, pkey: str
) -> Resource | None:
    """Return the resource whose type PKey is `pkey` on this endpoint."""
    payload = sealer.open(b"resourceType", pkey)
    if payload is None:
        return None
    owner, _, name = payload.decode().partition("/")
    return resources.get(name) if owner == api else None
