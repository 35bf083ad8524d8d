"""What every v8 stream shares: the tap's SOAP session, page size, progress lines, checkpoints."""

from __future__ import annotations

import abc
import typing as t

from singer_sdk import Stream
from sync_support.progress import StreamProgress

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from campaign_client.soap_session import SoapSession
    from singer_sdk.helpers.types import Context
    from singer_sdk.tap_base import Tap
    from sync_support.progress import ChangedAt

DEFAULT_PAGE_SIZE = 500


class SoapStream(Stream, abc.ABC):
    """A stream read with `xtk:queryDef#ExecuteQuery` pages on the tap's `SoapSession`.

    Subclasses implement `_read`; `get_records` wraps it in `StreamProgress` (a running total,
    a summary line with the session's SOAP calls and retries).
    """

    progress: StreamProgress  # of the read in progress (`get_records`)
    #: A record's change time, for the summary's `lag_seconds`.
    changed_at: ChangedAt | None = None

    def __init__(self, tap: Tap, session: SoapSession, **kwargs: t.Any) -> None:
        """Read through `session` (one logon shared by every stream)."""
        self.session = session
        super().__init__(tap, **kwargs)

    @property
    def page_size(self) -> int:
        """Rows per queryDef page (`page_size`, Campaign's `lineCount`)."""
        return int(self.config.get("page_size") or DEFAULT_PAGE_SIZE)

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read, with progress lines and a summary line (`StreamProgress`)."""
        changed_at = self.changed_at if self.tells_lag(context) else None
        self.progress = StreamProgress(
            self.name, self.logger, self.session.calls, changed_at=changed_at
        )
        yield from self.progress.track(self._read(context))

    def tells_lag(self, context: Context | None) -> bool:
        """Whether this read tells its lag: logs always (they are read from where they stopped)."""
        return True

    @abc.abstractmethod
    def _read(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Yield the stream's records, checkpointing (`_checkpoint`) after each page."""

    def _bookmark(self, context: Context | None) -> t.Any:
        """Return this stream's replication key value from the state, or None."""
        state = self.get_context_state(context)
        if state.get("replication_key") != self.replication_key:
            return None
        return state.get("replication_key_value") or None

    def _checkpoint(self, value: str, context: Context | None, **extra: t.Any) -> None:
        """Set the bookmark to `value` (and `extra` state keys) and emit STATE now.

        Called once a page's records are written (the generator resumes when the SDK asks for
        the next record), so a stopped run resumes after the last page it finished.
        """
        key = str(self.replication_key)
        self.state_manager.increment_state({key: value}, context=context, replication_key=key)
        self.get_context_state(context).update(extra)
        self.state_manager.is_flushed = False
        self._write_state_message()
        self.progress.page()
