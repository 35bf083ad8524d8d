"""`xtk:session#Write` / `WriteCollection` on data schemas (recipients, services, `cus:*`).

As Adobe's data API documentation describes them: `_operation` `insert`, `insertOrUpdate`
(default), `update` (nothing when missing), `delete` (the document holds the key only), `none`
(reconciliation only, for links); `_key` a comma-separated list of XPaths (`@email`,
`[folder/@name]`), else `@id` when given, else the schema's own key (`@cusCrmId` of a custom
resource, `@name` of a service; `nms:recipient` has only `@id`), else an insert. A link is a
child element named after it, reconciled the same way (`<profile _key="@externalId"
externalId="C1" _operation="none"/>`); `location` is a sub-element of a recipient. The answer
carries no data (no primary key). A collection is one transaction: one bad record fails the call
and nothing is written.

[inference] Attributes the schema does not know are ignored, as XTK maps documents through the
schema; `@id`, `@created` and `@lastModified` are set by the server (the store stamps
`lastModified` only when a value changes). A link reconciled with `none` that matches nothing is
left empty. With a non-unique `_key`, the first match (lowest `@id`) is updated. The error
details and their codes are ours ([design]), except the PostgreSQL texts, which follow the shape
Adobe's documentation shows.
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from crm_sandbox.campaign.dates import parse_date, parse_datetime
from crm_sandbox.campaign.store import DuplicateKey, q

from .envelope import SoapFault, local, method_error
from .expr import ExprError, parse_path
from .model import READ_ONLY, Attr, XtkSchema

if TYPE_CHECKING:
    from crm_sandbox.campaign.runtime import Runtime

OPERATIONS = ("insert", "insertOrUpdate", "update", "delete", "none")
_SYSTEM = frozenset({"xtkschema", "id"})


class WriteError(Exception):
    """A record the instance refuses (the detail of the call's fault)."""


def _save_error(schema: XtkSchema, message: str) -> WriteError:
    return WriteError(
        f"{message} XTK-170024 Impossible to save document of type '{schema.label} ({schema.id})'."
    )


def convert(schema: XtkSchema, attr: Attr, text: str) -> Any:
    """Return an attribute's text → its stored value (WriteError when invalid)."""
    kind = attr.type
    try:
        if attr.enum is not None and text != "":
            stored = attr.enum.by_name.get(text)
            if stored is None:
                value: Any = int(text) if attr.enum.numeric else text
                enabled = {v.value for v in attr.enum.values if v.enabled}
                stored = value if value in enabled else None
            if stored is None:
                raise _save_error(
                    schema,
                    f"XTK-170012 The value '{text}' is not valid for the '{attr.enum.id}' "
                    f"enumeration of the '@{attr.name}' field.",
                )
            return stored
        if kind == "string":
            if attr.length is not None and len(text) > attr.length:
                raise _save_error(
                    schema,
                    "PGS-220000 PostgreSQL error: ERROR:  value too long for type character "
                    f"varying({attr.length})",
                )
            return text or None
        if kind == "boolean":
            flags = {"1": 1, "true": 1, "0": 0, "false": 0, "": 0}
            return flags[text.lower()]
        if kind in ("long", "byte", "short", "int64"):
            return int(text) if text else None
        if kind == "double":
            return float(text) if text else None
        if kind in ("date", "datetime"):
            if not text:
                return None
            day = parse_date(text.replace("/", "-"))
            moment = parse_datetime(text.replace("/", "-"))
            if kind == "date" and (day or moment):
                return day or (moment or "")[:10]
            if kind == "datetime" and (day or moment):
                return moment or f"{day} 00:00:00.000Z"
    except (KeyError, ValueError):
        pass
    raise _save_error(
        schema, f"XTK-170007 Invalid value '{text}' for the '@{attr.name}' field of type '{kind}'."
    )


class Writer:
    """Writes the records of one call inside one transaction."""

    def __init__(self, rt: Runtime, schemas: dict[str, XtkSchema]) -> None:
        """Write into the runtime's store."""
        self.rt = rt
        self.schemas = schemas

    def values(self, schema: XtkSchema, el: ET.Element) -> dict[str, Any]:
        """Return the stored values of a document's attributes, sub-elements and links."""
        out: dict[str, Any] = {}
        for name, text in el.attrib.items():
            attr = schema.attr(name)
            if name.startswith("_") or name in _SYSTEM or name in READ_ONLY or attr is None:
                continue
            out[attr.column] = convert(schema, attr, text)
        for child in el:
            tag = local(child.tag)
            if tag in schema.groups:
                for name, text in child.attrib.items():
                    attr = schema.attr(name, tag)
                    if attr is not None:
                        out[attr.column] = convert(schema, attr, text)
            elif (link := schema.link(tag)) is not None:
                row = self.record(self.schemas[link.target], child, "insertOrUpdate")
                out[link.column] = None if row is None else row[link.target_column]
        if "email" in out and schema.id == "nms:recipient":
            out["domain"] = out["email"].rsplit("@", 1)[-1].lower() if out["email"] else None
        return out

    def _key_columns(
        self, schema: XtkSchema, el: ET.Element, values: dict[str, Any]
    ) -> dict[str, Any] | None:
        """{column: value} identifying the record, or None (no key: insert)."""
        raw = el.get("_key")
        if raw is None:
            if el.get("id"):
                raw = "@id"
            elif schema.key and all(el.get(k) is not None for k in schema.key):
                raw = ", ".join(f"@{k}" for k in schema.key)
            else:
                return None
        out: dict[str, Any] = {}
        for text in raw.split(","):
            try:
                path = parse_path(text)
            except ExprError:
                raise WriteError(
                    f"XTK-170036 Unable to parse expression '{text.strip()}'."
                ) from None
            if path.attr == "id" and not path.steps:
                out["id"] = int(el.get("id") or 0)
                continue
            group = path.steps[0] if len(path.steps) == 1 else None
            link = schema.link(group) if group and path.attr is None else None
            if link is None and group and group not in schema.groups:
                link = schema.link(group)  # `[link/@attr]`: the link as reconciled
            attr = schema.attr(path.attr or "", group) if link is None else None
            if link is not None:
                out[link.column] = values.get(link.column)
            elif attr is not None:
                out[attr.column] = values.get(attr.column)
            else:
                raise WriteError(
                    f"XTK-170036 Unable to parse expression '{text.strip()}' "
                    f"(no such key of '{schema.id}')."
                )
        return out

    def _find(self, schema: XtkSchema, key: dict[str, Any]) -> dict[str, Any] | None:
        clauses = [f"{q(c)} IS ?" for c in key]
        sql = f"SELECT id FROM {q(schema.table)} WHERE {' AND '.join(clauses)} ORDER BY id LIMIT 1"
        row = self.rt.store.conn.execute(sql, list(key.values())).fetchone()
        if row is None or schema.resource is None:
            return None
        return self.rt.store.get(schema.resource, int(row[0]))

    def record(self, schema: XtkSchema, el: ET.Element, default: str) -> dict[str, Any] | None:
        """Write one document; return the record it ends on (None: deleted or not found)."""
        operation = el.get("_operation", default)
        if operation not in OPERATIONS:
            raise WriteError(f"XTK-170034 Invalid operation '{operation}'.")
        resource = schema.resource
        if resource is None:
            raise WriteError(f"The schema '{schema.id}' is read-only in the sandbox.")
        values = self.values(schema, el)
        key = self._key_columns(schema, el, values)
        current = self._find(schema, key) if key is not None else None
        store = self.rt.store
        try:
            if operation == "delete":
                if current is not None:
                    store.delete(resource, current)
                return None
            if operation == "none" or (operation == "update" and current is None):
                return current
            if current is not None and operation != "insert":
                return store.update(resource, current, values) or current
            return store.insert(resource, values)
        except DuplicateKey:
            raise _save_error(
                schema,
                "PGS-220000 PostgreSQL error: ERROR:  duplicate key value violates unique "
                f'constraint "{schema.table.lower()}__key"',
            ) from None


def records(doc: ET.Element, collection: bool) -> list[tuple[str | None, ET.Element]]:
    """Return (schema id, element) of each record of a Write or WriteCollection document.

    A collection's root is `<recipient-collection xtkschema=…>` (Adobe's data API samples) or
    `<recipient xtkschema=…>` (what the JS SDK sends); its children are the records.
    """
    if not collection:
        return [(doc.get("xtkschema"), doc)]
    return [(child.get("xtkschema") or doc.get("xtkschema"), child) for child in doc]


def write(
    rt: Runtime,
    schemas: dict[str, XtkSchema],
    items: list[tuple[str | None, ET.Element]],
    method: str,
    service: str,
) -> None:
    """Write data records, all or none."""
    writer = Writer(rt, schemas)
    conn = rt.store.conn
    conn.execute("BEGIN")
    try:
        for schema_id, el in items:
            schema = schemas.get(schema_id or "")
            if schema is None:
                raise WriteError(f"XTK-170006 Unknown schema '{schema_id}'.")
            writer.record(schema, el, "insertOrUpdate")
        conn.execute("COMMIT")
    except (WriteError, sqlite3.Error) as exc:
        conn.execute("ROLLBACK")
        rt.store.sizes.update(
            {
                name: int(conn.execute(f"SELECT COUNT(*) FROM {q(name)}").fetchone()[0])
                for name in rt.store.sizes
            }
        )
        raise method_error(method, service, str(exc)) from None
    except SoapFault:
        conn.execute("ROLLBACK")
        raise
