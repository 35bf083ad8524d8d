"""Per-stream write options of the `resources` setting (Adobe's self-service mapping switches).

- `create_only`: fields written when the Campaign record is created, never on updates
  (Adobe's "apply updates" switch turned off); the no-op detection ignores them too.
- `replacements`: value replacements per field, after the stream maps, before validation.
- `deletes`: overrides the global `apply_deletes` for the stream.
- `delete_filtered_out`: a record whose `_sdc_filtered_out` (a stream-map expression) is
  true deletes its Campaign record instead of being skipped.
- `missing_parent`: what a record whose link's parent has no Campaign record gets: `reject`
  (the default) or `skip` (counted `skipped_no_parent`, for children of parents a filter
  leaves out). A parent filtered out in the same run always makes its children filtered out.
- `adopt_by`: a Campaign field (e.g. `email`) matching a record without a Campaign record to
  a profile created in Campaign (no CRM id). The one unlinked record with the same value
  (case-insensitive) is updated and given the CRM id instead of a new record being created:
  Campaign Classic's "Export to CRM" round trip (`docs/export-to-crm.md`).

Field mapping itself stays in the SDK's stream maps, which the target applies first.
"""

from __future__ import annotations

import copy
import typing as t
from dataclasses import dataclass, field

from singer_sdk import typing as th

from target_adobe_campaign.payload import FILTERED_OUT, SDC_PREFIX
from target_adobe_campaign.replacements import DEFAULT, FieldReplacements

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

SCALAR = {"type": ["string", "number", "boolean", "null"]}
MISSING_PARENT = ("reject", "skip")

OPTION_PROPERTIES = (
    th.Property(
        "create_only",
        th.ArrayType(th.StringType),
        description="Campaign fields (or link names) written when the record is created, "
        "never on updates",
    ),
    th.Property(
        "replacements",
        th.ObjectType(
            additional_properties=th.ObjectType(additional_properties=th.CustomType(SCALAR))
        ),
        description="Campaign field -> {incoming value: replacement}, applied after the stream "
        f"maps; values match on their string form; '{DEFAULT}' replaces every other non-null "
        "value",
    ),
    th.Property(
        "deletes",
        th.BooleanType,
        description="Apply this stream's _sdc_deleted_at deletes (overrides apply_deletes)",
    ),
    th.Property(
        "delete_filtered_out",
        th.BooleanType,
        description=f"Delete the Campaign record of a record whose {FILTERED_OUT} is true "
        "(otherwise such records are skipped)",
    ),
    th.Property(
        "missing_parent",
        th.StringType(allowed_values=list(MISSING_PARENT)),
        description="A record whose link's parent is not in Campaign: 'reject' (default) or "
        "'skip' (counted skipped_no_parent; for children of filtered-out parents)",
    ),
    th.Property(
        "adopt_by",
        th.StringType,
        description="Campaign field (e.g. email) matching a record new to Campaign with the one "
        "record without a CRM id holding the same value (case-insensitive): that record is "
        "updated and given the CRM id (counted adopted) instead of a duplicate being created",
    ),
)
#: Former option names, with the name to use instead.
RENAMED = {"create_only_fields": "create_only"}


class StreamOptionsError(Exception):
    """A stream's options do not fit the stream's schema (found when its SCHEMA arrives)."""


@dataclass(frozen=True)
class WriteOptions:
    """How one stream's records are written, beyond routing."""

    create_only: frozenset[str] = frozenset()
    replacements: Mapping[str, FieldReplacements] = field(default_factory=dict, hash=False)
    deletes: bool | None = None  # None: the global apply_deletes
    delete_filtered_out: bool = False
    missing_parent: str = "reject"
    adopt_by: str | None = None

    def applies_deletes(self, apply_deletes: bool) -> bool:
        """Whether `_sdc_deleted_at` records delete: `deletes`, else the global setting."""
        return apply_deletes if self.deletes is None else self.deletes


def parse_options(
    stream: str, spec: Mapping[str, t.Any], *, key: str, link_fields: Mapping[str, str]
) -> tuple[WriteOptions, list[str]]:
    """Read a `resources` entry's write options, with every error found.

    `link_fields` maps each link's record field to the link's name.
    """
    errors: list[str] = []
    where = f"resources.{stream}"
    create_only = spec.get("create_only") or []
    for name in create_only:
        if name == key:
            errors.append(
                f"{where}.create_only: '{name}' is the key, which is always written (it "
                "identifies the record)"
            )
        elif name.startswith(SDC_PREFIX):
            errors.append(f"{where}.create_only: '{name}' is Singer metadata, never written")
        elif name in link_fields:
            errors.append(
                f"{where}.create_only: '{name}' holds the parent's CRM id of link "
                f"'{link_fields[name]}'; name the link ('{link_fields[name]}') instead"
            )
    replacements: dict[str, FieldReplacements] = {}
    for name, table in (spec.get("replacements") or {}).items():
        field_errors = _replacement_errors(f"{where}.replacements.{name}", name, table, key)
        errors += field_errors
        if not field_errors:
            replacements[name] = FieldReplacements(dict(table))
    adopt_by = spec.get("adopt_by")
    if adopt_by is not None and (adopt_by == key or not str(adopt_by).strip()):
        errors.append(
            f"{where}.adopt_by must be a Campaign field other than the key '{key}', "
            f"got {adopt_by!r}"
        )
    for option in ("deletes", "delete_filtered_out"):
        value = spec.get(option)
        if value is not None and not isinstance(value, bool):
            errors.append(f"{where}.{option} must be true or false, got {value!r}")
    options = WriteOptions(
        create_only=frozenset(create_only),
        replacements=replacements,
        deletes=spec.get("deletes"),
        delete_filtered_out=bool(spec.get("delete_filtered_out")),
        missing_parent=spec.get("missing_parent") or "reject",  # the schema checks it
        adopt_by=adopt_by or None,
    )
    return options, errors


def _replacement_errors(where: str, name: str, table: t.Any, key: str) -> list[str]:
    if name == key:
        return [f"{where}: the key cannot be replaced (it identifies the record)"]
    if name.startswith(SDC_PREFIX):
        return [f"{where}: '{name}' is Singer metadata, never written"]
    if not isinstance(table, dict):
        return [
            f"{where} must be an object {{incoming value: replacement}}, got {type(table).__name__}"
        ]
    return [
        f"{where}.{incoming}: a replacement must be a string, number, boolean or null, got "
        f"{type(value).__name__}"
        for incoming, value in table.items()
        if value is not None and not isinstance(value, str | int | float | bool)
    ]


def unknown_option_errors(
    stream: str, spec: Mapping[str, t.Any], known: Iterable[str]
) -> list[str]:
    """Name every option of a `resources` entry that the target does not know."""
    names = set(known)
    errors = []
    for option in spec:
        if option in names:
            continue
        hint = f" (renamed '{RENAMED[option]}')" if option in RENAMED else ""
        errors.append(
            f"resources.{stream}.{option}: unknown option{hint}; known: {', '.join(sorted(names))}"
        )
    return errors


def schema_errors(
    stream: str, options: WriteOptions, properties: Mapping[str, t.Any], link_names: Iterable[str]
) -> list[str]:
    """Check the options against the stream's schema (its properties after the stream maps)."""
    where = f"resources.{stream}"
    writable = set(properties) | set(link_names)
    errors = [
        f"{where}.create_only: '{name}' is neither a property of stream '{stream}' nor a link"
        for name in sorted(options.create_only)
        if name not in writable
    ]
    errors += [
        f"{where}.replacements: '{name}' is not a property of stream '{stream}'"
        for name in sorted(options.replacements)
        if name not in properties
    ]
    if options.adopt_by and options.adopt_by not in properties:
        errors.append(
            f"{where}.adopt_by: '{options.adopt_by}' is not a property of stream '{stream}'"
        )
    if options.delete_filtered_out and FILTERED_OUT not in properties:
        errors.append(
            f"{where}.delete_filtered_out needs a '{FILTERED_OUT}' property in stream "
            f"'{stream}' (a stream-map expression that is true for records to delete)"
        )
    return errors


def prepare_schema(schema: Mapping[str, t.Any], options: WriteOptions) -> dict[str, t.Any]:
    """Return the schema records are validated against once `prepare_record` ran."""
    prepared = copy.deepcopy(dict(schema))
    properties = prepared.setdefault("properties", {})
    for name, replacements in options.replacements.items():
        if name in properties:
            properties[name] = replacements.widen(properties[name])
    if FILTERED_OUT in properties:  # any expression: its truth value is what counts
        properties[FILTERED_OUT] = {"type": ["boolean", "null"]}
    return prepared


def prepare_record(record: dict[str, t.Any], options: WriteOptions) -> None:
    """Apply the replacements and reduce `_sdc_filtered_out` to a boolean, in place."""
    for name, replacements in options.replacements.items():
        if name in record:
            record[name] = replacements.replace(record[name])
    if FILTERED_OUT in record:
        record[FILTERED_OUT] = bool(record[FILTERED_OUT])
