"""`xtk:persist#GetEntityIfMoreRecent`: compiled schemas (`xtk:schema|<id>`) and source schemas.

Adobe's JS SDK loads a method's definition from its schema before calling it (`pk`
`xtk:schema|xtk:session`, `md5` "", `mustExist` false) and reads `<methods>` / `<interface>`
(`static`, `const`, `<param name type inout>`). Answer: `pdomDoc` holding the entity, or an
empty `pdomDoc` when it is unknown (and `mustExist` is false) or when `md5` equals the
entity's md5 (it is not more recent). Data schemas list their enumerations, key, attributes
(`type`, `length`, `enum` for a local enumeration, `dbEnum` for another stored one), sub-elements
and links (`type="link" target=…`). The method schemas list what the sandbox serves.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

from .model import XtkSchema

_P = tuple[str, str, str]  # (name, type, inout)
_METHODS: dict[str, tuple[str, tuple[tuple[str, bool, bool, tuple[_P, ...]], ...]]] = {
    # schema id: (implements, ((method, static, const, params), ...))
    "xtk:session": (
        "xtk:persist",
        (
            (
                "Logon",
                True,
                False,
                (
                    ("login", "string", "in"),
                    ("password", "string", "in"),
                    ("parameters", "DOMElement", "in"),
                    ("sessionToken", "string", "out"),
                    ("sessionInfo", "DOMElement", "out"),
                    ("securityToken", "string", "out"),
                ),
            ),
            (
                "BearerTokenLogon",
                True,
                False,
                (
                    ("bearerToken", "string", "in"),
                    ("sessionToken", "string", "out"),
                    ("sessionInfo", "DOMElement", "out"),
                    ("securityToken", "string", "out"),
                ),
            ),
            ("Logoff", True, False, ()),
            ("GetUserInfo", True, False, (("userInfo", "DOMElement", "out"),)),
        ),
    ),
    "xtk:queryDef": (
        "",
        (("ExecuteQuery", False, True, (("output", "DOMDocument", "out"),)),),
    ),
    "xtk:builder": (
        "",
        (("BuildSchemaFromId", True, False, (("schemaId", "string", "in"),)),),
    ),
}
# The xtk:persist interface, listed in xtk:session (which implements it), as Campaign does.
_PERSIST = (
    ("Write", True, False, (("doc", "DOMDocument", "in"),)),
    ("WriteCollection", True, False, (("doc", "DOMDocument", "in"),)),
    (
        "GetEntityIfMoreRecent",
        True,
        False,
        (
            ("pk", "string", "in"),
            ("md5", "string", "in"),
            ("mustExist", "boolean", "in"),
            ("doc", "DOMDocument", "out"),
        ),
    ),
)
METHOD_SCHEMAS = frozenset(_METHODS)


def _methods(
    parent: ET.Element, methods: tuple[tuple[str, bool, bool, tuple[_P, ...]], ...]
) -> None:
    for name, static, const, params in methods:
        method = ET.SubElement(parent, "method", {"name": name})
        if static:
            method.set("static", "true")
        if const:
            method.set("const", "true")
        if params:
            holder = ET.SubElement(method, "parameters")
            for pname, ptype, inout in params:
                ET.SubElement(holder, "param", {"name": pname, "type": ptype, "inout": inout})


def method_schema(schema_id: str) -> ET.Element:
    """Return a method schema (`xtk:session`, `xtk:queryDef`, `xtk:builder`)."""
    namespace, name = schema_id.split(":")
    implements, methods = _METHODS[schema_id]
    root = ET.Element("schema", {"namespace": namespace, "name": name, "xtkschema": "xtk:schema"})
    if implements:
        root.set("implements", implements)
        _methods(ET.SubElement(root, "interface", {"name": "persist"}), _PERSIST)
    ET.SubElement(root, "element", {"name": name})
    _methods(ET.SubElement(root, "methods"), methods)
    return root


def data_schema(schema: XtkSchema) -> ET.Element:
    """Return a compiled data schema."""
    namespace, name = schema.id.split(":")
    root = ET.Element(
        "schema",
        {
            "namespace": namespace,
            "name": name,
            "label": schema.label,
            "labelSingular": schema.label_singular,
            "mappingType": "sql",
            "xtkschema": "xtk:schema",
        },
    )
    local_enums = {
        a.enum.id: a.enum for a in schema.attrs if a.enum and a.enum.id.startswith(f"{schema.id}:")
    }
    for enum in local_enums.values():
        el = ET.SubElement(
            root,
            "enumeration",
            {"name": enum.id.rsplit(":", 1)[1], "basetype": enum.basetype, "label": enum.label},
        )
        for v in enum.values:
            ET.SubElement(el, "value", {"name": v.name, "label": v.label, "value": str(v.value)})
    element = ET.SubElement(
        root, "element", {"name": name, "label": schema.label, "autopk": "true"}
    )
    key = ET.SubElement(element, "key", {"name": "id", "internal": "true"})
    ET.SubElement(key, "keyfield", {"xpath": "@id"})
    if schema.key:
        key = ET.SubElement(element, "key", {"name": schema.key[0]})
        for attr_name in schema.key:
            ET.SubElement(key, "keyfield", {"xpath": f"@{attr_name}"})
    groups: dict[str, ET.Element] = {}
    for attr in schema.attrs:
        parent = element
        if attr.group is not None:
            parent = groups.get(attr.group) or ET.SubElement(
                element, "element", {"name": attr.group}
            )
            groups[attr.group] = parent
        el = ET.SubElement(
            parent, "attribute", {"name": attr.name, "type": attr.type, "label": attr.label}
        )
        if attr.length:
            el.set("length", str(attr.length))
        if attr.enum is not None:
            if attr.enum.id in local_enums:
                el.set("enum", attr.enum.id.rsplit(":", 1)[1])
            else:
                el.set("dbEnum", attr.enum.id)
    for link in schema.links:
        ET.SubElement(
            element,
            "element",
            {"name": link.name, "type": "link", "target": link.target, "label": link.label},
        )
    return root


def with_md5(entity: ET.Element) -> tuple[ET.Element, str]:
    """Stamp an entity with the md5 of its content."""
    digest = hashlib.md5(ET.tostring(entity), usedforsecurity=False).hexdigest().upper()
    entity.set("md5", digest)
    return entity, digest
