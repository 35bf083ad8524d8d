"""Where a record's outcome goes: the run's counts and, for a refused record, the rejects file."""

from __future__ import annotations

import logging
import typing as t

from target_adobe_campaign.payload import DELETED_AT, SDC_PREFIX

if t.TYPE_CHECKING:
    from sync_support.rejects import RejectsFile, RunSummary


class Report:
    """Counts outcomes per stream and writes rejects; thread-safe as its two parts are."""

    def __init__(
        self, summary: RunSummary, rejects: RejectsFile, logger: logging.Logger | None = None
    ) -> None:
        """Count into `summary`, write refused records to `rejects`."""
        self.summary = summary
        self.rejects = rejects
        self.logger = logger or logging.getLogger(__name__)

    def add(self, stream: str, outcome: str, count: int = 1) -> None:
        """Count `count` records of `stream` with `outcome`."""
        self.summary.add(stream, outcome, count)

    def reject(
        self,
        stream: str,
        record: t.Mapping[str, t.Any],
        key: str | None,
        reason: str,
        *,
        field: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        """Count the record rejected and write it (without `_sdc_*` metadata but a delete)."""
        self.logger.warning("Rejected %s record %s: %s", stream, key, reason)
        self.summary.add(stream, "rejected")
        self.rejects.write(
            stream=stream,
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
