"""Campaign's import workflows over the REST workflow API: signal one with a file, wait for it.

Documented by Adobe (`triggering-a-signal-activity.md`, `external-signal.md`): `GET
workflow/execution/<id>` describes a workflow, its External signal activity carries
`trigger.href`; `POST` on that href with `{"source": …, "parameters": {…}}` starts a run; a
signal is taken "not more often than every 10 minutes". The workflow (Transfer file → Load
file → Reconciliation → Update data "insert or update" → rejects) is the tenant's: this module
only names the file (`fileName`, the path as the SFTP login sees it).

[inference, as the sandbox serves it] Within the 10 minutes the signal answers 200 with a
`text/plain` sentence and starts nothing: it is sent again after a wait, within the time budget.
409 while the previous run is in progress: waited for the same way. The run's state is the
workflow's `lastRun` (`inProgress` → `finished` | `erroneous`, with counts read / inserted /
updated / unchanged / rejected, `rejectsFile`, `error`), polled with growing waits.

A signal whose answer was lost is never sent twice blindly: before each signal, a last run
that already names this file is taken as this signal's run (file names are unique per run).
"""

from __future__ import annotations

import logging
import time
import typing as t
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import quote

from campaign_client.client import CampaignAPIError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from campaign_client.client import CampaignClient

IN_PROGRESS, FINISHED, ERRONEOUS = "inProgress", "finished", "erroneous"
FILE_PARAMETER = "fileName"
#: First and longest wait between two polls (or two signals), in seconds.
FIRST_WAIT, MAX_WAIT = 0.5, 30.0


class WorkflowError(Exception):
    """An import that did not finish: the workflow's run is erroneous, or it cannot be run."""


class ImportTimeoutError(WorkflowError):
    """The import did not finish within its time budget (the run may go on in Campaign)."""


@dataclass(frozen=True)
class ImportCounts:
    """What became of the file's lines (`read`: the lines loaded)."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, t.Any] | None) -> ImportCounts:
        """Read `lastRun.counts` (missing counts are 0)."""
        data = data or {}
        return cls(**{name: int(data.get(name) or 0) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ImportRun:
    """A workflow's run, as `lastRun` shows it."""

    id: int
    status: str
    file: str | None = None
    counts: ImportCounts = field(default_factory=ImportCounts)
    rejects_file: str | None = None
    error: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, t.Any]) -> ImportRun:
        """Read a `lastRun` object."""
        parameters = data.get("parameters") or {}
        return cls(
            id=int(data["id"]),
            status=str(data.get("status") or ""),
            file=data.get("file") or parameters.get(FILE_PARAMETER),
            counts=ImportCounts.from_json(data.get("counts")),
            rejects_file=data.get("rejectsFile"),
            error=data.get("error"),
        )


def _signal_href(workflow: Mapping[str, t.Any], name: str) -> str:
    """Return the trigger href of the workflow's External signal (the activity with a trigger)."""
    activities = (workflow.get("activities") or {}).get("activity") or {}
    for activity in activities.values():
        href = ((activity or {}).get("trigger") or {}).get("href")
        if href:
            return str(href)
    msg = f"Workflow '{name}' has no External signal activity (no trigger href): it cannot be run"
    raise WorkflowError(msg)


class ImportWorkflows:
    """Runs import workflows through one `CampaignClient`."""

    def __init__(
        self,
        client: CampaignClient,
        *,
        source: str,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`source` is sent with every signal (Adobe: mandatory; it shows in the workflow)."""
        self.client = client
        self.source = source
        self.logger = logger or logging.getLogger(__name__)
        self._sleep = sleep
        self._clock = clock

    def describe(self, workflow: str) -> dict[str, t.Any]:
        """`GET workflow/execution/<workflow>` (internal name or PKey)."""
        return t.cast(
            "dict[str, t.Any]", self.client.get_json(f"workflow/execution/{quote(workflow)}")
        )

    def last_run(self, workflow: str) -> ImportRun | None:
        """Return the workflow's last run, if it has one."""
        run = self.describe(workflow).get("lastRun")
        return ImportRun.from_json(run) if run else None

    def run(self, workflow: str, file_name: str, *, budget_seconds: float) -> ImportRun:
        """Signal `workflow` with `file_name`, wait until its run ended; the finished run.

        Raises `WorkflowError` with the workflow's error if the run is erroneous, and
        `ImportTimeoutError` when `budget_seconds` (signal waits included) run out.
        """
        deadline = self._clock() + budget_seconds
        run = self.signal(workflow, file_name, deadline)
        return self.wait(workflow, run.id, deadline)

    def signal(self, workflow: str, file_name: str, deadline: float) -> ImportRun:
        """Start a run on `file_name`, waiting out the 10-minute rule and a run in progress."""
        waits = self._waits()
        while True:
            described = self.describe(workflow)
            last = described.get("lastRun")
            if last and ImportRun.from_json(last).file == file_name:
                self.logger.info(
                    "%s: run %s already has %s (an earlier signal was taken)",
                    workflow,
                    last.get("id"),
                    file_name,
                )
                return ImportRun.from_json(last)
            why = self._trigger(workflow, _signal_href(described, workflow), file_name)
            if isinstance(why, ImportRun):
                return why
            self._pause(workflow, why, next(waits), deadline)

    def _trigger(self, workflow: str, href: str, file_name: str) -> ImportRun | str:
        """POST the signal; the run it started, or why it started nothing (to wait)."""
        body = {"source": self.source, "parameters": {FILE_PARAMETER: file_name}}
        try:
            response = self.client.request("POST", href, json=body)
        except CampaignAPIError as exc:
            if exc.status == HTTPStatus.CONFLICT:
                return f"a run is in progress ({exc.error_message})"
            msg = f"Workflow '{workflow}' refused the signal: {exc}"
            raise WorkflowError(msg) from exc
        if not response.headers.get("Content-Type", "").startswith("application/json"):
            return f"the signal was refused for now: {response.text.strip()}"
        last = response.json().get("lastRun")
        if not last or ImportRun.from_json(last).file != file_name:
            return "the signal started no run on this file"
        run = ImportRun.from_json(last)
        self.logger.info("%s: run %d started on %s", workflow, run.id, file_name)
        return run

    def wait(self, workflow: str, run_id: int, deadline: float) -> ImportRun:
        """Poll until run `run_id` is no longer in progress; the finished run."""
        waits = self._waits()
        while True:
            run = self.last_run(workflow)
            if run is None or run.id != run_id:
                msg = f"Workflow '{workflow}' no longer shows run {run_id}: its outcome is unknown"
                raise WorkflowError(msg)
            if run.status == FINISHED:
                return run
            if run.status != IN_PROGRESS:
                msg = (
                    f"Workflow '{workflow}' run {run_id} on {run.file} is {run.status}: {run.error}"
                )
                raise WorkflowError(msg)
            self._pause(
                workflow, f"run {run_id}: {run.counts.read} line(s) read", next(waits), deadline
            )

    def _pause(self, workflow: str, why: str, wait: float, deadline: float) -> None:
        left = deadline - self._clock()
        if left <= 0:
            msg = (
                f"Workflow '{workflow}' did not finish within its time budget ({why}); a run "
                "in progress goes on in Campaign"
            )
            raise ImportTimeoutError(msg)
        self.logger.info("%s: %s; next look in %.1f s", workflow, why, min(wait, left))
        self._sleep(min(wait, left))

    @staticmethod
    def _waits() -> t.Iterator[float]:
        wait = FIRST_WAIT
        while True:
            yield wait
            wait = min(wait * 2, MAX_WAIT)
