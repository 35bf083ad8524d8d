"""The key → (PKey, current values) index of one Campaign resource, kept on disk between runs.

With it the target needs no look-up per record: a key that is absent is created, a key that
is present is patched with the fields that changed, or left alone. Only records carrying a
key are written, so records created outside the integration (no CRM id) are never touched,
except through adoption: with the route's `adopt_by` option, records without a key are also
indexed by that field, and the one holding a new record's value is adopted (given the key)
instead of a duplicate being created.

The index lives in a SQLite file (`keystore`), so memory stays flat whatever the table's
size. With `key_index_dir` it is kept between runs and checked at the start of each one
instead of being read again (docs/key-index.md):

- **catch-up**: the records Campaign changed since the index's watermark are read, newest
  first (`_order=lastModified desc`), down to the watermark: creates and updates made by
  anyone since the last run;
- **count**: `_count` must then equal the records indexed, or some were deleted outside the
  integration (the index holds every record, keyed or not, so nothing else explains it);
- **read everything again** when a check fails, when the file is new, unfinished, made for
  another instance, resource or key, older than `key_index_max_age_hours`, or when
  Campaign's newest record is older than the newest the index has seen (a restored
  database).

The watermark is the server's time (`Date`) at the start of the last read, minus
`WATERMARK_OVERLAP`: a record stamped just before a read but committed after it is read
again next time. At the end of a run the index reads back what it wrote (`settle`), so the
next run's catch-up reads only what others changed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import sqlite3
import tempfile
import threading
import time
import typing as t
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from campaign_client.client import NotFoundError

from target_adobe_campaign.keystore import FORMAT, KeyStore
from target_adobe_campaign.state import (
    AmbiguousAdoptionError,
    DuplicateKeyError,
    Entry,
    adoption_value,
)

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Collection, Iterable, Iterator

    import requests
    from campaign_client.client import CampaignClient

    from target_adobe_campaign.routing import Route

#: Records per page while indexing: few, large pages (Campaign's default is 25).
INDEX_LINE_COUNT = 5000
#: Records stamped this long before a read are read again by the next one: Campaign stamps
#: `lastModified` when it writes a row, and a write in flight commits a little later.
WATERMARK_OVERLAP = datetime.timedelta(seconds=60)
#: After writing this many records, `settle` waits out `WATERMARK_OVERLAP` before reading
#: them back, so the next run does not read them again (a large load's last minute).
SETTLE_WAIT_WRITES = 20_000
NEWEST_FIRST = {"_order": "lastModified desc"}
RESTORED = "the newest record indexed is gone or older: deleted, or the database restored?"
OLDEST_FIRST = {"_order": "lastModified"}


@dataclass(frozen=True)
class IndexFiles:
    """Where key indexes are kept (`key_index_dir`; None: a temporary file per run)."""

    directory: Path | None = None
    max_age: datetime.timedelta = datetime.timedelta(hours=24)
    dry_run: bool = False

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> IndexFiles:
        """Read `key_index_dir`, `key_index_max_age_hours` and `dry_run`."""
        directory = config.get("key_index_dir")
        return cls(
            directory=Path(directory).expanduser() if directory else None,
            max_age=datetime.timedelta(hours=float(config.get("key_index_max_age_hours", 24))),
            dry_run=bool(config.get("dry_run")),
        )


def campaign_time(value: t.Any) -> datetime.datetime | None:
    """Parse Campaign's `lastModified` (`2026-12-07 15:12:03.123Z`); None when absent."""
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def server_time(response: requests.Response | None) -> datetime.datetime:
    """Return the time a response was sent (its `Date` header), else this machine's time."""
    date = response.headers.get("Date") if response is not None else None
    if date:
        try:
            return parsedate_to_datetime(date).astimezone(datetime.UTC)
        except (TypeError, ValueError):
            pass  # an unreadable header: this machine's clock instead
    return datetime.datetime.now(datetime.UTC)


class FirstResponse:
    """Keeps the first response of a paged read (its `Date` is the read's start)."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self.response: requests.Response | None = None

    def __call__(self, response: requests.Response) -> None:
        """See one page's response."""
        if self.response is None:
            self.response = response


class KeyIndex:
    """Keys of one resource (one route's `resource` + `key`); thread-safe."""

    def __init__(
        self,
        client: CampaignClient,
        route: Route,
        logger: logging.Logger,
        adopt_by: Collection[str] = (),
        files: IndexFiles | None = None,
    ) -> None:
        """Nothing is read until `load`; `adopt_by`: fields records without a key are indexed by.

        (Streams sharing the resource and key share the index, each with its own `adopt_by`.)
        """
        self.client = client
        self.route = route
        self.logger = logger
        self.adopt_by = tuple(sorted(adopt_by))
        self.files = files or IndexFiles()
        self._lock = threading.Lock()
        self._temp_dir: Path | None = None
        self._store: KeyStore | None = None
        self._size = 0
        self._written = 0
        self._last_write = 0.0
        self.loaded = False

    # --- opening, checking, reading -------------------------------------------------------

    @property
    def identity(self) -> str:
        """What the index file is made for: instance, resource, key, adoption fields."""
        return json.dumps(
            {
                "format": FORMAT,
                "api": self.client.api_url,
                "resource": self.route.path,
                "key": self.route.key,
                "adopt_by": self.adopt_by,
            },
            sort_keys=True,
        )

    @property
    def path(self) -> Path:
        """The index file."""
        if self.files.directory is None:
            if self._temp_dir is None:
                self._temp_dir = Path(tempfile.mkdtemp(prefix="target-adobe-campaign-keys-"))
            directory = self._temp_dir
        else:
            directory = self.files.directory
        digest = hashlib.sha256(self.identity.encode()).hexdigest()[:12]
        return directory / f"{self.route.resource}-{self.route.key}-{digest}.sqlite"

    @property
    def store(self) -> KeyStore:
        """The open index file."""
        assert self._store is not None, "load() first"
        return self._store

    def load(self) -> None:
        """Open the index, check it against Campaign (or read the resource), log what it holds."""
        kept = self.files.directory is not None
        if kept:
            self.files.directory.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        self._store = self._open(durable=kept)
        with self._lock:
            reason = self._stale_reason() if kept else "no key_index_dir: read each run"
            changed = 0
            if reason is None:
                changed, reason = self._catch_up(check=True)
            if reason is None:
                reason = self._count_differs()
            if reason is not None:
                self.logger.info("Reading every %s record (%s)", self.route.resource, reason)
                self._read_all()
            self.store.remove_pending_all()  # creates of a killed run's import that never came
            self.store.commit()
            read, self._size, _ = self.store.counts()
            duplicated = self.store.duplicated_key_count()
            unlinked = self.store.unlinked_count() if self.adopt_by else 0
        self.loaded = True
        self.logger.info(
            "Indexed %d %s records by %s%s%s%s",
            self._size,
            self.route.resource,
            self.route.key,
            f" ({changed} changed since the last run; {read} in all, as Campaign counts)"
            if reason is None
            else "",
            f" ({duplicated} keys held by several records)" if duplicated else "",
            f", {unlinked} without one by {', '.join(self.adopt_by)}" if self.adopt_by else "",
        )
        for key, count in self.store.duplicated_keys():
            self.logger.warning(
                "%d %s records share %s '%s'; records with this key are rejected",
                count,
                self.route.resource,
                self.route.key,
                key,
            )

    def _open(self, *, durable: bool) -> KeyStore:
        """Open the index file; one SQLite cannot read is set aside and a new one made."""
        try:
            return KeyStore(self.path, durable=durable)
        except sqlite3.DatabaseError as exc:
            broken = self.path.with_suffix(".broken")
            self.logger.warning("Key index %s unreadable (%s); moved to %s", self.path, exc, broken)
            self.path.replace(broken)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return KeyStore(self.path, durable=durable)

    def _stale_reason(self) -> str | None:
        """Why the kept index cannot be caught up (it must be read again), or None."""
        store = self.store
        if store.meta("identity") != self.identity:
            return "new key index"
        if store.meta("state") != "ready":
            return "the last reading of the resource did not finish"
        built = store.time_meta("built_at")
        if built is None or datetime.datetime.now(datetime.UTC) - built > self.files.max_age:
            return "key index older than key_index_max_age_hours"
        return None

    def _catch_up(self, *, check: bool = False) -> tuple[int, str | None]:
        """Read what changed since the watermark, newest first; return (count, why it failed).

        With `check` (at the start of a run) it fails when the newest record the index has
        seen is gone or older (a restored database, or that record deleted): its PKey and
        time are checked on the way down, or with one read when older than the watermark.
        """
        store = self.store
        since = store.time_meta("watermark")
        assert since is not None  # set with state "ready"
        newest = store.time_meta("newest")
        sentinel = store.meta("newest_pkey") if check else None
        first = FirstResponse()
        changed, sentinel_seen = 0, False
        top: tuple[datetime.datetime | None, str] | None = None
        for page in self._pages(NEWEST_FIRST, first):
            done = not page.get("content")
            for record in page.get("content", ()):
                stamp = campaign_time(record.get("lastModified"))
                top = top or (stamp, record["PKey"])
                if stamp is not None and stamp < since:
                    done = True
                    break
                if record["PKey"] == sentinel:
                    sentinel_seen = self._same_record(record, newest)
                    if not sentinel_seen:
                        return changed, RESTORED
                self._put_read(record)
                changed += 1
            if done:
                break
        if sentinel and not sentinel_seen and not self._still_there(sentinel, newest, since):
            return changed, RESTORED
        self._mark_read(first.response, top)
        return changed, None

    def _still_there(
        self, pkey: str, newest: datetime.datetime | None, since: datetime.datetime
    ) -> bool:
        """Whether the index's newest record is in Campaign, unchanged or changed later."""
        if newest is not None and newest >= since:
            return False  # the catch-up would have met it
        row = self.store.by_pkey(pkey)
        if row is None:
            return False
        try:
            record = self.client.get_json(row.href)
        except NotFoundError:
            return False
        return self._same_record(record, newest)

    def _same_record(self, record: dict[str, t.Any], newest: datetime.datetime | None) -> bool:
        """Whether `record` is the index's newest: same key, changed at that time or later.

        (A restored database may give its PKey to another record.)
        """
        row = self.store.by_pkey(record["PKey"])
        indexed = row.values.get(self.route.key) if row is not None else None
        if str(record.get(self.route.key) or "") != str(indexed or ""):
            return False
        stamp = campaign_time(record.get("lastModified"))
        return newest is None or stamp is None or stamp >= newest

    def _count_differs(self) -> str | None:
        """Compare the records indexed with Campaign's count; a difference means deletions."""
        read, _, _ = self.store.counts()
        count = self.client.count(self.route.path)
        if count == read:
            return None
        return f"Campaign holds {count} records, the key index {read}: deleted outside?"

    def _read_all(self) -> None:
        """Read the whole resource, oldest change first (a record changed meanwhile comes last)."""
        store = self.store
        store.clear()
        store.set_meta(identity=self.identity, state="reading")
        store.commit()
        first = FirstResponse()
        top: tuple[datetime.datetime | None, str] | None = None
        for page in self._pages(OLDEST_FIRST, first):
            for record in page.get("content", ()):
                self._put_read(record)
                stamp = campaign_time(record.get("lastModified"))
                if stamp is not None and (top is None or top[0] is None or stamp >= top[0]):
                    top = (stamp, record["PKey"])
            store.commit()
        self._mark_read(first.response, top)
        store.set_meta(state="ready")
        store.set_time_meta("built_at", datetime.datetime.now(datetime.UTC))

    def _pages(self, order: dict[str, str], first: FirstResponse) -> Iterator[dict[str, t.Any]]:
        """Page through the resource in `order`, big pages; `first` keeps the first response."""
        return self.client.iter_pages(
            self.route.path, order, line_count=INDEX_LINE_COUNT, on_response=first
        )

    def _mark_read(
        self,
        first: requests.Response | None,
        top: tuple[datetime.datetime | None, str] | None,
    ) -> None:
        """Move the watermark to the read's start, less the overlap; remember the newest."""
        self.store.set_time_meta("watermark", server_time(first) - WATERMARK_OVERLAP)
        newest = self.store.time_meta("newest")
        if top is not None and top[0] is not None and (newest is None or top[0] >= newest):
            self.store.set_time_meta("newest", top[0])
            self.store.set_meta(newest_pkey=top[1])

    def _put_read(self, record: dict[str, t.Any]) -> None:
        """Store a record as read from Campaign (keyed, or a candidate for adoption)."""
        key = record.get(self.route.key)
        key = None if key is None or key == "" else str(key)
        unlinked = []
        if key is None:
            unlinked = [
                (name, value)
                for name in self.adopt_by
                if (value := adoption_value(record.get(name))) is not None
            ]
        pkey = record["PKey"]
        href = record.get("href") or f"{self.route.path}/{pkey}"
        values = record if key is not None or unlinked else None
        self.store.upsert(pkey, key, href, values, unlinked)

    # --- the planner's questions ----------------------------------------------------------

    def __len__(self) -> int:
        """How many keys the index holds (records created this run included)."""
        with self._lock:
            return self._size

    def get(self, key: str) -> Entry | None:
        """Return the entry for `key`; raise `DuplicateKeyError` if the key is ambiguous."""
        with self._lock:
            rows = self.store.by_key(key)
            if len(rows) > 1:
                msg = (
                    f"{self.store.count_key(key)} Campaign {self.route.resource} records share "
                    f"{self.route.key} '{key}'"
                )
                raise DuplicateKeyError(msg)
        return Entry(rows[0].pkey or "", rows[0].href, rows[0].values) if rows else None

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
            pkeys = self.store.unlinked_pkeys(field, match, limit=None)
            if not pkeys:
                return None
            if len(pkeys) > 1:
                msg = (
                    f"{len(pkeys)} Campaign {self.route.resource} records have no "
                    f"{self.route.key} and {field} '{value}': none is adopted; merge them, or "
                    f"give one the {self.route.key}, in Campaign"
                )
                raise AmbiguousAdoptionError(msg)
            row = self.store.by_pkey(pkeys[0])
            self.store.claim(pkeys[0])
        assert row is not None  # candidates are read records, with a PKey
        assert row.pkey is not None
        return Entry(row.pkey, row.href, row.values)

    # --- what the run wrote ---------------------------------------------------------------

    def put(self, key: str, entry: Entry) -> None:
        """Record a created, updated or adopted record (no PKey: created by an import file)."""
        with self._lock:
            if not self.store.by_key(key, limit=1):
                self._size += 1
            if entry.pkey:
                self.store.upsert(entry.pkey, key, entry.href, entry.values)
            else:
                self.store.put_pending(key, entry.values)
            self.wrote_now()

    def remove(self, key: str) -> None:
        """Forget a deleted record."""
        with self._lock:
            if self.store.by_key(key, limit=1):
                self._size -= 1
            self.store.remove_key(key)
            self.wrote_now()

    def wrote_now(self) -> None:
        """Note a write Campaign stamped now (a call, or the end of an import of many)."""
        self._written += 1
        self._last_write = time.monotonic()

    def commit(self) -> None:
        """Make the index's changes durable (after each batch; never in a dry run)."""
        if not self.files.dry_run:
            with self._lock:
                self.store.commit()

    def refresh(self, keys: Iterable[str]) -> None:
        """Ask Campaign which of `keys` exist now (after ambiguous creates, import files).

        Uses the route's key filter when configured, else reads what changed since the
        watermark (the records this run created included).
        """
        key_filter = self.route.key_filter
        if key_filter is None:
            with self._lock:
                self._catch_up()
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
                for record in found:
                    self._put_read(record)

    def resolve(self, key: str) -> Entry | None:
        """Return the entry for `key` with its PKey: one imported from a file is looked up.

        (A record a file import created is indexed without a PKey until something needs it:
        a REST write to it, or a child's link; one the import did not create is forgotten.)
        One catch-up reads the PKeys of everything imported since the last, so the next
        imported keys need no call.
        """
        entry = self.get(key)
        if entry is None or entry.pkey:
            return entry
        with self._lock:
            self._catch_up()
        entry = self.get(key)
        if entry is not None and not entry.pkey:
            with self._lock:
                self.store.remove_pending(key)
                self._size -= 1
            return None
        return entry

    # --- end of run -----------------------------------------------------------------------

    def settle(self) -> None:
        """Read back what this run wrote (end of input), so the next run does not.

        Only for a kept index that was written to. After a large load it first waits until
        its last write is `WATERMARK_OVERLAP` old, or the next run would read its last
        minute again.
        """
        if self.files.directory is None or self.files.dry_run or not self._written:
            return
        if self._written >= SETTLE_WAIT_WRITES:
            wait = WATERMARK_OVERLAP.total_seconds() - (time.monotonic() - self._last_write)
            if wait > 0:
                self.logger.info(
                    "Waiting %.0f s before reading back %d written %s records",
                    wait,
                    self._written,
                    self.route.resource,
                )
                time.sleep(wait)
        with self._lock:
            changed, _ = self._catch_up()
            self.store.remove_pending_all()
            self.store.commit()
            self._written = 0
        self.logger.info("Read back %d changed %s records", changed, self.route.resource)

    def close(self) -> None:
        """Close the file (a dry run's changes are dropped); delete a temporary one."""
        if self._store is not None:
            if self.files.dry_run:
                self._store.rollback()
            self._store.close()
            self._store = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
