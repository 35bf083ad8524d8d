"""Dagster code location for crm-campaign-sync: a job per Meltano job, a schedule per schedule.

Load it with `dagster dev -f orchestration/dagster/definitions.py` (or as a code location in
`workspace.yaml`). Each job has one op running `meltano --environment=<env> run <job>` in the
project, with umask 077 (Meltano's run files hold secrets) and the project's XDG_STATE_HOME; a
run that exits non-zero fails the op with the tail of Meltano's output. Settings, from the
environment of the Dagster process:

- CRM_SYNC_PROJECT: the project's folder (default: this repository, two levels up);
- CRM_SYNC_ENVIRONMENT: the Meltano environment (default: prod);
- CRM_SYNC_MELTANO: the meltano executable (default: the project's .venv/bin/meltano).
"""

# No `from __future__ import annotations`: Dagster reads the op's `context` type at definition.
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml
from dagster import (
    Definitions,
    Failure,
    JobDefinition,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)

PROJECT = Path(os.environ.get("CRM_SYNC_PROJECT") or Path(__file__).resolve().parents[2])
ENVIRONMENT = os.environ.get("CRM_SYNC_ENVIRONMENT", "prod")
MELTANO = os.environ.get("CRM_SYNC_MELTANO") or str(PROJECT / ".venv" / "bin" / "meltano")
#: Meltano's interval shorthands as cron expressions.
CRON = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0"}
OUTPUT_TAIL = 40  # lines of Meltano's output kept in the op's log and failure


def slug(name: str) -> str:
    """`d365-to-campaign` → `d365_to_campaign` (Dagster names are identifiers)."""
    return name.replace("-", "_")


def meltano_job(name: str) -> JobDefinition:
    """Build the Dagster job of one op running `meltano run <name>`."""

    @op(name=f"meltano_run_{slug(name)}")
    def run(context: OpExecutionContext) -> None:
        env = {"XDG_STATE_HOME": str(PROJECT / ".meltano" / "xdg-state"), **os.environ}
        done = subprocess.run(
            [MELTANO, f"--environment={ENVIRONMENT}", "run", name],
            cwd=PROJECT,
            env=env,
            umask=0o077,
            capture_output=True,
            text=True,
            check=False,
        )
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-OUTPUT_TAIL:])
        context.log.info(f"meltano run {name} exited {done.returncode}:\n{tail}")
        if done.returncode != 0:
            raise Failure(
                description=f"meltano run {name} exited {done.returncode}",
                metadata={"output": tail},
            )

    @job(name=slug(name), tags={"meltano_job": name})
    def meltano() -> None:
        run()

    return meltano


def project() -> dict[str, Any]:
    """Read the project's `meltano.yml`."""
    loaded: dict[str, Any] = yaml.safe_load((PROJECT / "meltano.yml").read_text(encoding="utf-8"))
    return loaded


JOBS = {entry["name"]: meltano_job(entry["name"]) for entry in project().get("jobs", [])}
SCHEDULES = [
    ScheduleDefinition(
        name=slug(entry["name"]),
        cron_schedule=CRON.get(entry["interval"], entry["interval"]),
        job=JOBS[entry["job"]],
    )
    for entry in project().get("schedules", [])
]
defs = Definitions(jobs=list(JOBS.values()), schedules=SCHEDULES)
