"""The key → (PKey, current values) index of one Campaign resource, read in bulk once a run.

With it the target needs no look-up per record: a key that is absent is created, a key that
is present is patched with the fields that changed, or left alone. Only records carrying a
key are indexed, so records created outside the integration (no CRM id) are never touched,
except through adoption: with the route's `adopt_by` option, records without a key are also
indexed by that field, and the one holding a new record's value is adopted (given the key)
instead of a duplicate being created.
"""

from __future__ import annotations

import threading
import typing as t

from target_adobe_campaign.state import (
    AmbiguousAdoptionError,
    DuplicateKeyError,
    Entry,
    adoption_value,
)

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Collection, Iterable

    from campaign_client.client import CampaignClient

    from target_adobe_campaign.routing import Route

#: Records per page while indexing: few, large pages (Campaign's default is 25).
INDEX_LINE_COUNT = 5000


class KeyIndex:
    """Keys of one resource (one route's `resource` + `key`); thread-safe."""

    def __init__(
        self,
        client: CampaignClient,
        route: Route,
        logger: logging.Logger,
        adopt_by: Collection[str] = (),
    ) -> None:
        """Nothing is read until `load`; `adopt_by`: fields records without a key are indexed by.

        (Streams sharing the resource and key share the index, each with its own `adopt_by`.)
        """
        self.client = client
        self.route = route
        self.logger = logger
        self.adopt_by = tuple(sorted(adopt_by))
        self._entries: dict[str, Entry] = {}
        self._duplicates: dict[str, int] = {}
        # (adopt_by field, value) -> the records without a key holding it
        self._unlinked: dict[tuple[str, str], list[Entry]] = {}
        self._lock = threading.Lock()
        self.loaded = False

    def load(self) -> None:
        """Page through the whole resource once (`_forcePagination=true`, big pages)."""
        self._unlinked = {}
        entries, duplicates = self._read(
            self.client.iter_records(self.route.path, line_count=INDEX_LINE_COUNT)
        )
        with self._lock:
            self._entries, self._duplicates = entries, duplicates
            self.loaded = True
        self.logger.info(
            "Indexed %d %s records by %s%s%s",
            len(entries),
            self.route.resource,
            self.route.key,
            f" ({len(duplicates)} keys held by several records)" if duplicates else "",
            f", {self._unlinked_count} without one by {', '.join(self.adopt_by)}"
            if self.adopt_by
            else "",
        )

    def __len__(self) -> int:
        """How many keys the index holds (records created this run included)."""
        with self._lock:
            return len(self._entries)

    @property
    def _unlinked_count(self) -> int:
        return len({id(entry) for entries in self._unlinked.values() for entry in entries})

    def _read(self, records: Iterable[dict[str, t.Any]]) -> tuple[dict[str, Entry], dict[str, int]]:
        entries: dict[str, Entry] = {}
        duplicates: dict[str, int] = {}
        for record in records:
            key = record.get(self.route.key)
            if key is None or key == "":
                self._index_unlinked(record)  # only candidates for adoption; never touched else
                continue
            key = str(key)
            if key in entries:
                duplicates[key] = duplicates.get(key, 1) + 1
            else:
                entries[key] = Entry.from_record(record, self.route.path)
        for key, count in duplicates.items():
            self.logger.warning(
                "%d %s records share %s '%s'; records with this key are rejected",
                count,
                self.route.resource,
                self.route.key,
                key,
            )
        return entries, duplicates

    def _index_unlinked(self, record: dict[str, t.Any]) -> None:
        entry: Entry | None = None
        for name in self.adopt_by:
            value = adoption_value(record.get(name))
            if value is not None:
                entry = entry or Entry.from_record(record, self.route.path)
                self._unlinked.setdefault((name, value), []).append(entry)

    def get(self, key: str) -> Entry | None:
        """Return the entry for `key`; raise `DuplicateKeyError` if the key is ambiguous."""
        with self._lock:
            if key in self._duplicates:
                msg = (
                    f"{self._duplicates[key]} Campaign {self.route.resource} records share "
                    f"{self.route.key} '{key}'"
                )
                raise DuplicateKeyError(msg)
            return self._entries.get(key)

    def adopt(self, field: str, value: t.Any) -> Entry | None:
        """Claim the one record without a key whose `field` (an `adopt_by`) holds `value`.

        A claimed record is no candidate any more (a second new record with the same value
        is created). Raises `AmbiguousAdoptionError` when several records hold the value:
        none of them is chosen.
        """
        match = adoption_value(value)
        if match is None:
            return None
        with self._lock:
            candidates = self._unlinked.get((field, match))
            if not candidates:
                return None
            if len(candidates) > 1:
                msg = (
                    f"{len(candidates)} Campaign {self.route.resource} records have no "
                    f"{self.route.key} and {field} '{value}': none is adopted; merge them, or "
                    f"give one the {self.route.key}, in Campaign"
                )
                raise AmbiguousAdoptionError(msg)
            claimed = candidates[0]
            for entries in self._unlinked.values():  # no candidate any more, by any field
                if claimed in entries:
                    entries.remove(claimed)
            return claimed

    def put(self, key: str, entry: Entry) -> None:
        """Record a created or updated record."""
        with self._lock:
            self._entries[key] = entry

    def remove(self, key: str) -> None:
        """Forget a deleted record."""
        with self._lock:
            self._entries.pop(key, None)

    def refresh(self, keys: Iterable[str]) -> None:
        """Ask Campaign which of `keys` exist now (after ambiguous creates).

        Uses the route's key filter when configured, else reads the resource again once.
        """
        key_filter = self.route.key_filter
        if key_filter is None:
            self.load()
            return
        for key in keys:
            found = [
                record
                for record in self.client.find(
                    self.route.path, key_filter.name, **{key_filter.param: key}
                )
                if str(record.get(self.route.key)) == key
            ]
            with self._lock:
                if len(found) > 1:
                    self._duplicates[key] = len(found)
                elif found:
                    self._entries[key] = Entry.from_record(found[0], self.route.path)

    def resolve(self, key: str) -> Entry | None:
        """Return the entry for `key` with its PKey: one imported from a file is looked up.

        (A record a file import created is indexed without a PKey until something needs it:
        a REST write to it, or a child's link; one the import did not create is forgotten.)
        """
        entry = self.get(key)
        if entry is None or entry.pkey:
            return entry
        self.refresh([key])
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not entry.pkey:
                del self._entries[key]
                return None
            return entry
