"""What can happen to a record in a run: the outcomes the summary counts, in its order."""

OUTCOMES = (
    "created",
    "updated",
    "upserted",
    "deleted",
    "unchanged",
    "skipped",
    "skipped_mode",
    "skipped_existing",
    "skipped_deletes",
    "rejected",
    "opt_outs_reasserted",  # not a record outcome: `updated` contacts re-asserting a D365 opt-out
)
