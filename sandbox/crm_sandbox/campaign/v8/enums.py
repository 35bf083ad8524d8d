"""Enumerations over SOAP: `xtk:enum` documents written and queried (`xtk:enum`, `xtk:enumValue`).

Writes: an `<enum xtkschema="xtk:enum" name=… label=… basetype=…>` document with `<value name
label value enabled/>` children, reconciled on `@name` (see `enumerations` for `_operation` and
Replace Yes/No). Queries: `xtk:enum` (nodes `@name`, `@label`, `@basetype`, `value` = the values)
or `xtk:enumValue` (`@name`, `@label`, `@value`, `@enabled`, `[enum/@name]`), conditions
`<expr> = '<text>'` (or `<>`) joined by AND, operations get / getIfExists / select / count,
`lineCount` / `startLine`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crm_sandbox.campaign.enumerations import EnumChange, EnumError, ValueChange
from crm_sandbox.campaign.schema import Enumeration

from .envelope import local, method_error

if TYPE_CHECKING:
    from crm_sandbox.campaign.runtime import Runtime

SCHEMAS = ("xtk:enum", "xtk:enumValue")
_CONDITION = re.compile(r"^\s*(@\w+|\[enum/@name\])\s*(=|<>|!=)\s*'((?:[^'\\]|\\.)*)'\s*$")
_ENUM_NODES = ("@name", "@label", "@basetype", "value")
_VALUE_NODES = ("@name", "@label", "@value", "@enabled", "[enum/@name]")


def _flag(raw: str | None, what: str) -> bool | None:
    if raw is None:
        return None
    if raw.lower() in ("1", "true"):
        return True
    if raw.lower() in ("0", "false"):
        return False
    raise EnumError(f"Invalid {what} '{raw}' (0, 1, true or false).")


def _enum_change(doc: ET.Element, schema: str | None) -> EnumChange:
    schema = doc.get("xtkschema") or schema
    if schema != "xtk:enum" or local(doc.tag) != "enum":  # no mixed collections
        raise EnumError(
            f"The sandbox writes 'xtk:enum' documents only (got '{local(doc.tag)}', "
            f"schema '{schema}')."
        )
    if doc.get("_key", "@name").replace(" ", "") != "@name":
        raise EnumError("Enumerations are reconciled on '@name' only (_key).")
    values = tuple(
        ValueChange(
            name=v.get("name", ""),
            label=v.get("label"),
            value=v.get("value"),
            enabled=_flag(v.get("enabled"), "enabled flag"),
            operation=v.get("_operation"),
        )
        for v in doc
        if local(v.tag) == "value"
    )
    return EnumChange(
        name=doc.get("name", ""),
        label=doc.get("label"),
        basetype=doc.get("basetype"),
        operation=doc.get("_operation", "insertOrUpdate"),
        values=values,
    )


def write(
    rt: Runtime, items: list[tuple[str | None, ET.Element]], method: str, service: str
) -> None:
    """Apply `xtk:enum` documents, all or none."""
    try:
        rt.store.model.write_enumerations([_enum_change(el, schema) for schema, el in items])
    except EnumError as exc:
        raise method_error(method, service, str(exc)) from None


@dataclass(frozen=True)
class _Query:
    schema: str
    operation: str
    nodes: tuple[str, ...]
    conditions: tuple[tuple[str, str, str], ...]  # (expr, operator, text)
    line_count: int | None
    start_line: int


def _query(query_def: ET.Element) -> _Query:
    if local(query_def.tag) != "queryDef":
        raise EnumError("The 'entity' parameter must hold a queryDef element.")
    schema = query_def.get("schema", "")
    allowed = {"xtk:enum": _ENUM_NODES, "xtk:enumValue": _VALUE_NODES}.get(schema)
    if allowed is None:
        raise EnumError(f"The sandbox queries 'xtk:enum' and 'xtk:enumValue' only, not '{schema}'.")
    operation = query_def.get("operation", "select")
    if operation not in ("get", "getIfExists", "select", "count"):
        raise EnumError(f"Invalid operation '{operation}'.")
    nodes = []
    for part in query_def:
        if local(part.tag) == "select":
            for node in part:
                expr = node.get("expr", "").strip()
                if expr not in allowed:
                    raise EnumError(f"XTK-170036 Unable to parse expression '{expr}'.")
                nodes.append(expr)
    conditions = []
    for part in query_def:
        if local(part.tag) != "where":
            continue
        for cond in part:
            expr = cond.get("expr", "")
            match = _CONDITION.match(expr)
            if (
                match is None
                or match.group(1) not in allowed
                or cond.get("boolOperator", "AND").upper() != "AND"
            ):
                raise EnumError(f"XTK-170036 Unable to parse expression '{expr}'.")
            op = "=" if match.group(2) == "=" else "<>"
            conditions.append((match.group(1), op, re.sub(r"\\(.)", r"\1", match.group(3))))
    try:
        line_count = int(query_def.get("lineCount", "0")) or None
        start_line = int(query_def.get("startLine", "0"))
    except ValueError:
        raise EnumError("lineCount and startLine must be integers.") from None
    if operation != "count" and not nodes:
        raise EnumError("The query selects no node.")
    return _Query(schema, operation, tuple(nodes), tuple(conditions), line_count, start_line)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _rows(enums: list[Enumeration], q: _Query) -> list[dict[str, object]]:
    """Candidate rows as {expr: value} (enum rows carry their values under 'value')."""
    if q.schema == "xtk:enum":
        return [
            {
                "@name": e.id,
                "@label": e.label,
                "@basetype": e.basetype,
                "value": e.values,
            }
            for e in enums
        ]
    return [
        {
            "@name": v.name,
            "@label": v.label,
            "@value": v.value,
            "@enabled": v.enabled,
            "[enum/@name]": e.id,
        }
        for e in enums
        for v in e.values
    ]


def _matches(row: dict[str, object], conditions: tuple[tuple[str, str, str], ...]) -> bool:
    return all((_text(row[expr]) == text) == (op == "=") for expr, op, text in conditions)


def _element(tag: str, row: dict[str, object], nodes: tuple[str, ...]) -> ET.Element:
    out = ET.Element(tag)
    for expr in nodes:
        if expr == "value":
            for v in row["value"]:  # type: ignore[attr-defined]
                ET.SubElement(
                    out,
                    "value",
                    {
                        "name": v.name,
                        "label": v.label,
                        "value": _text(v.value),
                        "enabled": _text(v.enabled),
                    },
                )
        elif expr == "[enum/@name]":
            ET.SubElement(out, "enum", {"name": _text(row[expr])})
        else:
            out.set(expr[1:], _text(row[expr]))
    return out


def execute(rt: Runtime, query_def: ET.Element) -> ET.Element:
    """Run a queryDef on `xtk:enum` or `xtk:enumValue`; return the output document."""
    try:
        q = _query(query_def)
    except EnumError as exc:
        raise method_error("ExecuteQuery", "xtk:queryDef", str(exc)) from None
    enums = sorted(rt.store.model.enumerations.values(), key=lambda e: e.id)
    rows = [r for r in _rows(enums, q) if _matches(r, q.conditions)]
    tag = "enum" if q.schema == "xtk:enum" else "enumValue"
    if q.operation == "count":
        output = ET.Element(tag, {"count": str(len(rows))})
    elif q.operation == "select":
        rows = rows[q.start_line :]
        if q.line_count is not None:
            rows = rows[: q.line_count]
        output = ET.Element(f"{tag}-collection")
        output.extend(_element(tag, r, q.nodes) for r in rows)
    elif rows:
        output = _element(tag, rows[0], q.nodes)
    elif q.operation == "getIfExists":
        output = ET.Element(tag)
    else:
        raise method_error(
            "ExecuteQuery", "xtk:queryDef", f"No document of type '{q.schema}' matches the query."
        )
    return output
