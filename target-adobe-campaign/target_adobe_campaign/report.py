"""Where a record's outcome goes: `sync_support.rejects.Report`, without `_sdc_*` metadata."""

from __future__ import annotations

import typing as t

from sync_support.rejects import Report as SharedReport

from target_adobe_campaign.payload import DELETED_AT, SDC_PREFIX


class Report(SharedReport):
    """Counts outcomes and writes rejects, a rejected record without `_sdc_*` metadata.

    Of those fields only a delete's time is kept (the record as the target received it, after
    the stream maps).
    """

    def kept(self, name: str, value: t.Any) -> bool:
        """Leave out `_sdc_*` metadata, but a delete's `_sdc_deleted_at`."""
        return not name.startswith(SDC_PREFIX) or (name == DELETED_AT and value is not None)
