"""CampaignSink: upserts a stream's batches into its Campaign resource, keyed on the CRM id."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from campaign_client.client import AmbiguousWriteError, NotFoundError, RecordRefusedError
from singer_sdk.sinks import BatchSink
from typing_extensions import override

from target_adobe_campaign.keyindex import AmbiguousAdoptionError, DuplicateKeyError, Entry
from target_adobe_campaign.options import (
    StreamOptionsError,
    prepare_record,
    prepare_schema,
    schema_errors,
)
from target_adobe_campaign.payload import (
    DELETED_AT,
    FILTERED_OUT,
    SDC_PREFIX,
    ParentNotFoundError,
    RecordRejectedError,
    build_payload,
    changed_fields,
    key_of,
)

if t.TYPE_CHECKING:
    from concurrent.futures import Future

    from singer_sdk.target_base import Target

    from target_adobe_campaign.keyindex import KeyIndex
    from target_adobe_campaign.routing import Link
    from target_adobe_campaign.target import TargetAdobeCampaign

DEFAULT_BATCH_SIZE = 1000
AMBIGUOUS = "ambiguous"


@dataclass
class Write:
    """One call to make: create (POST), update (PATCH the changed fields) or delete.

    `adopt` PATCHes a record without a CRM id with the key and the changed fields (`adopt_by`);
    `delete_filtered_out` deletes a record the stream's filter now excludes.
    """

    kind: t.Literal["create", "adopt", "update", "delete", "delete_filtered_out"]
    key: str
    record: dict[str, t.Any]
    body: dict[str, t.Any] | None = None
    entry: Entry | None = None


class CampaignSink(BatchSink):
    """Writes one stream to its routed resource.

    Per batch: parents are drained first, each record is compared with the resource's key
    index, and only the needed calls are made, `max_concurrency` at a time. A record
    Campaign refuses goes to the rejects file and the batch goes on; any other failure
    (retries exhausted, authentication) stops the run before STATE is emitted.
    """

    target: TargetAdobeCampaign

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """Resolve the stream's route (unrouted streams never get this far).

        The route's options are checked against the schema, which is widened for the
        replacement values records will carry when they are validated.
        """
        self.target = t.cast("TargetAdobeCampaign", target)
        self.route = self.target.routes[stream_name]
        self.options = self.route.options
        errors = schema_errors(
            stream_name,
            self.options,
            schema.get("properties") or {},
            (link.name for link in self.route.links),
        )
        if errors:
            raise StreamOptionsError("; ".join(errors))
        super().__init__(target, stream_name, prepare_schema(schema, self.options), key_properties)
        self.client = self.target.client

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """Always read the metadata: `_sdc_deleted_at` marks deletes (nothing `_sdc_*` is sent)."""
        return True

    @override
    def _validate_and_parse(self, record: dict) -> dict:
        """Apply the value replacements (after the stream maps), then validate and parse."""
        prepare_record(record, self.options)
        return super()._validate_and_parse(record)

    @property
    def max_size(self) -> int:
        """`batch_size_rows`, else 1000 records per batch."""
        return self.batch_size_rows or DEFAULT_BATCH_SIZE

    # --- batch ----------------------------------------------------------------------------

    def process_batch(self, context: dict) -> None:
        """Write the batch; parents drained from here belong to it (`TargetAdobeCampaign.batch`)."""
        with self.target.batch():
            self._write_batch(context.get("records", []))

    def mark_drained(self) -> None:
        """Once the batch is written, let the target checkpoint (`TargetAdobeCampaign.drained`)."""
        super().mark_drained()
        self.target.drained()

    def _write_batch(self, records: list[dict[str, t.Any]]) -> None:
        """Plan the batch against the key index, run the calls, settle ambiguous creates."""
        self.target.drain_parents(self.route)  # first: a parent may then wait (option sets)
        records = self._latest_per_key(self.target.choices.ready(self, records))
        index = self.target.key_index(self.stream_name)
        writes = [w for w in (self._plan(index, record) for record in records) if w]
        if self.target.dry_run:
            for write in writes:
                self.target.summary.add(self.stream_name, self._pretend(index, write))
            return
        futures = [self.target.executor.submit(self._execute, index, w) for w in writes]
        ambiguous, failure = self._collect(writes, futures)
        if ambiguous and failure is None:
            self._settle_ambiguous_creates(index, ambiguous)
        if failure is not None:
            raise failure

    def _latest_per_key(self, records: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        """Keep the last record of each key; reject records without a key."""
        latest: dict[str, dict[str, t.Any]] = {}
        for record in records:
            try:
                key = key_of(record, self.route.key)
            except RecordRejectedError as exc:
                self._reject(record, None, exc.reason, field=exc.field)
                continue
            if key in latest:
                self.tally_duplicate_merged()
                del latest[key]  # re-insert: keep input order of the surviving record
            latest[key] = record
        return list(latest.values())

    def _plan(self, index: KeyIndex, record: dict[str, t.Any]) -> Write | None:
        """Decide the call a record needs; None when it needs none (or is rejected)."""
        key = key_of(record, self.route.key)
        try:
            entry = index.get(key)
            if record.get(DELETED_AT) is not None:
                return self._plan_delete(key, record, entry)
            if record.get(FILTERED_OUT):
                return self._plan_filtered_out(key, record, entry)
            payload = build_payload(record, self.route, self._parent_pkey)
            adopted = self._adoptable(index, payload.body) if entry is None else None
        except ParentNotFoundError as exc:
            return self._plan_orphan(key, record, entry, exc)
        except AmbiguousAdoptionError as exc:
            self._reject(record, key, str(exc), field=self.options.adopt_by)
            return None
        except (RecordRejectedError, DuplicateKeyError) as exc:
            self._reject(record, key, str(exc), field=getattr(exc, "field", None))
            return None
        opt_outs = self.target.opt_outs
        if adopted is not None:
            changes, _ = opt_outs.for_update(
                changed_fields(payload.body, adopted.values, key=self.route.key)
            )
            return Write("adopt", key, record, body={**changes, self.route.key: key}, entry=adopted)
        if entry is None:
            return Write("create", key, record, body=opt_outs.for_create(payload.body))
        changes, kept = opt_outs.for_update(
            changed_fields(
                payload.body,
                entry.values,
                key=self.route.key,
                create_only=self.options.create_only,
            )
        )
        if kept:
            self.target.summary.add(self.stream_name, "opt_outs_kept", kept)
        if not changes:
            self.target.summary.add(self.stream_name, "unchanged")
            return None
        return Write("update", key, record, body=changes, entry=entry)

    def _adoptable(self, index: KeyIndex, body: dict[str, t.Any]) -> Entry | None:
        """Claim the record without a CRM id to adopt instead of creating one (`adopt_by`)."""
        adopt_by = self.options.adopt_by
        return index.adopt(adopt_by, body.get(adopt_by)) if adopt_by else None

    def _plan_delete(self, key: str, record: dict[str, t.Any], entry: Entry | None) -> Write | None:
        if not self.options.applies_deletes(self.config.get("apply_deletes", False)):
            self.target.summary.add(self.stream_name, "skipped_deletes")
            return None
        if entry is None:  # never created, or already deleted
            self.target.summary.add(self.stream_name, "unchanged")
            return None
        return Write("delete", key, record, entry=entry)

    def _plan_filtered_out(
        self, key: str, record: dict[str, t.Any], entry: Entry | None
    ) -> Write | None:
        """Never write it; delete its Campaign record if the stream says so and one exists."""
        self.target.filtered_out[self.stream_name].add(key)
        if self.options.delete_filtered_out and entry is not None:
            return Write("delete_filtered_out", key, record, entry=entry)
        self.target.summary.add(self.stream_name, "filtered_out")
        return None

    def _plan_orphan(
        self, key: str, record: dict[str, t.Any], entry: Entry | None, exc: ParentNotFoundError
    ) -> Write | None:
        """Plan a record whose parent is not in Campaign: filtered out with it, skipped, rejected.

        Parents are written first, so a parent this run filtered out is known here: its
        children are filtered out too (and their own children after them).
        """
        if exc.parent_key in self.target.filtered_out[exc.link.stream]:
            return self._plan_filtered_out(key, record, entry)
        if self.options.missing_parent == "skip":
            self.target.summary.add(self.stream_name, "skipped_no_parent")
            return None
        self._reject(record, key, exc.reason, field=exc.field)
        return None

    def _parent_pkey(self, link: Link, parent_key: str) -> str | None:
        entry = self.target.key_index(link.stream).get(parent_key)
        return entry.pkey if entry else None

    # --- calls ----------------------------------------------------------------------------

    def _execute(self, index: KeyIndex, write: Write) -> str:
        """Make one call (in a pool thread); return its outcome, or AMBIGUOUS."""
        try:
            if write.kind == "create":
                created = self.client.post(self.route.path, write.body)
                index.put(write.key, Entry.from_record(created, self.route.path))
                return "created"
            assert write.entry is not None  # planned with its entry
            if write.kind in ("update", "adopt"):
                self.client.patch(write.entry.href, write.body)
                write.entry.values.update(write.body or {})
                if write.kind == "adopt":
                    index.put(write.key, write.entry)
                    return "adopted"
                return "updated"
            self.client.delete(write.entry.href)
            index.remove(write.key)
        except (RecordRefusedError, NotFoundError) as exc:  # this record only; others stop
            self._reject(
                write.record,
                write.key,
                exc.error_message,
                field=exc.field,
                status=exc.status,
                code=exc.code,
            )
            return "rejected"
        except AmbiguousWriteError:
            return AMBIGUOUS
        return "deleted_filtered_out" if write.kind == "delete_filtered_out" else "deleted"

    def _pretend(self, index: KeyIndex, write: Write) -> str:
        """Dry run: update the key index as the call would have, and return its outcome.

        Later batches (and children looking up a new parent) then decide as in a real run.
        """
        if write.kind == "create":
            body = write.body or {}
            pkey = f"dry-run:{write.key}"
            index.put(write.key, Entry(pkey=pkey, href=f"{self.route.path}/{pkey}", values=body))
            return "created"
        assert write.entry is not None  # planned with its entry
        if write.kind in ("update", "adopt"):
            write.entry.values.update(write.body or {})
            if write.kind == "adopt":
                index.put(write.key, write.entry)
                return "adopted"
            return "updated"
        index.remove(write.key)
        return "deleted_filtered_out" if write.kind == "delete_filtered_out" else "deleted"

    def _collect(
        self, writes: list[Write], futures: list[Future[str]]
    ) -> tuple[list[Write], BaseException | None]:
        """Count outcomes; return the ambiguous creates and the first fatal error, if any.

        Every call is awaited before a fatal error is raised, so the counts are complete.
        """
        ambiguous: list[Write] = []
        failure: BaseException | None = None
        for write, future in zip(writes, futures, strict=True):
            try:
                outcome = future.result()
            except Exception as exc:  # raised once the batch has settled
                failure = failure or exc
                continue
            if outcome == AMBIGUOUS:
                ambiguous.append(write)
            elif outcome != "rejected":  # counted with the reject itself
                self.target.summary.add(self.stream_name, outcome)
        return ambiguous, failure

    def _settle_ambiguous_creates(self, index: KeyIndex, writes: list[Write]) -> None:
        """Look the keys up; create only what Campaign really does not have."""
        self.logger.warning(
            "%d create(s) of %s may or may not have happened; looking the keys up",
            len(writes),
            self.route.resource,
        )
        index.refresh(write.key for write in writes)
        for write in writes:
            try:
                exists = index.get(write.key) is not None
            except DuplicateKeyError as exc:
                self._reject(write.record, write.key, str(exc), field=self.route.key)
                continue
            outcome = "created" if exists else self._execute(index, write)
            if outcome == AMBIGUOUS:
                msg = (
                    f"Creating {self.route.resource} {self.route.key} '{write.key}' failed "
                    "twice with an unknown outcome; stopping before anything else is written"
                )
                raise AmbiguousWriteError(msg)
            if outcome != "rejected":
                self.target.summary.add(self.stream_name, outcome)

    def _reject(
        self,
        record: dict[str, t.Any],
        key: str | None,
        reason: str,
        *,
        field: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.logger.warning("Rejected %s record %s: %s", self.stream_name, key, reason)
        self.target.summary.add(self.stream_name, "rejected")
        self.target.rejects.write(
            stream=self.stream_name,
            key=key,
            reason=reason,
            field=field,
            status=status,
            code=code,
            record={
                k: v
                for k, v in record.items()
                if not k.startswith(SDC_PREFIX) or (k == DELETED_AT and v is not None)
            },
        )
