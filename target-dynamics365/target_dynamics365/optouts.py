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


def desired_values(
    record: Mapping[str, t.Any], mapping: Mapping[str, Sequence[str]]
) -> dict[str, bool]:
    """Return the contact values a profile asks for.

    A contact field takes True when any Campaign flag mapped onto it is true, False when all
    of those present are false; flags absent from the record (or null) leave it alone.
    """
    values: dict[str, bool] = {}
    for campaign_field, fields in mapping.items():
        flag = record.get(campaign_field)
        if flag is None:
            continue
        for field in fields:
            values[field] = values.get(field, False) or bool(flag)
    return values


def changes(desired: Mapping[str, bool], current: Mapping[str, t.Any]) -> dict[str, bool]:
    """Return the desired values that differ from what Dynamics 365 holds."""
    return {field: value for field, value in desired.items() if current.get(field) is not value}
