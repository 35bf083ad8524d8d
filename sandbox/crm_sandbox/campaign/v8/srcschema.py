"""Source schemas written over SOAP and built into custom tables (`xtk:builder#BuildSchemaFromId`).

As Adobe's JS SDK documentation shows ("Creating and updating schemas"): write an
`<srcSchema xtkschema="xtk:srcSchema" namespace="cus" name="foo" …>` with one root `<element
name="foo">` (`Write`; `_operation="delete"` removes it), then call
`xtk:builder#BuildSchemaFromId` with `cus:foo`. The built schema is a new table of the store: a
custom resource `cusFoo` with the attribute names as field names (`"naming": "xtk"`), served by
`ExecuteQuery` / `Write` as `cus:foo` and by the REST API under `profileAndServicesExt/cusFoo`.

Supported [design, the sandbox's subset]: attributes `string` (`length`, default 255), `memo`
(string 4000), `long`/`int`/`short`/`byte`/`int64`, `double`/`float`/`decimal`, `boolean`,
`date`, `datetime`; local `<enumeration>`s (`enum="…"` on an attribute; stored as
`cus:<name>:<attribute>`); links `<element name=… type="link" target="nms:recipient|cus:…"/>`;
exactly one non-internal `<key>` with one string `keyfield` (the reconciliation key; `@id` is the
automatic primary key). Building an already built schema again is accepted when the definition
is unchanged and refused otherwise (the sandbox cannot alter a table).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from crm_sandbox.campaign.datamodel import DefinitionError
from crm_sandbox.campaign.enumerations import EnumChange, EnumError, ValueChange

from .envelope import local, method_error
from .envelope import parse_xml as parse_stored

if TYPE_CHECKING:
    from crm_sandbox.campaign.runtime import Runtime

_TYPES = {
    "string": "string",
    "memo": "string",
    "long": "long",
    "int": "long",
    "short": "long",
    "byte": "long",
    "int64": "long",
    "double": "double",
    "float": "double",
    "decimal": "double",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
}
_META = "srcSchema:"


class BuildError(Exception):
    """A source schema the sandbox cannot write or build."""


def stored(rt: Runtime, schema_id: str) -> ET.Element | None:
    """Return a written source schema."""
    text = rt.store.meta(_META + schema_id)
    return None if text is None else parse_stored(text.encode())


def write(rt: Runtime, doc: ET.Element, method: str, service: str) -> None:
    """Store (or delete) one `xtk:srcSchema` document."""
    namespace, name = doc.get("namespace", ""), doc.get("name", "")
    if namespace != "cus" or not name[:1].islower():
        raise method_error(
            method,
            service,
            f"XTK-170006 The sandbox writes 'cus:*' source schemas only ('{namespace}:{name}').",
        )
    key = _META + f"{namespace}:{name}"
    if doc.get("_operation") == "delete":
        rt.store.conn.execute("DELETE FROM _meta WHERE key = ?", (key,))
        return
    rt.store.set_meta(key, ET.tostring(doc, encoding="unicode"))


def _enum_changes(root: ET.Element, schema_id: str) -> dict[str, EnumChange]:
    out = {}
    for enum in (e for e in root if local(e.tag) == "enumeration"):
        values = tuple(
            ValueChange(v.get("name", ""), v.get("label"), v.get("value"))
            for v in enum
            if local(v.tag) == "value"
        )
        name = enum.get("name", "")
        out[name] = EnumChange(
            f"{schema_id}:{name}",
            enum.get("label") or name,
            enum.get("basetype", "string"),
            values=values,
        )
    return out


def definition(rt: Runtime, src: ET.Element) -> tuple[dict[str, Any], list[EnumChange]]:
    """Return the custom resource definition of a source schema, and its enumerations."""
    name = src.get("name", "")
    schema_id = f"cus:{name}"
    root = next((e for e in src if local(e.tag) == "element" and e.get("name") == name), None)
    if root is None:
        raise BuildError(f"The source schema '{schema_id}' has no root element '{name}'.")
    enums = _enum_changes(src, schema_id)
    keys = [k for k in root if local(k.tag) == "key" and k.get("internal") != "true"]
    fields_ = [f for k in keys for f in k if local(f.tag) == "keyfield"]
    if len(keys) != 1 or len(fields_) != 1 or not fields_[0].get("xpath", "").startswith("@"):
        raise BuildError(
            f"The sandbox builds schemas with one key of one attribute ('{schema_id}')."
        )
    by_schema = {r.schema: r.name for r in rt.store.model.resources.values()}
    fields: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    used: list[EnumChange] = []
    for el in root:
        tag, attr_name = local(el.tag), el.get("name", "")
        if tag == "element" and el.get("type") == "link":
            target = by_schema.get(el.get("target", ""))
            if target is None:
                raise BuildError(f"Link '{attr_name}': unknown target schema '{el.get('target')}'.")
            links.append({"name": attr_name, "target": target, "label": el.get("label")})
        elif tag == "attribute" and attr_name != "id":
            kind = _TYPES.get(el.get("type", "string"))
            if kind is None:
                raise BuildError(f"Attribute '@{attr_name}': unsupported type '{el.get('type')}'.")
            spec: dict[str, Any] = {"name": attr_name, "type": kind, "label": el.get("label")}
            if el.get("type") == "memo":
                spec["length"] = 4000
            elif kind == "string":
                spec["length"] = int(el.get("length") or 255)
            if el.get("enum"):
                change = enums.get(el.get("enum", ""))
                if change is None:
                    raise BuildError(f"Attribute '@{attr_name}': unknown enumeration.")
                spec.update(type="enumeration", enumeration=change.name)
                used.append(change)
            fields.append(spec)
    resource_name = "cus" + name[0].upper() + name[1:]
    return {
        "name": resource_name,
        "label": src.get("label") or resource_name,
        "key": fields_[0].get("xpath", "")[1:],
        "naming": "xtk",
        "fields": fields,
        "links": links,
    }, used


def build(rt: Runtime, schema_id: str) -> None:
    """`xtk:builder#BuildSchemaFromId`: make a written source schema a table."""
    src = stored(rt, schema_id)
    if src is None:
        raise method_error(
            "BuildSchemaFromId", "xtk:builder", f"XTK-170006 Unknown source schema '{schema_id}'."
        )
    model = rt.store.model
    try:
        spec, enums = definition(rt, src)
        existing = model.definitions.get(spec["name"])
        if existing is not None:
            if json.dumps(existing, sort_keys=True) != json.dumps(spec, sort_keys=True):
                raise BuildError(
                    f"The sandbox cannot alter the built schema '{schema_id}' (its table exists)."
                )
            return
        missing = [e for e in enums if e.name not in model.enumerations]
        if missing:
            model.write_enumerations(missing)
        resource = model.publish(spec)
    except (BuildError, DefinitionError, EnumError) as exc:
        raise method_error("BuildSchemaFromId", "xtk:builder", str(exc)) from None
    rt.store.sizes[resource.name] = 0
