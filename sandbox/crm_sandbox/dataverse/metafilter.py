"""`$filter`/`$select`/`$expand` over metadata definitions (plain dicts).

Metadata filters use the same OData grammar as data queries plus enum literals
(`Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'`) and managed/complex property paths
(`CanChangeTrackingBeEnabled/Value`); they are evaluated in Python over the small, fixed
set of definitions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from odata_query import ast
from odata_query.visitor import NodeVisitor

from .errors import PROPERTY_NOT_FOUND, DataverseError
from .odata import parse_filter, substitute_aliases

_ENUM_LITERAL = re.compile(r"\b[A-Za-z_][\w.]*\.[A-Za-z_]\w*'([^']*)'")


def _strip_enum_literals(text: str) -> str:
    """`Microsoft.Dynamics.CRM.X'Value'` → `'Value'` (enum members compare as their names)."""
    return _ENUM_LITERAL.sub(lambda m: "'" + m.group(1) + "'", text)


def missing_property(type_name: str, name: str) -> DataverseError:
    """ODataLib's error for an unknown property of a metadata type."""
    return DataverseError(
        400,
        PROPERTY_NOT_FOUND,
        f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{type_name}'.",
    )


class _Evaluator(NodeVisitor):
    def __init__(self, obj: Mapping[str, Any], type_name: str, known: set[str]) -> None:
        self.obj = obj
        self.type_name = type_name
        self.known = known

    def generic_visit(self, node: ast._Node) -> Any:
        raise DataverseError(
            400, PROPERTY_NOT_FOUND, f"The query node {type(node).__name__} is not supported."
        )

    def visit_Identifier(self, node: ast.Identifier) -> Any:
        if node.name not in self.known:
            raise missing_property(self.type_name, node.name)
        return self.obj.get(node.name)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        owner = self.visit(node.owner)
        return owner.get(node.attr) if isinstance(owner, Mapping) else None

    def visit_String(self, node: ast.String) -> Any:
        return node.val

    def visit_Integer(self, node: ast.Integer) -> Any:
        return int(node.val)

    def visit_Float(self, node: ast.Float) -> Any:
        return float(node.val)

    def visit_Boolean(self, node: ast.Boolean) -> Any:
        return node.val.lower() == "true"

    def visit_Null(self, node: ast.Null) -> Any:
        return None

    def visit_GUID(self, node: ast.GUID) -> Any:
        return str(node.val).lower()

    def visit_List(self, node: ast.List) -> Any:
        return [self.visit(v) for v in node.val]

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        if isinstance(node.op, ast.And):
            return bool(self.visit(node.left)) and bool(self.visit(node.right))
        return bool(self.visit(node.left)) or bool(self.visit(node.right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        if isinstance(node.op, ast.Not):
            return not self.visit(node.operand)
        return self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(left, str) and isinstance(right, str):
            left, right = left.lower(), right.lower()
        op = type(node.comparator)
        if op is ast.Eq:
            return left == right
        if op is ast.NotEq:
            return left != right
        if op is ast.In:
            return left in (right or [])
        if left is None or right is None:
            return False
        return {
            ast.Lt: left < right,
            ast.LtE: left <= right,
            ast.Gt: left > right,
            ast.GtE: left >= right,
        }[op]

    def visit_Call(self, node: ast.Call) -> Any:
        name = node.func.name
        args = [self.visit(a) for a in node.args]
        if name in ("contains", "startswith", "endswith") and all(isinstance(a, str) for a in args):
            text, part = args[0].lower(), args[1].lower()
            return {
                "contains": part in text,
                "startswith": text.startswith(part),
                "endswith": text.endswith(part),
            }[name]
        return self.generic_visit(node)


def compile_meta_filter(
    text: str | None, aliases: Mapping[str, str] | None = None
) -> ast._Node | None:
    """Parse a metadata `$filter` (None when absent)."""
    if not text:
        return None
    return parse_filter(_strip_enum_literals(substitute_aliases(text, aliases or {})))


def matches(
    node: ast._Node | None, obj: Mapping[str, Any], type_name: str, known: set[str]
) -> bool:
    """Evaluate a parsed filter against one definition."""
    return node is None or bool(_Evaluator(obj, type_name, known).visit(node))


def select(
    obj: Mapping[str, Any], fields: list[str] | None, always: tuple[str, ...] = ("MetadataId",)
) -> dict[str, Any]:
    """Project a definition on `$select` (keys in the definition's order; MetadataId kept)."""
    if not fields:
        return dict(obj)
    keep = set(fields) | set(always) | {"@odata.type"}
    return {k: v for k, v in obj.items() if k in keep}


def parse_select_list(text: str | None, known: set[str], type_name: str) -> list[str] | None:
    """`$select` names, each checked against the type's properties."""
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in known:
            raise missing_property(type_name, name)
    return names


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on `sep` outside parentheses and quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == sep and depth == 0 and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def parse_expand(text: str | None) -> dict[str, dict[str, str]]:
    """`$expand=A($select=x;$filter=y),B` → {"A": {"$select": "x", "$filter": "y"}, "B": {}}."""
    out: dict[str, dict[str, str]] = {}
    for item in split_top_level(text or "", ","):
        name, _, rest = item.partition("(")
        options: dict[str, str] = {}
        if rest:
            for opt in split_top_level(rest[:-1], ";"):
                key, _, value = opt.partition("=")
                options[key.strip()] = value.strip()
        out[name.strip()] = options
    return out
