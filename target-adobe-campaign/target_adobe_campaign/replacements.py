"""Declarative value replacements of one Campaign field (`resources.<stream>.replacements`).

They run after the stream maps and before validation: `{"1": "male", "2": "female"}` turns
the value 1 (or "1") into "male". Values match on their plain string form (`1`, `2.5`,
`true`, `null`, `Female`); unmatched values pass through, unless a `__default__` entry
replaces every unmatched non-null value. A list (a multi-select choice) is replaced item by
item.
"""

from __future__ import annotations

import decimal
import math
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT = "__default__"

#: JSON Schema keywords that constrain a value; dropped from a replaced field's schema,
#: since the replacement, not the source column, decides what reaches Campaign.
VALUE_CONSTRAINTS = (
    "enum",
    "const",
    "maxLength",
    "minLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
)


def match_form(value: t.Any) -> str:
    """Return the string a value is matched on: its plain (JSON-like) form.

    `1`, `1.0`, `Decimal("1")` and `"1"` all give `"1"`; `True` gives `"true"`; `None`
    gives `"null"`.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | decimal.Decimal):
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        if isinstance(value, decimal.Decimal):
            return format(value.normalize(), "f")
        return repr(value)
    return str(value)


def json_type(value: t.Any) -> str:
    """Return the JSON Schema type of a replacement value (a string, number, boolean or null)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | decimal.Decimal):
        return "number"
    return "string"


@dataclass(frozen=True)
class FieldReplacements:
    """The replacement table of one field."""

    table: Mapping[str, t.Any] = field(default_factory=dict, hash=False)

    def replace(self, value: t.Any) -> t.Any:
        """Return the replacement of `value` (or of each item of a list)."""
        if isinstance(value, list):
            return [self.replace(item) for item in value]
        form = match_form(value)
        if form in self.table and form != DEFAULT:
            return self.table[form]
        if value is not None and DEFAULT in self.table:
            return self.table[DEFAULT]
        return value

    def widen(self, property_schema: Mapping[str, t.Any]) -> dict[str, t.Any]:
        """Return the field's schema admitting the replacement values too.

        The source column's type stays (unmatched values pass through); its value
        constraints go. A schema without a plain `type` (e.g. `anyOf`) becomes `{}` (any).
        """
        declared = property_schema.get("type")
        if declared is None:
            return {}
        types = {declared} if isinstance(declared, str) else set(declared)
        types |= {json_type(value) for value in self.table.values()}
        if "integer" in types and "number" in types:
            types.discard("integer")
        widened = {k: v for k, v in property_schema.items() if k not in VALUE_CONSTRAINTS}
        if isinstance(widened.get("items"), dict):  # a list is replaced item by item
            widened["items"] = self.widen(widened["items"])
        widened["type"] = sorted(types)
        return widened
