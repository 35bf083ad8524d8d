"""`opt_outs`: Campaign's opt-out export files, read from its SFTP storage.

Adobe's Dynamics 365 integration receives Campaign's opt-outs this way: a daily workflow
exports them to the SFTP storage (`d365_loads/exports`). Campaign Standard's REST API has no
per-attribute change time, the export has one per flag (`<flag>LastModified`), which the
bidirectional rule needs.

Files are read in name (= time) order; the bookmark is the position of the last record,
`<file>:<row>`. A run reads the bookmark's file from the next row on, then every later
file; a STATE is written after each file (and every 10,000 records), so a stopped run
resumes mid-file. Without a bookmark (first run, full refresh) every file in the folder is
read, or with `start_date` the files the workflow wrote from that time on (a new integration
need not replay the tenant's opt-out history).

A row is a snapshot of all of a profile's opt-outs, so of the rows a run reads only each
profile's last one is emitted: the files are downloaded first, then read twice.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import tempfile
import typing as t

from campaign_client.sftp import RemoteFolder, SFTPSettings
from singer_sdk import Stream
from sync_support.progress import CallCounts, StreamProgress, field_time

from tap_adobe_campaign.optout_export import (
    OPT_OUT_SCHEMA,
    MalformedRow,
    export_time,
    exports_dir,
    is_export_file,
    parse_position,
    read_export,
)
from tap_adobe_campaign.tap_settings import CAMPAIGN_TO_D365_MODES, DEFAULT_OPT_OUT_SYNC

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context
    from singer_sdk.tap_base import Tap

#: Malformed rows logged one by one; the rest are only counted.
MAX_LOGGED_ROWS = 20


class OptOutsStream(Stream):
    """One record per row of Campaign's opt-out export files (incremental on the position)."""

    name = "opt_outs"
    primary_keys = ("export_position",)
    replication_key = "export_position"
    is_sorted = True  # files by name (time), rows in file order
    schema = OPT_OUT_SCHEMA
    progress: StreamProgress  # of the read in progress (`get_records`)

    def __init__(
        self,
        tap: Tap,
        *,
        folder: Callable[[SFTPSettings], RemoteFolder] | None = None,
    ) -> None:
        """`folder` opens the export folder (tests pass one on a fake SFTP server)."""
        super().__init__(tap)
        self._open_folder = folder or (
            lambda s: RemoteFolder(s, exports_dir(self.config), logger=self.logger)
        )
        self.malformed: list[MalformedRow] = []
        self.files_read: list[str] = []
        self.superseded = 0

    def disabled_reason(self) -> str | None:
        """Why this run emits nothing, or None when it reads the exports."""
        mode = self.config.get("opt_out_sync") or DEFAULT_OPT_OUT_SYNC
        if mode not in CAMPAIGN_TO_D365_MODES:
            return f"opt_out_sync is {mode}: Campaign's opt-outs are not sent to Dynamics 365"
        if not self.config.get("sftp_host"):
            return "sftp_host is not set: no Campaign SFTP storage to read the exports from"
        return None

    def _bookmark(self, context: Context | None) -> tuple[str, int] | None:
        state = self.get_context_state(context)
        value = state.get("replication_key_value")
        if state.get("replication_key") != self.replication_key or not value:
            return None
        return parse_position(str(value))

    def _start_date(self) -> datetime.datetime | None:
        value = self.config.get("start_date")
        if not value:
            return None
        start = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return start if start.tzinfo else start.replace(tzinfo=datetime.UTC)

    def _on_malformed(self, row: MalformedRow) -> None:
        self.malformed.append(row)
        if len(self.malformed) <= MAX_LOGGED_ROWS:
            self.logger.error("Skipped malformed opt-out export row: %s", row)

    @staticmethod
    def _read(
        name: str,
        local: t.BinaryIO,
        after_row: int,
        on_malformed: Callable[[MalformedRow], None],
    ) -> Iterator[dict[str, t.Any]]:
        local.seek(0)
        text = io.TextIOWrapper(local, encoding="utf-8", newline="")
        try:
            yield from read_export(name, text, after_row=after_row, on_malformed=on_malformed)
        finally:
            text.detach()  # the temporary file stays open for the next pass

    def _latest_rows(
        self, local: Mapping[str, t.BinaryIO], first_row: Mapping[str, int]
    ) -> dict[str, str]:
        """Profile PKey → position of its last row among the files of this run.

        A row is a snapshot of all of a profile's opt-outs, so only the last one counts. A
        catch-up run reading several files would otherwise apply an old row first, and
        that write would make the contact look newer than the profile's later row.
        """
        latest: dict[str, str] = {}
        for name, file in local.items():
            for record in self._read(name, file, first_row[name], lambda _row: None):
                latest[record["PKey"]] = record["export_position"]
        return latest

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read the export files, with progress lines and a summary (`StreamProgress`).

        Its pages are export files; it sends no HTTP request (the files come over SFTP).
        """
        self.progress = StreamProgress(
            self.name, self.logger, CallCounts(), changed_at=field_time("lastModified")
        )
        yield from self.progress.track(self._read_files(context))

    def _read_files(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read every export file after the bookmark (all of them without one)."""
        reason = self.disabled_reason()
        if reason:
            self.logger.info("opt_outs emits nothing: %s", reason)
            return
        self.malformed, self.files_read, self.superseded = [], [], 0
        bookmark = self._bookmark(context)
        start_file, start_row = bookmark or ("", 0)
        settings = SFTPSettings.from_config(self.config)
        with contextlib.ExitStack() as files:
            local: dict[str, t.BinaryIO] = {}
            with self._open_folder(settings) as folder:
                names = [n for n in folder.list_files(is_export_file) if n >= start_file]
                since = None if bookmark else self._start_date()
                if since is not None:
                    names = [n for n in names if export_time(n) >= since]
                self.logger.info(
                    "%d opt-out export file(s) to read in %s%s",
                    len(names),
                    folder.directory,
                    f" (from {start_file} after row {start_row})"
                    if bookmark
                    else f" (written from {since} on)"
                    if since
                    else " (all)",
                )
                for name in names:
                    local[name] = files.enter_context(tempfile.TemporaryFile())
                    folder.download(name, local[name])
            first_row = {name: start_row if name == start_file else 0 for name in names}
            latest = self._latest_rows(local, first_row)
            for name in names:
                for record in self._read(name, local[name], first_row[name], self._on_malformed):
                    if latest[record["PKey"]] == record["export_position"]:
                        yield record
                    else:
                        self.superseded += 1
                self.files_read.append(name)
                # Runs once the file's last record is written: checkpoint the file.
                self._write_state_message()
                self.progress.page()
        if self.superseded:
            self.logger.info(
                "Skipped %d opt-out export row(s) superseded by a later row of the same "
                "profile in this run (each row carries all of the profile's opt-outs)",
                self.superseded,
            )
        if self.malformed:
            self.logger.error(
                "Skipped %d malformed opt-out export row(s) in %s: these profiles come again "
                "with their next opt-out change or the export workflow's next full run (start "
                "one in Campaign)",
                len(self.malformed),
                ", ".join(sorted({row.file for row in self.malformed})),
            )
