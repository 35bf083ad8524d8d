"""Campaign's state for one v8 batch: one queryDef read of the batch's keys (never the table).

Per batch of a route: one `ExecuteQuery` with `<key> IN (…)` selecting the fields the records
carry and the links' parent keys; one per parent schema for parent keys not yet known to exist
this run (a link is written by key, but a missing parent must still be refused or skipped);
with `adopt_by`, one for the candidates of the records whose key is absent.
"""

from __future__ import annotations

import threading
import typing as t
from dataclasses import dataclass, field

from campaign_client.querydef import QueryDef, expand_xpath, is_in, select, value_at

from target_adobe_campaign.payload import SDC_PREFIX, RecordRejectedError, key_of
from target_adobe_campaign.state import (
    AmbiguousAdoptionError,
    DuplicateKeyError,
    Entry,
    adoption_value,
)
from target_adobe_campaign.v8_schema import xpath

if t.TYPE_CHECKING:
    import xml.etree.ElementTree as ET
    from collections.abc import Callable, Iterable, Sequence

    from campaign_client.soap_session import SoapSession

    from target_adobe_campaign.routing import Link, Route
    from target_adobe_campaign.v8_schema import SchemaInfo

ID = "@id"


@dataclass
class V8State:
    """The batch's records by key, duplicates, adoption candidates and known parent keys."""

    route: Route
    entries: dict[str, Entry] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    candidates: dict[tuple[str, str], list[Entry]] = field(default_factory=dict)
    parent_exists: Callable[[Link, str], bool] = lambda link, key: False
    claim: Callable[[Entry], bool] = lambda entry: True

    def get(self, key: str) -> Entry | None:
        """Return the record holding `key` (`DuplicateKeyError` if several do)."""
        if key in self.duplicates:
            msg = (
                f"{self.duplicates[key]} Campaign {self.route.resource} records share "
                f"{self.route.key} '{key}'"
            )
            raise DuplicateKeyError(msg)
        return self.entries.get(key)

    def adopt(self, field_name: str, value: t.Any) -> Entry | None:
        """Claim the one record without a key holding `value` (case-insensitive)."""
        match = adoption_value(value)
        candidates = self.candidates.get((field_name, match)) if match else None
        if not candidates:
            return None
        if len(candidates) > 1:
            msg = (
                f"{len(candidates)} Campaign {self.route.resource} records have no "
                f"{self.route.key} and {field_name} '{value}': none is adopted; merge them, or "
                f"give one the {self.route.key}, in Campaign"
            )
            raise AmbiguousAdoptionError(msg)
        claimed = candidates.pop()
        return claimed if self.claim(claimed) else None

    def parent(self, link: Link, parent_key: str) -> str | None:
        """Return the parent's key itself (links are reconciled by key), None if absent."""
        return parent_key if self.parent_exists(link, parent_key) else None


def record_fields(route: Route, records: Iterable[dict[str, t.Any]]) -> set[str]:
    """Return the Campaign fields the records write (not `_sdc_*`, not link fields)."""
    link_fields = {link.field for link in route.links}
    return {
        name
        for record in records
        for name in record
        if not name.startswith(SDC_PREFIX) and name not in link_fields
    }


def batch_keys(route: Route, records: Iterable[dict[str, t.Any]]) -> list[str]:
    """Return the batch's keys (records without one are rejected before planning)."""
    keys = []
    for record in records:
        try:
            keys.append(key_of(record, route.key))
        except RecordRejectedError:
            continue
    return keys


class StateReader:
    """Reads batches' states for one run; remembers which parent keys exist (thread-safe)."""

    def __init__(self, session: SoapSession, schema_of: Callable[[Route], SchemaInfo]) -> None:
        """Read through `session`; `schema_of` gives a route's schema (read once per run)."""
        self.session = session
        self.schema_of = schema_of
        self._known: dict[str, set[str]] = {}  # schema id → keys known to exist this run
        self._claimed: set[str] = set()  # @id of records adopted this run
        self._lock = threading.Lock()

    def known(self, schema: str) -> set[str]:
        """Return the keys of `schema` known to exist (written or read this run)."""
        with self._lock:
            return self._known.setdefault(schema, set())

    def read(
        self, route: Route, records: Sequence[dict[str, t.Any]], parent_routes: dict[str, Route]
    ) -> V8State:
        """Read the batch's keys (one call), unknown parent keys and adoption candidates."""
        schema = self.schema_of(route)
        state = V8State(route, claim=self._claim)
        keys = batch_keys(route, records)
        fields = sorted(record_fields(route, records) & set(schema.attributes))
        selected = [xpath(name) for name in fields if name != route.key]
        selected += [
            f"[{link.name}/{xpath(parent_routes[link.stream].key)}]"
            for link in route.links
            if link.name in schema.links
        ]
        if keys:
            for row in self._rows(schema.id, xpath(route.key), keys, selected):
                key = value_at(row, xpath(route.key))
                if not key:
                    continue
                if key in state.entries:
                    state.duplicates[key] = state.duplicates.get(key, 1) + 1
                state.entries[key] = Entry(
                    "", "", self._values(route, schema, row, fields, parent_routes)
                )
            self.known(schema.id).update(state.entries)
        self._read_parents(route, records, parent_routes)
        state.parent_exists = lambda link, key: (
            key in self.known(self.schema_of(parent_routes[link.stream]).id)
        )
        adopt_by = route.options.adopt_by
        if adopt_by and adopt_by in schema.attributes:
            absent = [r for r in records if _key(route, r) not in state.entries]
            state.candidates = self._candidates(route, schema, absent, adopt_by, fields)
        return state

    def _rows(
        self, schema: str, key_xpath: str, keys: list[str], selected: list[str]
    ) -> list[ET.Element]:
        """One select of the rows holding `keys`; twice as many lines allowed, to see duplicates."""
        nodes = (key_xpath, *(s for s in selected if s != key_xpath))
        query = QueryDef(
            schema, select=nodes, where=(is_in(key_xpath, keys),), line_count=2 * len(keys)
        )
        return select(self.session, query)

    def _values(
        self,
        route: Route,
        schema: SchemaInfo,
        row: ET.Element,
        fields: list[str],
        parent_routes: dict[str, Route],
    ) -> dict[str, t.Any]:
        """Return a row's values in the planner's form; a link as `{"PKey": <parent key>}`."""
        values: dict[str, t.Any] = {
            name: schema.current(name, value_at(row, xpath(name))) for name in fields
        }
        for link in route.links:
            if link.name in schema.links:
                parent_key = value_at(row, f"{link.name}/{xpath(parent_routes[link.stream].key)}")
                values[link.name] = {"PKey": parent_key} if parent_key else {}
        return values

    def _read_parents(
        self, route: Route, records: Sequence[dict[str, t.Any]], parent_routes: dict[str, Route]
    ) -> None:
        """Read the parent keys the batch links to and this run has not seen (one call each)."""
        for link in route.links:
            parent = parent_routes[link.stream]
            schema = self.schema_of(parent)
            known = self.known(schema.id)
            wanted = sorted(
                {str(r[link.field]) for r in records if r.get(link.field) not in (None, "")} - known
            )
            if wanted:
                rows = self._rows(schema.id, xpath(parent.key), wanted, [])
                known.update(k for row in rows if (k := value_at(row, xpath(parent.key))))

    def _candidates(
        self,
        route: Route,
        schema: SchemaInfo,
        records: Sequence[dict[str, t.Any]],
        adopt_by: str,
        fields: list[str],
    ) -> dict[tuple[str, str], list[Entry]]:
        """Return the records without a key holding the batch's `adopt_by` values (one IN query).

        The IN list holds each value as sent and lower-cased (queryDef compares case-sensitively;
        Campaign's emails are usually stored lower-case); matches are then compared case-folded.
        """
        values = {str(r[adopt_by]).strip() for r in records if r.get(adopt_by) not in (None, "")}
        wanted = sorted(values | {v.lower() for v in values})
        if not wanted:
            return {}
        by = xpath(adopt_by)
        nodes = (ID, by, *(xpath(f) for f in fields if f not in (adopt_by, route.key)))
        query = QueryDef(
            schema.id,
            select=nodes,
            where=(is_in(by, wanted), f"{expand_xpath(xpath(route.key))} IS NULL"),
            line_count=2 * len(wanted),
        )
        candidates: dict[tuple[str, str], list[Entry]] = {}
        for row in select(self.session, query):
            pkey = value_at(row, ID) or ""
            match = adoption_value(value_at(row, by))
            if match is None or pkey in self._claimed:
                continue
            values_read = {
                name: schema.current(name, value_at(row, xpath(name))) for name in fields
            }
            candidates.setdefault((adopt_by, match), []).append(Entry(pkey, "", values_read))
        return candidates

    def _claim(self, entry: Entry) -> bool:
        with self._lock:
            if entry.pkey in self._claimed:
                return False
            self._claimed.add(entry.pkey)
            return True


def _key(route: Route, record: dict[str, t.Any]) -> str | None:
    try:
        return key_of(record, route.key)
    except RecordRejectedError:
        return None
