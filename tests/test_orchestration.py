"""The orchestrator files work as documented: Airflow's DAGs import cleanly, Dagster runs a job.

Each orchestrator is installed from PyPI into a venv of its own (as a team runs it, beside the
project's venv), and loads the file from `orchestration/` with the project's `meltano.yml`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from crm_sandbox.testing import Sandbox

from scripts.jsonl_output import read_jsonl_dir
from tests.harness import ENVIRONMENT, REPO_ROOT, MeltanoProject

UV = str(Path(sys.executable).with_name("uv"))
MELTANO = str(Path(sys.executable).with_name("meltano"))
AIRFLOW = "apache-airflow==3.3.2"
DAGSTER = "dagster==1.13.28"
SCHEDULES = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())["schedules"]


def venv_with(requirement: str, where: Path) -> Path:
    """A venv holding `requirement` (and what it needs); its python."""
    venv = where / "venv"
    subprocess.run([UV, "venv", "-q", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [UV, "pip", "install", "-q", "--python", str(python), requirement],
        check=True,
        timeout=900,
    )
    return python


def run_script(python: Path, script: str, env: dict[str, str]) -> dict:
    """Run `script` with `python`; it prints one JSON document as its last line."""
    done = subprocess.run(
        [str(python), "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_airflow_dags_import_without_errors_or_deprecation_warnings(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    where = tmp_path_factory.mktemp("airflow")
    python = venv_with(AIRFLOW, where)
    dag_file = REPO_ROOT / "orchestration" / "airflow" / "crm_campaign_sync_dag.py"
    script = f"""
        import json, runpy, warnings
        import airflow  # its own import-time warnings are not the DAG file's
        from airflow.sdk import DAG
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            namespace = runpy.run_path({str(dag_file)!r})
        dags = {{d.dag_id: d for d in namespace.values() if isinstance(d, DAG)}}
        print(json.dumps({{
            "warnings": [f"{{w.category.__name__}}: {{w.message}}" for w in caught],
            "dags": {{
                name: {{
                    "schedule": str(dag.schedule),
                    "commands": [t.bash_command for t in dag.tasks],
                    "max_active_runs": dag.max_active_runs,
                }}
                for name, dag in dags.items()
            }},
        }}))
    """
    env = {"AIRFLOW_HOME": str(where / "home"), "PATH": "/usr/bin:/bin"}
    result = run_script(python, script, env)

    assert result["warnings"] == []
    assert set(result["dags"]) == {entry["name"] for entry in SCHEDULES}
    for entry in SCHEDULES:
        dag = result["dags"][entry["name"]]
        assert dag["max_active_runs"] == 1
        (command,) = dag["commands"]
        meltano = REPO_ROOT / ".venv" / "bin" / "meltano"  # absolute: no PATH lookup
        assert command == (
            f"umask 077 && {meltano} --environment=prod schedule run {entry['name']}"
        )


def test_the_dagster_definitions_load_and_a_job_runs_to_success(
    tmp_path_factory: pytest.TempPathFactory,
    meltano_project: MeltanoProject,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    python = venv_with(DAGSTER, tmp_path_factory.mktemp("dagster"))
    definitions = REPO_ROOT / "orchestration" / "dagster" / "definitions.py"
    out_dir = tmp_path / "out"
    env = meltano_project.env(
        {
            **sandbox.tap_env(),
            "TARGET_JSONL_OUTPUT_DIR": str(out_dir),
            "CRM_SYNC_ENVIRONMENT": ENVIRONMENT,
            "CRM_SYNC_MELTANO": MELTANO,
        }
    )
    script = f"""
        import json, runpy
        defs = runpy.run_path({str(definitions)!r})["defs"]
        repository = defs.get_repository_def()
        jobs = sorted(j.name for j in repository.get_all_jobs() if not j.name.startswith("__"))
        schedules = {{s.name: [s.cron_schedule, s.job_name] for s in repository.schedule_defs}}
        result = defs.get_job_def("d365_to_jsonl").execute_in_process(raise_on_error=False)
        print(json.dumps({{"jobs": jobs, "schedules": schedules, "success": result.success}}))
    """
    result = run_script(python, script, env)

    meltano_jobs = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())["jobs"]
    assert result["jobs"] == sorted(j["name"].replace("-", "_") for j in meltano_jobs)
    assert result["schedules"]["campaign_to_d365_every_15_minutes"] == [
        "*/15 * * * *",
        "campaign_to_d365",
    ]
    assert result["schedules"]["d365_to_campaign_hourly"] == ["0 * * * *", "d365_to_campaign"]
    assert result["success"] is True
    rows = read_jsonl_dir(out_dir)
    assert len(rows["contact"]) == sandbox.admin.state()["counts"]["contacts"]
