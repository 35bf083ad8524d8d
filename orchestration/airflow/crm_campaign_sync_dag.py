"""Airflow DAGs for crm-campaign-sync: one DAG per schedule of `meltano.yml`.

Put this file in Airflow's DAGs folder (or point the folder here). Each DAG runs `meltano
--environment=<env> schedule run <schedule>` in the project, with umask 077 (Meltano's run files
hold secrets) and the project's own XDG_STATE_HOME (Meltano's logs), one run at a time.
Settings, from the environment of the Airflow workers:

- CRM_SYNC_PROJECT: the project's folder (default: this repository, two levels up);
- CRM_SYNC_ENVIRONMENT: the Meltano environment (default: prod);
- CRM_SYNC_MELTANO: the meltano executable (default: the project's .venv/bin/meltano).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import yaml
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

PROJECT = Path(os.environ.get("CRM_SYNC_PROJECT") or Path(__file__).resolve().parents[2])
ENVIRONMENT = os.environ.get("CRM_SYNC_ENVIRONMENT", "prod")
MELTANO = os.environ.get("CRM_SYNC_MELTANO") or str(PROJECT / ".venv" / "bin" / "meltano")


def schedules() -> dict[str, str]:
    """Schedule name → interval, as `meltano.yml` declares them."""
    project = yaml.safe_load((PROJECT / "meltano.yml").read_text(encoding="utf-8"))
    return {entry["name"]: entry["interval"] for entry in project.get("schedules", [])}


for name, interval in schedules().items():
    with DAG(
        dag_id=name,
        schedule=interval,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["crm-campaign-sync", "meltano"],
    ) as dag:
        BashOperator(
            task_id="meltano_schedule_run",
            bash_command=f"umask 077 && {MELTANO} --environment={ENVIRONMENT} schedule run {name}",
            cwd=str(PROJECT),
            env={"XDG_STATE_HOME": str(PROJECT / ".meltano" / "xdg-state")},
            append_env=True,
        )
    globals()[name.replace("-", "_")] = dag
