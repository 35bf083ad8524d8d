"""When creates go to an import file instead of one POST each, and the large-load guard.

`bulk` (standard backend only):

- `never`: every create is a POST (as before).
- `always`: every create of a stream goes to its resource's import file (`import_workflow`,
  required on every resource).
- `auto` (default): a stream whose resource has an `import_workflow` sends its creates by
  REST until the run has made `bulk_threshold` of them; from the batch that reaches the
  threshold on, the rest of the run's creates of that stream go to the file. The target cannot
  know how many records a run brings, so it pays at most `bulk_threshold` POSTs (the number
  at which the file path starts to win) before it switches: an incremental run stays on
  REST, a large load goes to the file after its first batches.

Updates, adoptions and deletes stay REST calls: a PATCH sends the changed fields only (an
import line sets every column of the file), honours `create_only` and the opt-out rules as
planned, and deletes have no import form.

The guard (Adobe's integration limits): a run whose creates of one resource would pass
2,000,000 (a replay: the resource already held integration records when the run started) or
15,000,000 (an initial load: it held none) stops before the batch that passes the limit is
written (no POST, no line staged), unless `confirm_large_load` is true. The total is not known
in advance (a Singer target reads a stream), so the guard counts as records come: what was
written before the limit stays written, and STATE covers it.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from target_adobe_campaign.routing import Route

AUTO, ALWAYS, NEVER = "auto", "always", "never"
BULK_MODES = (AUTO, ALWAYS, NEVER)
#: Creates of a stream in one run from which `auto` writes the file (measured: README).
DEFAULT_BULK_THRESHOLD = 2000
#: Time budget of one import: waiting out the 10-minute signal rule, a run in progress, the run.
DEFAULT_BULK_TIMEOUT = 6 * 3600
DEFAULT_IMPORTS_DIR = "d365_loads/imports"
#: Adobe takes an import workflow's signal every 10 minutes at most: a checkpoint as often.
DEFAULT_BULK_CHECKPOINT_MINUTES = 10
#: Adobe's integration limits: replays, initial loads.
REPLAY_LIMIT = 2_000_000
INITIAL_LOAD_LIMIT = 15_000_000

BULK_SETTINGS = th.PropertiesList(
    th.Property(
        "bulk",
        th.StringType(allowed_values=list(BULK_MODES)),
        default=AUTO,
        description="Creates through the resource's import workflow (a CSV file in the SFTP "
        "storage, resources.*.import_workflow) instead of one POST each: auto (from "
        "bulk_threshold creates of a stream in a run on), always, never. Updates and deletes "
        "stay REST calls. Standard backend only",
    ),
    th.Property(
        "bulk_threshold",
        th.IntegerType(minimum=1),
        default=DEFAULT_BULK_THRESHOLD,
        description="bulk auto: creates of a stream in one run made by REST before the rest of "
        "the run's creates go to the import file",
    ),
    th.Property(
        "bulk_timeout_seconds",
        th.IntegerType(minimum=1),
        default=DEFAULT_BULK_TIMEOUT,
        description="Time budget of one import: waiting for the signal (Campaign takes one "
        "every 10 minutes per workflow, and none while a run is in progress) and for the run",
    ),
    th.Property(
        "bulk_checkpoint_minutes",
        th.NumberType(minimum=0),
        default=DEFAULT_BULK_CHECKPOINT_MINUTES,
        description="A long bulk load imports what it staged once the first line has waited "
        "this long, at the next STATE, so Meltano's state moves on during the load (a killed "
        "run resumes from there); 0: one import per resource at the end",
    ),
    th.Property(
        "bulk_imports_dir",
        th.StringType,
        default=DEFAULT_IMPORTS_DIR,
        description="Folder of the SFTP storage the import files are written to (the SFTP "
        "login must be allowed to write there; the workflows read fileName from it)",
    ),
    th.Property(
        "confirm_large_load",
        th.BooleanType,
        default=False,
        description="Go on past Adobe's limits: more than 2,000,000 creates of a resource in "
        "a run that already had records (a replay), more than 15,000,000 in an initial load; "
        "without it the run stops before writing the batch that passes the limit",
    ),
)


class LargeLoadError(Exception):
    """A run would pass Adobe's replay or initial-load limit without `confirm_large_load`."""


def bulk_errors(config: Mapping[str, t.Any], routes: Mapping[str, Route]) -> list[str]:
    """Rules JSON Schema cannot express: `always` needs every workflow, files need SFTP."""
    mode = config.get("bulk") or AUTO
    if mode == NEVER:
        return []
    errors = []
    if mode == ALWAYS:
        if config.get("backend") == "v8":
            errors.append("bulk: always is for the standard backend (v8 writes collections)")
        errors.extend(
            f"resources.{stream}.import_workflow is required with bulk: always"
            for stream, route in routes.items()
            if not route.import_workflow
        )
    uses_files = config.get("backend") != "v8" and any(r.import_workflow for r in routes.values())
    if uses_files and not config.get("sftp_host"):
        errors.append("sftp_host (and its login) is required to write import files (bulk)")
    return errors


@dataclass
class BulkPolicy:
    """Decides, batch by batch, whether a stream's creates go to the file; counts the run's."""

    mode: str = AUTO
    threshold: int = DEFAULT_BULK_THRESHOLD
    confirmed: bool = False
    created: dict[str, int] = field(default_factory=dict)  # stream -> creates this run
    initial: dict[str, bool] = field(default_factory=dict)  # stream -> resource empty at start
    switched: set[str] = field(default_factory=set)  # streams writing files from now on

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> BulkPolicy:
        """`bulk`, `bulk_threshold`, `confirm_large_load`."""
        return cls(
            mode=config.get("bulk") or AUTO,
            threshold=int(config.get("bulk_threshold") or DEFAULT_BULK_THRESHOLD),
            confirmed=bool(config.get("confirm_large_load")),
        )

    def to_file(self, route: Route, creates: int, indexed: int) -> bool:
        """Count a batch's `creates`; whether they go to the import file.

        `indexed`: the records the resource's index holds (read at the first batch: zero
        makes the run an initial load). Raises `LargeLoadError` before anything is written.
        """
        stream = route.stream
        self.initial.setdefault(stream, indexed == 0)
        total = self.created.get(stream, 0) + creates
        self._guard(route, total)
        self.created[stream] = total
        if not route.import_workflow or self.mode == NEVER:
            return False
        if self.mode == ALWAYS or stream in self.switched or (creates and total >= self.threshold):
            self.switched.add(stream)
            return True
        return False

    def _guard(self, route: Route, total: int) -> None:
        initial = self.initial[route.stream]
        limit = INITIAL_LOAD_LIMIT if initial else REPLAY_LIMIT
        if total <= limit or self.confirmed:
            return
        kind = "an initial load" if initial else "a replay (the resource already had records)"
        msg = (
            f"Stopped before writing: this run would create more than {limit:,} "
            f"{route.resource} records ({total:,} so far, stream {route.stream}), "
            f"{kind}; Adobe guards such loads. Set confirm_large_load: true to go on"
        )
        raise LargeLoadError(msg)
