"""The project's own entry points run Meltano with umask 077.

Meltano writes each plugin's configuration, secrets included, to `.meltano/run/<plugin>/` and a
killed run leaves the files there; with the default umask they are world-readable (mode 644).
"""

from __future__ import annotations

import re
import subprocess

from tests.harness import REPO_ROOT

#: What starts Meltano, directly or through the project's scripts and benchmarks.
RUNS_MELTANO = re.compile(r"bin/meltano |-m (scripts|bench)\.|-m pytest .*\btests\b")


def test_every_make_recipe_that_runs_meltano_sets_umask_077() -> None:
    goals = ["plugins", "demo", "check", "replay", "bench", "test-e2e", "JOB=j", "STREAM=s"]
    dry = subprocess.run(
        ["make", "--dry-run", "--always-make", *goals],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    commands = [line for line in dry.stdout.splitlines() if RUNS_MELTANO.search(line)]
    assert len(commands) >= 7, dry.stdout  # install, demo, check, replay, 3 benchmarks, e2e
    assert [c for c in commands if "umask 077 &&" not in c] == []


def test_the_documented_scheduler_commands_set_umask_077() -> None:
    scheduling = (REPO_ROOT / "docs" / "scheduling.md").read_text()
    cron = [line for line in scheduling.splitlines() if "schedule run" in line and "*" in line]
    assert len(cron) == 2
    assert all("umask 077 &&" in line for line in cron)
    orchestration = REPO_ROOT / "orchestration"
    airflow = (orchestration / "airflow" / "crm_campaign_sync_dag.py").read_text()
    assert 'bash_command=f"umask 077 && ' in airflow
    dagster = (orchestration / "dagster" / "definitions.py").read_text()
    assert "umask=0o077," in dagster
