"""A resource's fields as Campaign describes them (`GET <api>/resourceType/<name>`).

Each entry of the `content` node names a field (`apiName`), its `type` (`string`, `number`,
`boolean`, `date`, `datetime`, `enumeration`, `link`, `item`, `collection`, …) and, for
numbers and enumerations, the stored type (`resType`: `long`, `double`, `byte`, `string`, …).
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from campaign_client.client import CampaignClient

#: JSON Schema of a field's value, by Campaign `type` (numbers and enumerations by `resType`).
_BY_TYPE: dict[str, dict[str, t.Any]] = {
    "string": {"type": ["string", "null"]},
    "memo": {"type": ["string", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "date": {"type": ["string", "null"], "format": "date"},
    "datetime": {"type": ["string", "null"], "format": "date-time"},
}
_INTEGERS = frozenset({"byte", "short", "long", "int64", "integer"})
_DECIMALS = frozenset({"double", "float", "decimal", "number"})


def resource_fields(client: CampaignClient, resource: str) -> dict[str, dict[str, t.Any]]:
    """Return the `content` node of `<api>/resourceType/<name>` for `resource` (`api/name`)."""
    api, _, name = resource.strip("/").rpartition("/")
    content: dict[str, dict[str, t.Any]] = (
        client.get_json(f"{api}/resourceType/{name}").get("content") or {}
    )
    return content


def value_schema(field: t.Mapping[str, t.Any]) -> dict[str, t.Any] | None:
    """Return the JSON Schema of a field's values; None for links, items and collections."""
    kind = str(field.get("type") or "")
    stored = str(field.get("resType") or "")
    if kind in _BY_TYPE:
        return dict(_BY_TYPE[kind])
    if kind in {"number", "enumeration"}:
        if stored in _INTEGERS:
            return {"type": ["integer", "null"]}
        if stored in _DECIMALS:
            return {"type": ["number", "null"]}
        if kind == "enumeration":
            return {"type": ["string", "null"]}
    return None
