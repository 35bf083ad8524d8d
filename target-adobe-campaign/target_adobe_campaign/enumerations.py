"""Dynamics 365 choices (option sets) → Campaign enumerations, and choice fields → value names.

The `enumerations` setting says, per stream and Campaign field, which D365 choice column
(`table`, `attribute`: the keys of tap-dynamics365's `option_sets` records) feeds which Campaign
enumeration, whether its values replace Campaign's ("Replace" of Campaign Classic's CRM wizard)
or only the missing ones are added, and how value names are made (`label`: a slug of the D365
label; `value`: the technical value).

- The `option_sets` stream registers options as they arrive; `Choices.sync` then makes each
  fed enumeration agree (one SOAP read, and one write only when it changes; nothing in a dry run).
- A configured field of a record carries the D365 technical value; when its batch is written
  it becomes the matching enumeration value's name (same stored value first, then same name).
  A value Campaign does not have yet (option_sets arriving after the tables) waits until
  its option set arrived and was synchronised (`ordering.WriteOrder` holds the record back, and
  STATE with it). A value that still matches nothing is rejected, naming record and field.
- Multi-select choices (a list, or comma-separated values): Campaign enumerations hold one
  value, so by default the record is rejected naming field and values; `multi_select:
  join_labels` writes the labels joined by `separator` into a string field instead.
"""

from __future__ import annotations

import re
import typing as t
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

from campaign_client.classic import Enumeration, EnumValue, match, plan_write
from singer_sdk import typing as th

from target_adobe_campaign.options import StreamOptionsError
from target_adobe_campaign.payload import SDC_PREFIX, RecordRejectedError
from target_adobe_campaign.replacements import match_form

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Mapping

    from campaign_client.classic import EnumWrite

    from target_adobe_campaign.report import Report

OPTION_SETS_STREAM = "option_sets"
VALUE_NAMES = ("label", "value")
MULTI_SELECT = ("reject", "join_labels")
DEFAULT_SEPARATOR = ", "
#: Campaign's rule for enumeration names (`namespace:name`, e.g. `cus:leadSource`).
ENUM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_:]{0,63}$")
MAX_NAME = 64
#: basetype of an enumeration the sync creates (D365 values reach 100000000 and more).
NEW_BASETYPE = "long"

ENUMERATIONS_SETTING = th.Property(
    "enumerations",
    th.ObjectType(
        additional_properties=th.ObjectType(
            additional_properties=th.ObjectType(
                th.Property("table", th.StringType, required=True),
                th.Property("attribute", th.StringType, required=True),
                th.Property("enumeration", th.StringType),
                th.Property("replace", th.BooleanType),
                th.Property("value_names", th.StringType, allowed_values=list(VALUE_NAMES)),
                th.Property("multi_select", th.StringType, allowed_values=list(MULTI_SELECT)),
                th.Property("separator", th.StringType),
            )
        )
    ),
    description="Stream -> Campaign field -> {table, attribute: the D365 choice column "
    "(option_sets records); enumeration: the Campaign enumeration it feeds; replace: true "
    "replaces all its values, false (default) adds the missing ones; value_names: label "
    "(default, slug of the label) or value (technical value); multi_select: reject (default) "
    "or join_labels (labels joined by separator into a string field)}",
)
SOAP_URL_SETTING = th.Property(
    "soap_url",
    th.StringType,
    description="Campaign v8 / Classic SOAP router (https), e.g. "
    "https://<instance>.campaign.adobe.com/nl/jsp/soaprouter.jsp: the v8 backend's API, and "
    "where enumerations are read and written; default <api_base_url>/nl/jsp/soaprouter.jsp",
)
FIELD_OPTIONS = frozenset(
    ENUMERATIONS_SETTING.to_dict()["enumerations"]["additionalProperties"]["additionalProperties"][
        "properties"
    ]
)


class EnumStore(t.Protocol):
    """Where enumerations are read and written (`campaign_client.classic.ClassicClient`)."""

    def read_enumeration(self, name: str) -> Enumeration | None:
        """Return the enumeration `name` as Campaign stores it, or None."""

    def write(self, write: EnumWrite) -> None:
        """Write (create, add to or replace) one enumeration."""


class _Pending:
    """A value that may match once its option set arrived (sentinel)."""


PENDING = _Pending()


@dataclass(frozen=True)
class ChoiceField:
    """One configured Campaign field fed by a D365 choice column."""

    stream: str
    name: str
    table: str
    attribute: str
    enumeration: str | None = None
    replace: bool = False
    value_names: str = "label"
    multi_select: str = "reject"
    separator: str = DEFAULT_SEPARATOR

    @property
    def option_set(self) -> tuple[str, str]:
        """The (table, attribute) key of its `option_sets` records."""
        return self.table, self.attribute

    @property
    def where(self) -> str:
        """The setting path, for messages."""
        return f"enumerations.{self.stream}.{self.name}"


def parse_fields(
    setting: Mapping[str, t.Any], resources: Mapping[str, t.Any]
) -> tuple[dict[str, dict[str, ChoiceField]], list[str]]:
    """Read the `enumerations` setting, with every configuration error found."""
    fields: dict[str, dict[str, ChoiceField]] = {}
    errors: list[str] = []
    for stream, entries in setting.items():
        if stream not in resources:
            errors.append(f"enumerations.{stream}: stream '{stream}' is not in resources")
        key = (resources.get(stream) or {}).get("key") or "externalId"
        for name, spec in (entries or {}).items():
            where = f"enumerations.{stream}.{name}"
            errors.extend(
                f"{where}.{option}: unknown option; known: {', '.join(sorted(FIELD_OPTIONS))}"
                for option in spec
                if option not in FIELD_OPTIONS
            )
            if name == key or name.startswith(SDC_PREFIX):
                errors.append(f"{where}: the key and _sdc_* fields cannot be choice fields")
            if name in ((resources.get(stream) or {}).get("replacements") or {}):
                errors.append(
                    f"{where}: resources.{stream}.replacements.{name} replaces the same field; "
                    "a field takes either a replacement table or an enumeration (the "
                    "enumeration converts D365 choice values, which a replacement has changed)"
                )
            if not spec.get("table") or not spec.get("attribute"):
                errors.append(f"{where}: table and attribute (the D365 choice column) are required")
                continue
            choice = ChoiceField(
                stream=stream,
                name=name,
                table=spec["table"],
                attribute=spec["attribute"],
                enumeration=spec.get("enumeration"),
                replace=bool(spec.get("replace", False)),
                value_names=spec.get("value_names") or "label",
                multi_select=spec.get("multi_select") or "reject",
                separator=spec.get("separator", DEFAULT_SEPARATOR),
            )
            errors += _field_errors(choice)
            fields.setdefault(stream, {})[name] = choice
    errors += _consistency_errors(f for by_name in fields.values() for f in by_name.values())
    return fields, errors


def _field_errors(choice: ChoiceField) -> list[str]:
    errors = []
    if choice.value_names not in VALUE_NAMES:
        errors.append(f"{choice.where}.value_names must be one of {', '.join(VALUE_NAMES)}")
    if choice.multi_select not in MULTI_SELECT:
        errors.append(f"{choice.where}.multi_select must be one of {', '.join(MULTI_SELECT)}")
    if choice.multi_select == "join_labels":
        if choice.enumeration:
            errors.append(
                f"{choice.where}: join_labels writes labels into a string field; remove "
                "'enumeration' (Campaign enumerations cannot hold several values)"
            )
    elif not choice.enumeration:
        errors.append(f"{choice.where}.enumeration is required (the Campaign enumeration)")
    elif not ENUM_NAME.match(choice.enumeration):
        errors.append(
            f"{choice.where}.enumeration '{choice.enumeration}' is not a Campaign enumeration "
            "name (letters, digits, '_' and ':', e.g. cus:leadSource)"
        )
    return errors


def _consistency_errors(choices: Iterable[ChoiceField]) -> list[str]:
    """Fields sharing an enumeration must feed it the same way."""
    first: dict[str, ChoiceField] = {}
    errors = []
    for choice in choices:
        if not choice.enumeration:
            continue
        seen = first.setdefault(choice.enumeration, choice)
        feed = (choice.option_set, choice.replace, choice.value_names)
        if feed != (seen.option_set, seen.replace, seen.value_names):
            errors.append(
                f"{choice.where} and {seen.where} feed enumeration '{choice.enumeration}' "
                "differently (table, attribute, replace and value_names must agree)"
            )
    return errors


def slug(label: str) -> str:
    """Return a value name made from a label: `Hot lead (web)` → `hot_lead_web`."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:MAX_NAME]


@dataclass
class OptionSet:
    """The options of one D365 choice column received in this run, in their order."""

    name: str | None = None
    multi_select: bool = False
    labels: dict[str, str] = field(default_factory=dict)  # match form of the value → label

    def value_names(self, rule: str) -> dict[str, str]:
        """Return each value's name: its label's slug (unique), or the technical value."""
        names: dict[str, str] = {}
        used: set[str] = set()
        for value, label in self.labels.items():
            name = value if rule == "value" else (slug(label) or value)
            if name in used:
                name = f"{name[: MAX_NAME - len(value) - 1]}_{value}"
            used.add(name)
            names[value] = name
        return names

    def wanted(self, enumeration: str, rule: str, current: Enumeration | None) -> Enumeration:
        """Return the enumeration as D365 defines it (keeping Campaign's label and basetype)."""
        names = self.value_names(rule)
        return Enumeration(
            enumeration,
            current.label if current else (self.name or enumeration),
            current.basetype if current else NEW_BASETYPE,
            tuple(EnumValue(names[v], label, v) for v, label in self.labels.items()),
        )


class Choices:
    """The run's option sets, Campaign's enumerations and the records waiting for them."""

    def __init__(
        self,
        config: Mapping[str, t.Any],
        store: Callable[[], EnumStore],
        report: Report,
        *,
        dry_run: bool,
        logger: logging.Logger,
    ) -> None:
        """Read the setting; nothing is called until a choice field or option set needs it.

        `store` makes the SOAP client enumerations are read and written with (the backend's).
        """
        self._store = store
        self.report = report
        self.dry_run = dry_run
        self.logger = logger
        self.fields, _ = parse_fields(
            config.get("enumerations") or {}, config.get("resources") or {}
        )
        self.option_sets: dict[tuple[str, str], OptionSet] = {}
        self._campaign: dict[str, Enumeration | None] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._checked: set[str] = set()
        self._warned: set[str] = set()
        #: All input is read: a value that matches nothing now never will (rejected, not held).
        self.final = False

    @cached_property
    def fed(self) -> frozenset[tuple[str, str]]:
        """The option sets some field uses."""
        return frozenset(f.option_set for by in self.fields.values() for f in by.values())

    @cached_property
    def classic(self) -> EnumStore:
        """The SOAP client enumerations are read and written with (made on first use)."""
        return self._store()

    def campaign(self, name: str) -> Enumeration | None:
        """Return Campaign's enumeration `name` (read once per run, then kept up to date)."""
        if name not in self._campaign:
            self._campaign[name] = self.classic.read_enumeration(name)
        return self._campaign[name]

    # --- option sets ----------------------------------------------------------------------

    def add_option(self, record: Mapping[str, t.Any]) -> None:
        """Register one `option_sets` record (ignored unless a configured field uses it)."""
        key = (str(record.get("table")), str(record.get("attribute")))
        if key not in self.fed or record.get("value") is None:
            return
        option_set = self.option_sets.setdefault(key, OptionSet())
        option_set.name = record.get("option_set_name") or option_set.name
        option_set.multi_select = option_set.multi_select or bool(record.get("is_multi_select"))
        option_set.labels[match_form(record["value"])] = str(record.get("label") or "")
        self._dirty.add(key)

    def sync(self) -> None:
        """Make every enumeration fed by a changed option set agree with D365."""
        dirty, self._dirty = self._dirty, set()
        done: set[str] = set()
        for choice in (f for by in self.fields.values() for f in by.values()):
            name = choice.enumeration
            if not name or name in done or choice.option_set not in dirty:
                continue
            done.add(name)
            option_set = self.option_sets[choice.option_set]
            if option_set.multi_select:
                self._warn_once(
                    name,
                    f"{choice.table}.{choice.attribute} is a multi-select choice: Campaign "
                    f"enumerations hold one value, so '{name}' is not synchronised",
                )
                continue
            self._sync_one(choice, option_set)

    def _sync_one(self, choice: ChoiceField, option_set: OptionSet) -> None:
        name = t.cast("str", choice.enumeration)
        current = self.campaign(name)
        planned = plan_write(
            current, option_set.wanted(name, choice.value_names, current), replace=choice.replace
        )
        if planned is None:
            self.report.add(OPTION_SETS_STREAM, "unchanged")
            return
        outcome = "created" if current is None else "updated"
        how = "replaced" if planned.replace else "added"
        if self.dry_run:
            self.logger.info("DRY RUN: enumeration %s would be %s (%s)", name, outcome, how)
        else:
            self.classic.write(planned)
            self.logger.info(
                "Enumeration %s %s: %d value(s) %s", name, outcome, len(planned.values), how
            )
        self._campaign[name] = planned.result(current)
        self.report.add(OPTION_SETS_STREAM, outcome)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.logger.warning(message)

    # --- records --------------------------------------------------------------------------

    def check_schema(self, stream: str, properties: Mapping[str, t.Any]) -> None:
        """Refuse a stream whose schema lacks one of its configured choice fields."""
        fields = self.fields.get(stream) or {}
        if stream in self._checked:
            return
        missing = [f.where for f in fields.values() if f.name not in properties]
        if missing:
            msg = f"{', '.join(missing)}: not a property of stream '{stream}'"
            raise StreamOptionsError(msg)
        self._checked.add(stream)

    def convert_record(self, stream: str, record: dict[str, t.Any]) -> dict[str, t.Any] | None:
        """Return the record with its choice fields as value names; None while one is PENDING.

        Raises `RecordRejectedError` naming the field whose value matches nothing.
        """
        fields = self.fields.get(stream) or {}
        converted = {name: self.convert(f, record.get(name)) for name, f in fields.items()}
        if any(value is PENDING for value in converted.values()):
            return None
        return {**record, **{k: v for k, v in converted.items() if k in record}}

    def convert(self, choice: ChoiceField, value: t.Any) -> t.Any:
        """Return the Campaign value of a D365 choice value, PENDING, or raise a rejection."""
        values = _multi(value)
        if values is not None or choice.multi_select == "join_labels":
            if value is None or values == []:  # nothing chosen
                return None
            return self._join_labels(choice, values if values is not None else [value])
        current = self.campaign(t.cast("str", choice.enumeration))
        if value is None:  # Campaign stores "no value" as 0 (or ""): that value's name, if any
            empty = current.by_stored("0" if current.numeric else "") if current else None
            return empty.name if empty else None
        stored = match_form(value)
        found = current.by_stored(stored) if current else None
        if found is not None:
            return found.name
        option_set = self.option_sets.get(choice.option_set)
        if option_set is None or not self._synced(choice):
            if not self.final:
                return PENDING
            reason = (
                f"{choice.name}: D365 value {stored} of {choice.table}.{choice.attribute} is not "
                f"stored in Campaign enumeration '{choice.enumeration}', and its option set was "
                f"not received (select the {OPTION_SETS_STREAM} stream)"
            )
            raise RecordRejectedError(reason, choice.name)
        if option_set.multi_select:
            raise RecordRejectedError(self._multi_reason(choice, [value]), choice.name)
        name = option_set.value_names(choice.value_names).get(stored)
        found = match(current, stored, name or "") if current and name else None
        if found is None:
            reason = (
                f"{choice.name}: D365 value {stored} of {choice.table}.{choice.attribute} "
                f"matches no value of Campaign enumeration '{choice.enumeration}'"
            )
            raise RecordRejectedError(reason, choice.name)
        return found.name

    def _synced(self, choice: ChoiceField) -> bool:
        return choice.option_set in self.option_sets and choice.option_set not in self._dirty

    def _join_labels(self, choice: ChoiceField, values: list[t.Any]) -> t.Any:
        if choice.multi_select != "join_labels":
            raise RecordRejectedError(self._multi_reason(choice, values), choice.name)
        option_set = self.option_sets.get(choice.option_set)
        if option_set is None:
            if not self.final:
                return PENDING
            reason = (
                f"{choice.name}: the labels of {choice.table}.{choice.attribute} were not "
                f"received (select the {OPTION_SETS_STREAM} stream)"
            )
            raise RecordRejectedError(reason, choice.name)
        forms = [match_form(v) for v in values]
        unknown = [form for form in forms if form not in option_set.labels]
        if unknown:
            reason = (
                f"{choice.name}: D365 value(s) {', '.join(unknown)} of {choice.table}."
                f"{choice.attribute} are not options of the choice"
            )
            raise RecordRejectedError(reason, choice.name)
        return choice.separator.join(option_set.labels[form] for form in forms)

    @staticmethod
    def _multi_reason(choice: ChoiceField, values: list[t.Any]) -> str:
        listed = ",".join(match_form(v) for v in values)
        return (
            f"{choice.name}: multi-select choice [{listed}] of {choice.table}.{choice.attribute}: "
            "a Campaign enumeration holds one value (Campaign Classic refuses multi-select "
            f"enumerations); set {choice.where}.multi_select: join_labels to write the labels "
            "into a string field"
        )


def _multi(value: t.Any) -> list[t.Any] | None:
    """Return the values of a multi-select choice (a list, or comma-separated text), or None."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str) and "," in value:
        return [part.strip() for part in value.split(",") if part.strip()]
    return None
