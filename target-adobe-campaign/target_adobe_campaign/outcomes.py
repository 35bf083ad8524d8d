"""What can happen to a record in a run: the outcomes the summary counts, in its order."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from sync_support.rejects import RunSummary

OUTCOMES = (
    "created",
    "adopted",  # `adopt_by`: a record without a CRM id updated and given it, not created
    "updated",
    "unchanged",
    "deleted",
    "skipped_deletes",
    "filtered_out",  # `_sdc_filtered_out` true: not written (no Campaign record, or not deleting)
    "deleted_filtered_out",  # `_sdc_filtered_out` true: its Campaign record deleted
    "rejected",
    "skipped_no_parent",  # a link's parent is not in Campaign and `missing_parent` is skip
    # not a record outcome: Campaign opt-outs a record would have cleared (opt_out_sync
    # bidirectional); the record itself is also counted updated or unchanged
    "opt_outs_kept",
)


def would_line(summary: RunSummary) -> str:
    """Return what a dry run would have done, in one line."""
    deleted = summary.total("deleted") + summary.total("deleted_filtered_out")
    adopted = summary.total("adopted")
    return (
        f"would create {summary.total('created')}, "
        + (f"adopt {adopted}, " if adopted else "")
        + f"update {summary.total('updated')}, "
        f"delete {deleted}, reject {summary.total('rejected')}, "
        f"unchanged {summary.total('unchanged')}"
    )
