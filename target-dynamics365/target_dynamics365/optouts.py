"""Campaign opt-out flags → Dynamics 365 contact `donot*` values, and what really changed."""

from __future__ import annotations

import re
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: The reverse of the D365 → Campaign default (reference §8.2): Campaign field → contact fields.
DEFAULT_OPT_OUT_MAPPING: dict[str, list[str]] = {
    "blackListEmail": ["donotbulkemail", "donotemail"],
    "blackListPhone": ["donotphone"],
    "blackListFax": ["donotfax"],
    "blackListPostalMail": ["donotpostalmail"],
}

_GUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")


def is_guid(value: str) -> bool:
    """Return True for a GUID in its usual 8-4-4-4-12 form (what `contactid` holds)."""
    return bool(_GUID.match(value))


def contact_fields(mapping: Mapping[str, Sequence[str]]) -> list[str]:
    """Return the contact columns the mapping writes, sorted and without repeats."""
    return sorted({field for fields in mapping.values() for field in fields})


def changes(
    record: Mapping[str, t.Any],
    mapping: Mapping[str, Sequence[str]],
    current: Mapping[str, t.Any],
) -> dict[str, bool]:
    """Return the contact values to write so that each Campaign flag agrees with Dynamics 365.

    A flag agrees with its columns when it equals their OR, which is how the D365 → Campaign
    mapping derives it (blackListEmail = donotbulkemail or donotemail), so a round trip writes
    nothing. A flag that disagrees sets all its columns to its value, except that a column
    another true flag maps onto stays true (an opt-out is never cleared by a sibling flag).
    Flags absent from the record (or null) leave their columns alone.
    """
    flags = {name: bool(value) for name, value in record.items() if value is not None}
    kept_true = {c for name, columns in mapping.items() if flags.get(name) for c in columns}
    out: dict[str, bool] = {}
    for name, columns in mapping.items():
        if name not in flags or flags[name] == any(current.get(c) is True for c in columns):
            continue
        for column in columns:
            value = flags[name] or column in kept_true
            if current.get(column) is not value:
                out[column] = value
    return out
