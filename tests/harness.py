"""Run real `meltano run` pipelines from this repository's meltano.yml, isolated from a developer's.

The project root is the repository itself (so `${MELTANO_PROJECT_ROOT}` in pip_url points at the
local packages), but `.meltano/` (system database, plugin venvs, run files) lives in a temporary
directory through `MELTANO_SYS_DIR_ROOT`, `.env` is replaced by an empty file (`--env-file`), and
every plugin-setting variable (`TAP_DYNAMICS365_*`, `TARGET_ADOBE_CAMPAIGN_*`, ...) and every
`MELTANO_*` variable of the calling shell is dropped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.jsonl_output import read_jsonl_dir
from scripts.meltano_env import clean_environ
from scripts.replay import replay

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The D365 tables the schema wizard maps for meltano.yml, and its reviewed output per table
#: (Standard: resource.json, published by the administrator; v8: the srcSchema).
WIZARD_TABLES = ("account", "salesorder")
WIZARD_GOLDEN = REPO_ROOT / "target-adobe-campaign" / "tests" / "wizard_golden"
MELTANO = str(Path(sys.executable).with_name("meltano"))
TAP = "tap-dynamics365"
LOADER = "target-jsonl"
CAMPAIGN_TAP = "tap-dynamics365--campaign"  # the d365-to-campaign job's extractor
CAMPAIGN_LOADER = "target-adobe-campaign"
CAMPAIGN_JOB = "d365-to-campaign"
EVENTS_TAP = "tap-adobe-campaign"  # the campaign-to-d365 job: events and opt-outs into D365
EVENTS_LOADER = "target-dynamics365"
EVENTS_JOB = "campaign-to-d365"
#: The same two jobs against a Campaign v8 instance (SOAP): inheriting plugins, own state ids.
CAMPAIGN_LOADER_V8 = "target-adobe-campaign--v8"
CAMPAIGN_JOB_V8 = "d365-to-campaign-v8"
EVENTS_TAP_V8 = "tap-adobe-campaign--v8"
EVENTS_JOB_V8 = "campaign-to-d365-v8"
#: The v8 loader's own variables (it sets `rejects_file` itself, so the parent's variable of
#: that setting does not reach it; settings it leaves alone take TARGET_ADOBE_CAMPAIGN_*).
CAMPAIGN_V8_PREFIX = "TARGET_ADOBE_CAMPAIGN__V8"
EVENTS_V8_PREFIX = "TAP_ADOBE_CAMPAIGN__V8"
ENVIRONMENT = "test"
# Where target-adobe-campaign writes, inside each run's folder.
REJECTS_FILE = "rejects.jsonl"
SUMMARY_FILE = "rejects.summary.json"
D365_REJECTS_FILE = "d365-rejects.jsonl"  # target-dynamics365's
#: Meltano runs as the Makefile and the README's commands run it: its run files hold secrets.
PRIVATE_UMASK = 0o077


@dataclass
class RunResult:
    """One finished `meltano run`."""

    args: Sequence[str]
    returncode: int
    output: str
    seconds: float
    out_dir: Path
    _rows: dict[str, list[dict[str, Any]]] | None = field(default=None, repr=False)

    @property
    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Rows the loader wrote during this run, per stream."""
        if self._rows is None:
            self._rows = read_jsonl_dir(self.out_dir)
        return self._rows

    @property
    def summary(self) -> dict[str, Any]:
        """target-adobe-campaign's summary of this run (`{"streams": …, "totals": …}`)."""
        document: dict[str, Any] = json.loads((self.out_dir / SUMMARY_FILE).read_text())
        return document

    @property
    def rejects(self) -> list[dict[str, Any]]:
        """The records target-adobe-campaign rejected in this run, with their reasons."""
        return self._read_rejects(REJECTS_FILE)

    @property
    def d365_rejects(self) -> list[dict[str, Any]]:
        """The records target-dynamics365 rejected in this run, with their reasons."""
        return self._read_rejects(D365_REJECTS_FILE)

    def _read_rejects(self, name: str) -> list[dict[str, Any]]:
        path = self.out_dir / name
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return [json.loads(line) for line in lines if line.strip()]

    def check(self) -> RunResult:
        """Fail with the tail of Meltano's output unless the run succeeded."""
        if self.returncode != 0:
            tail = "\n".join(self.output.splitlines()[-60:])
            msg = f"meltano {' '.join(self.args)} exited {self.returncode}:\n{tail}"
            raise AssertionError(msg)
        return self


class MeltanoProject:
    """This repository's Meltano project with a private system directory."""

    def __init__(self, work_dir: Path) -> None:
        """Use `work_dir` for `.meltano/`, logs and the empty `.env`."""
        self.work_dir = work_dir
        self.sys_dir = work_dir / "meltano-sys"
        self.env_file = work_dir / "empty.env"
        self.env_file.write_text("")
        self.log_dir = work_dir / "xdg-state"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a Meltano command: clean of the caller's plugin settings."""
        env = clean_environ()
        env.update(
            MELTANO_SYS_DIR_ROOT=str(self.sys_dir),
            MELTANO_ENVIRONMENT=ENVIRONMENT,
            XDG_STATE_HOME=str(self.log_dir),
        )
        env.update(extra or {})
        return env

    def command(self, *args: str) -> list[str]:
        """The argv of `meltano <args>` for this project."""
        return [MELTANO, "--env-file", str(self.env_file), *args]

    def meltano(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run a Meltano command to completion, capturing its output."""
        return subprocess.run(
            self.command(*args),
            cwd=REPO_ROOT,
            env=self.env(env),
            umask=PRIVATE_UMASK,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def install(self, *plugins: str) -> float:
        """Install the plugin venvs the tests run; return the seconds it took."""
        started = time.monotonic()
        names = plugins or (TAP, LOADER, CAMPAIGN_TAP, CAMPAIGN_LOADER, EVENTS_TAP, EVENTS_LOADER)
        done = self.meltano("install", *names, timeout=900)
        if done.returncode != 0:
            msg = f"meltano install failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            raise RuntimeError(msg)
        return time.monotonic() - started

    def run_files(self) -> list[Path]:
        """The plugin config files Meltano left under its run directory (a killed run's)."""
        return sorted((self.sys_dir / "run").glob("*/*.json"))

    def state(self, state_id: str) -> dict[str, Any]:
        """The merged (complete + partial) state Meltano would hand the next run."""
        done = self.meltano("state", "get", state_id)
        if done.returncode != 0:
            msg = f"meltano state get {state_id} failed:\n{done.stdout}\n{done.stderr}"
            raise RuntimeError(msg)
        text = done.stdout.strip()
        return json.loads(text) if text else {}


class Pipeline:
    """One EL pipeline for one test: its own state id and output folders.

    By default `tap-dynamics365 → target-jsonl`; with `job=` a job of meltano.yml (its blocks
    `tap`/`loader` name the state id), e.g. `d365-to-campaign`.
    """

    def __init__(
        self,
        project: MeltanoProject,
        name: str,
        tap_env: Mapping[str, str],
        work_dir: Path,
        *,
        tap: str = TAP,
        loader: str = LOADER,
        job: str | None = None,
    ) -> None:
        """Pipeline `name` (the state id suffix) against the sandbox described by `tap_env`."""
        self.project = project
        self.name = name
        self.tap_env = dict(tap_env)
        self.work_dir = work_dir
        self.tap = tap
        self.loader = loader
        self.job = job
        self.runs: list[RunResult] = []
        self.started: list[RunningPipeline] = []

    @property
    def state_id(self) -> str:
        """The Meltano state id of this pipeline."""
        return f"{ENVIRONMENT}:{self.tap}-to-{self.loader}:{self.name}"

    def _args(self, extra_args: Sequence[str]) -> list[str]:
        blocks = [self.job] if self.job else [self.tap, self.loader]
        return ["run", "--state-id-suffix", self.name, *extra_args, *blocks]

    def _env(self, label: str, extra_env: Mapping[str, str] | None) -> tuple[Path, dict[str, str]]:
        out_dir = self.work_dir / label
        out_dir.mkdir(parents=True, exist_ok=False)
        outputs = {
            "TARGET_JSONL_OUTPUT_DIR": str(out_dir),
            "TARGET_ADOBE_CAMPAIGN_REJECTS_FILE": str(out_dir / REJECTS_FILE),
            f"{CAMPAIGN_V8_PREFIX}_REJECTS_FILE": str(out_dir / REJECTS_FILE),
            "TARGET_ADOBE_CAMPAIGN_SUMMARY_FILE": str(out_dir / SUMMARY_FILE),
            "TARGET_DYNAMICS365_REJECTS_FILE": str(out_dir / D365_REJECTS_FILE),
            # kept across this pipeline's runs, as in a project
            "TARGET_ADOBE_CAMPAIGN_KEY_INDEX_DIR": str(self.work_dir / "key-index"),
        }
        env = {**self.tap_env, **outputs, **(extra_env or {})}
        return out_dir, env

    def run(
        self,
        label: str,
        *,
        extra_env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        timeout: float = 300,
    ) -> RunResult:
        """`meltano run` to completion; the loader writes into `<work_dir>/<label>/`."""
        out_dir, env = self._env(label, extra_env)
        args = self._args(extra_args)
        started = time.monotonic()
        done = self.project.meltano(*args, env=env, timeout=timeout)
        result = RunResult(
            args, done.returncode, done.stdout + done.stderr, time.monotonic() - started, out_dir
        )
        self.runs.append(result)
        return result

    def start(
        self,
        label: str,
        *,
        extra_env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> RunningPipeline:
        """Start `meltano run` in its own process group and return at once."""
        out_dir, env = self._env(label, extra_env)
        args = self._args(extra_args)
        log_path = self.work_dir / f"{label}.log"
        running = RunningPipeline(self, args, out_dir, log_path)
        running.proc = subprocess.Popen(
            self.project.command(*args),
            cwd=REPO_ROOT,
            env=self.project.env(env),
            umask=PRIVATE_UMASK,
            stdout=running.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(running)
        return running

    def replay(
        self, job: str, stream: str, *, extra_env: Mapping[str, str] | None = None
    ) -> RunResult:
        """`scripts.replay` of `stream`: its `meltano state` calls here, the job run as `replay`."""

        def meltano(args: Sequence[str]) -> str:
            if args[2:3] == ["run"]:  # the job itself: through `run`, for its output files
                self.run("replay", extra_env=extra_env).check()
                return ""
            done = self.project.meltano(*args, env=self.tap_env)
            assert done.returncode == 0, done.stderr
            return done.stdout

        replay(job, stream, environment=ENVIRONMENT, state_id_suffix=self.name, meltano=meltano)
        return self.runs[-1]

    def close(self) -> None:
        """Kill runs a failed test left behind."""
        for running in self.started:
            if running.proc is not None and running.proc.poll() is None:
                running.kill()


class RunningPipeline:
    """A `meltano run` in progress (Meltano, tap and loader in one process group)."""

    def __init__(self, pipeline: Pipeline, args: Sequence[str], out_dir: Path, log: Path) -> None:
        """Bookkeeping only; `Pipeline.start` launches the process."""
        self.pipeline = pipeline
        self.args = args
        self.out_dir = out_dir
        self.log_path = log
        self.log = log.open("w")
        self.started = time.monotonic()
        self.proc: subprocess.Popen[bytes] | None = None

    def _process(self) -> subprocess.Popen[bytes]:
        assert self.proc is not None
        return self.proc

    def wait_for_rows(self, stream: str, count: int, timeout: float = 180) -> int:
        """Block until the loader has written `count` rows of `stream`; return how many."""
        return self.wait_for(
            lambda: len(read_jsonl_dir(self.out_dir).get(stream, [])),
            count,
            f"rows of {stream}",
            timeout,
        )

    def wait_for(
        self, probe: Callable[[], int], count: int, what: str, timeout: float = 180
    ) -> int:
        """Block until `probe()` (e.g. records written so far) reaches `count`; return it."""
        deadline = time.monotonic() + timeout
        while True:
            seen = probe()
            if seen >= count:
                return seen
            if self._process().poll() is not None:
                msg = f"run ended ({self.proc and self.proc.returncode}) with {seen} {what}"
                raise AssertionError(f"{msg}:\n{self.log_path.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                msg = f"only {seen} {what} after {timeout}s"
                raise AssertionError(msg)
            time.sleep(0.05)

    def kill(self, signum: int = signal.SIGKILL) -> RunResult:
        """Signal the whole process group (as a dying machine or an orchestrator) and wait.

        SIGKILL: no clean-up, no final state message. SIGTERM: what an orchestrator stopping
        the task sends to Meltano, the tap and the loader alike.
        """
        proc = self._process()
        if proc.poll() is None:
            os.killpg(proc.pid, signum)
        return self.wait()

    def wait(self, timeout: float = 300) -> RunResult:
        """Wait for the run to end (killing it after `timeout`) and collect the result."""
        proc = self._process()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.log.close()
        result = RunResult(
            self.args,
            proc.returncode,
            self.log_path.read_text(),
            time.monotonic() - self.started,
            self.out_dir,
        )
        self.pipeline.runs.append(result)
        return result
