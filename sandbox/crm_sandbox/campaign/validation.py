"""Write payloads (POST/PATCH JSON) → storage columns, with Campaign's HTTP 500 errors.

Texts documented by Adobe are reproduced verbatim (read-only property, unknown property,
enumeration value, invalid PKey); the others keep Campaign's RST-360011 envelope.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from .dates import parse_date, parse_datetime
from .errors import CampaignError, app_error
from .schema import (
    BOOLEAN,
    COLLECTION,
    DATE,
    DATETIME,
    DOUBLE,
    ENUM,
    INTEGER,
    ITEM,
    LINK,
    STRING,
    Field,
    Resource,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
IGNORED = frozenset({"PKey", "href"})
# Checks a link's `{"PKey": …}` and returns the PKey to store (raises the invalid-PKey error).
LinkResolver = Callable[[Field, str], str]


def parse_body(body: bytes) -> dict[str, Any]:
    """Return the JSON object of a write request."""
    try:
        payload = msgspec.json.decode(body) if body.strip() else {}
    except msgspec.DecodeError as exc:
        raise app_error(f"Unable to parse the JSON content of the request: {exc}") from None
    if not isinstance(payload, dict):
        raise app_error("The content of the request must be a JSON object.")
    return payload


def invalid_pkey(resource: Resource, pkey: str) -> CampaignError:
    """Campaign Standard's answer to a PKey it cannot decode."""
    attr = pkey.lstrip("@")
    return CampaignError(
        500,
        {
            "code": 500,
            "message": f"'{attr}' attribute unknown (see definition of '{resource.xtk_label}' "
            f"schema). XTK-170036 Unable to parse expression '@id = @{attr}'.",
        },
    )


def _invalid(resource: Resource, f: Field, value: Any, why: str) -> CampaignError:
    return app_error(
        f"Invalid value '{value}' for the '{f.name}' field ({f.label}) of the "
        f"'{resource.name}' resource: {why}."
    )


def _scalar(resource: Resource, f: Field, value: Any) -> Any:
    """Storage value of one scalar field (None stays None)."""
    if value is None:
        return f.default if f.kind in (ENUM, BOOLEAN) else None
    if f.kind == STRING:
        if not isinstance(value, str):
            raise _invalid(resource, f, value, "a string is expected")
        if value == "":
            return None
        if f.length is not None and len(value) > f.length:
            raise app_error(
                f"Value too long for field '{f.label}' ({f.name}) of the '{resource.name}' "
                f"resource: {len(value)} characters, maximum {f.length}."
            )
        if f.data_policy == "email" and not _EMAIL.match(value):
            raise app_error(f"The email address '{value}' is not valid ('{f.name}' field).")
        return value
    if f.kind == BOOLEAN:
        if not isinstance(value, bool):
            raise _invalid(resource, f, value, "a boolean is expected")
        return int(value)
    if f.kind in (INTEGER, DOUBLE):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(resource, f, value, "a number is expected")
        if f.kind == INTEGER and value != int(value):
            raise _invalid(resource, f, value, "an integer is expected")
        return int(value) if f.kind == INTEGER else float(value)
    if f.kind in (DATE, DATETIME):
        if not isinstance(value, str):
            raise _invalid(resource, f, value, "a date is expected")
        if value == "":
            return None
        moment = parse_datetime(value)
        if f.kind == DATE:
            moment = parse_date(value) or (moment and moment[:10])  # a date-time keeps its day
        if moment is None:
            raise _invalid(resource, f, value, "a date is expected")
        return moment
    assert f.enum is not None  # ENUM
    if not isinstance(value, str) or value not in f.enum.by_name:
        raise app_error(
            f"The value '{value}' is not valid for the '{f.enum.id}' enumeration of the "
            f"'@{f.name}' field"
        )
    return f.enum.by_name[value]


def to_storage(
    resource: Resource,
    payload: Mapping[str, Any],
    *,
    ext: bool,
    resolve: LinkResolver,
) -> dict[str, Any]:
    """Validate a POST/PATCH payload and return {column: value} for the fields it sets."""
    out: dict[str, Any] = {}
    for name, value in payload.items():
        if name in IGNORED:
            continue
        f = resource.lookup(name)
        if f is None or (f.ext_only and not ext):
            raise app_error(f"'{name}' property is not valid for the '{resource.name}' resource.")
        if f.kind == COLLECTION:
            continue  # a navigation link sent back from a GET, like `href`
        if f.read_only:
            raise app_error(f"Cannot update the '{name}' property that is read-only")
        if f.kind == ITEM:
            if not isinstance(value, dict):
                raise _invalid(resource, f, value, "an object is expected")
            subs = {c.name: c for c in f.children}
            for sub, sub_value in value.items():
                if sub not in subs:
                    raise app_error(f"'{sub}' property is not valid for the '{name}' resource.")
                out[subs[sub].column] = _scalar(resource, subs[sub], sub_value)
        elif f.kind == LINK:
            if value is None:
                out[f.column] = None
            elif not isinstance(value, dict):
                raise _invalid(resource, f, value, "an object with a PKey is expected")
            elif "PKey" in value:
                out[f.column] = resolve(f, str(value["PKey"]))
            # Without a PKey, Campaign Standard ignores the link information.
        else:
            out[f.column] = _scalar(resource, f, value)
    if "email" in out:
        email = out["email"]
        out["domain"] = email.rsplit("@", 1)[1].lower() if email else None
    return out


def check_mandatory(resource: Resource, row: Mapping[str, Any]) -> None:
    """Raise Campaign's error when a mandatory field of the resulting record is empty."""
    for f in resource.fields:
        if f.mandatory and row.get(f.column) in (None, ""):
            raise app_error(
                f"The '{f.label}' ({f.name}) field of the '{resource.name}' resource is "
                "mandatory and must be populated."
            )
