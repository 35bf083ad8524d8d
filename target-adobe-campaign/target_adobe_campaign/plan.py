"""Planning a batch: each record → the write it needs against Campaign's current state, or none.

The planner decides; it makes no call. Campaign's state comes from the backend
(`CampaignState`: the REST key index, or one v8 read of the batch's keys), so the same rules
hold on both backends: unchanged records are not written, create-only fields only on creates,
opt-out fields as `opt_out_sync` says, deletes and filtered-out records, orphans.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from target_adobe_campaign.payload import (
    DELETED_AT,
    FILTERED_OUT,
    ParentNotFoundError,
    RecordRejectedError,
    build_payload,
    changed_fields,
    key_of,
)
from target_adobe_campaign.state import AmbiguousAdoptionError, DuplicateKeyError

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from target_adobe_campaign.optouts import OptOutPolicy
    from target_adobe_campaign.report import Report
    from target_adobe_campaign.routing import Route
    from target_adobe_campaign.state import CampaignState, Entry

WriteKind = t.Literal["create", "adopt", "update", "delete", "delete_filtered_out"]
#: The outcome each kind of write is counted as once made.
OUTCOME: Mapping[str, str] = {
    "create": "created",
    "adopt": "adopted",
    "update": "updated",
    "delete": "deleted",
    "delete_filtered_out": "deleted_filtered_out",
}


@dataclass
class Write:
    """One write to make: create, update (the changed fields) or delete.

    `adopt` updates a record without a CRM id with the key and the changed fields (`adopt_by`);
    `delete_filtered_out` deletes a record the stream's filter now excludes.
    """

    kind: WriteKind
    key: str
    record: dict[str, t.Any]
    body: dict[str, t.Any] | None = None
    entry: Entry | None = None

    @property
    def outcome(self) -> str:
        """What the record is counted as once the write is made."""
        return OUTCOME[self.kind]


class Planner:
    """Plans one stream's records (its route, options, opt-out policy)."""

    def __init__(
        self,
        route: Route,
        report: Report,
        policy: OptOutPolicy,
        filtered_out: Mapping[str, set[str]],
        *,
        apply_deletes: bool,
    ) -> None:
        """`filtered_out`: stream → CRM ids its filter left out this run (parents first)."""
        self.route = route
        self.options = route.options
        self.report = report
        self.policy = policy
        self.filtered_out = filtered_out
        self.applies_deletes = self.options.applies_deletes(apply_deletes)

    @property
    def stream(self) -> str:
        """The planned stream."""
        return self.route.stream

    def plan(self, record: dict[str, t.Any], state: CampaignState) -> Write | None:
        """Decide the write a record needs; None when it needs none (or is rejected)."""
        key = key_of(record, self.route.key)
        try:
            entry = state.get(key)
            if record.get(DELETED_AT) is not None:
                return self._plan_delete(key, record, entry)
            if record.get(FILTERED_OUT):
                return self._plan_filtered_out(key, record, entry)
            payload = build_payload(record, self.route, state.parent)
            adopt_by = self.options.adopt_by
            adopted = (
                state.adopt(adopt_by, payload.body.get(adopt_by))
                if entry is None and adopt_by
                else None
            )
        except ParentNotFoundError as exc:
            return self._plan_orphan(key, record, entry, exc)
        except AmbiguousAdoptionError as exc:
            self._reject(record, key, str(exc), field=self.options.adopt_by)
            return None
        except (RecordRejectedError, DuplicateKeyError) as exc:
            self._reject(record, key, str(exc), field=getattr(exc, "field", None))
            return None
        if adopted is not None:
            changes, _ = self.policy.for_update(
                changed_fields(payload.body, adopted.values, key=self.route.key)
            )
            return Write("adopt", key, record, body={**changes, self.route.key: key}, entry=adopted)
        if entry is None:
            return Write("create", key, record, body=self.policy.for_create(payload.body))
        changes, kept = self.policy.for_update(
            changed_fields(
                payload.body,
                entry.values,
                key=self.route.key,
                create_only=self.options.create_only,
            )
        )
        if kept:
            self.report.add(self.stream, "opt_outs_kept", kept)
        if not changes:
            self.report.add(self.stream, "unchanged")
            return None
        return Write("update", key, record, body=changes, entry=entry)

    def _plan_delete(self, key: str, record: dict[str, t.Any], entry: Entry | None) -> Write | None:
        if not self.applies_deletes:
            self.report.add(self.stream, "skipped_deletes")
            return None
        if entry is None:  # never created, or already deleted
            self.report.add(self.stream, "unchanged")
            return None
        return Write("delete", key, record, entry=entry)

    def _plan_filtered_out(
        self, key: str, record: dict[str, t.Any], entry: Entry | None
    ) -> Write | None:
        """Never write it; delete its Campaign record if the stream says so and one exists."""
        self.filtered_out[self.stream].add(key)
        if self.options.delete_filtered_out and entry is not None:
            return Write("delete_filtered_out", key, record, entry=entry)
        self.report.add(self.stream, "filtered_out")
        return None

    def _plan_orphan(
        self, key: str, record: dict[str, t.Any], entry: Entry | None, exc: ParentNotFoundError
    ) -> Write | None:
        """Plan a record whose parent is not in Campaign: filtered out with it, skipped, rejected.

        Parents are written first, so a parent this run filtered out is known here: its
        children are filtered out too (and their own children after them).
        """
        if exc.parent_key in self.filtered_out[exc.link.stream]:
            return self._plan_filtered_out(key, record, entry)
        if self.options.missing_parent == "skip":
            self.report.add(self.stream, "skipped_no_parent")
            return None
        self._reject(record, key, exc.reason, field=exc.field)
        return None

    def _reject(
        self, record: dict[str, t.Any], key: str | None, reason: str, *, field: str | None
    ) -> None:
        self.report.reject(self.stream, record, key, reason, field=field)
