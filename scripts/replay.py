"""`make replay JOB=d365-to-campaign STREAM=contact`: re-synchronise one table from scratch.

After a mapping change (a new field, other replacements, a filter), one stream must be read again
in full while every other stream of the job keeps its bookmark. This drops the stream's bookmark
from the job's Meltano state (`meltano state get` / `meltano state set --force`), then runs the
job: the tap reads that table from the start, and the target upserts on the CRM id and skips
records identical to what Campaign (or Dynamics 365) already holds, so nothing is duplicated and
unchanged records cost no write.

    python -m scripts.replay --job d365-to-campaign --stream contact [--environment dev]
        [--state-id-suffix SUFFIX] [--no-run]

The state id is Meltano's `<environment>:<extractor>-to-<loader>[:<suffix>]` of the job's task.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO_ROOT = Path(__file__).resolve().parents[1]
MELTANO = str(Path(sys.executable).with_name("meltano"))
#: Runs `meltano <args>` in the project and returns its standard output (raises on failure).
Meltano = Callable[[Sequence[str]], str]


class ReplayError(Exception):
    """The job or stream can't be replayed as asked."""


def job_task(meltano_yml: Path, job: str) -> tuple[str, str]:
    """Return (extractor, loader) of the job's single `tap target` task."""
    project = YAML(typ="safe").load(meltano_yml.read_text())
    for entry in project.get("jobs", []):
        if entry["name"] != job:
            continue
        tasks = entry["tasks"]
        if len(tasks) != 1 or len(tasks[0].split()) != 2:
            raise ReplayError(f"job {job!r} must have one 'extractor loader' task, has {tasks}")
        extractor, loader = tasks[0].split()
        return extractor, loader
    names = ", ".join(e["name"] for e in project.get("jobs", []))
    raise ReplayError(f"no job {job!r} in {meltano_yml.name} (jobs: {names})")


def without_bookmark(state: dict[str, Any], stream: str) -> dict[str, Any]:
    """Return the Meltano state document with `stream`'s Singer bookmark removed."""
    singer_state = dict(state.get("singer_state") or {})
    bookmarks = dict(singer_state.get("bookmarks") or {})
    if stream not in bookmarks:
        known = ", ".join(sorted(bookmarks)) or "none"
        msg = (
            f"no bookmark for stream {stream!r} (bookmarked streams: {known}); a selected "
            "stream without one is read from the start by the job's next run anyway"
        )
        raise ReplayError(msg)
    del bookmarks[stream]
    singer_state["bookmarks"] = bookmarks
    return {**state, "singer_state": singer_state}


def run_meltano(args: Sequence[str]) -> str:
    """Run `meltano <args>` in the project, its output shown live except for `state` commands."""
    capture = args[0] == "state"
    done = subprocess.run(
        [MELTANO, *args], cwd=REPO_ROOT, capture_output=capture, text=True, check=False
    )
    if done.returncode != 0:
        detail = (done.stderr or "").strip().splitlines()[-1:] if capture else []
        raise ReplayError(f"`meltano {' '.join(args)}` failed ({done.returncode}) {detail}")
    return done.stdout if capture else ""


def replay(
    job: str,
    stream: str,
    *,
    environment: str = "dev",
    state_id_suffix: str | None = None,
    run: bool = True,
    meltano: Meltano = run_meltano,
) -> str:
    """Drop `stream`'s bookmark from the job's state, then (unless `run` is False) run the job.

    Returns the state id it changed.
    """
    extractor, loader = job_task(REPO_ROOT / "meltano.yml", job)
    state_id = f"{environment}:{extractor}-to-{loader}"
    if state_id_suffix:
        state_id += f":{state_id_suffix}"
    env = ["--environment", environment]
    state = json.loads(meltano([*env, "state", "get", state_id]).strip() or "{}")
    updated = without_bookmark(state, stream)
    meltano([*env, "state", "set", "--force", state_id, json.dumps(updated)])
    print(f"replay: removed the bookmark of {stream!r} from {state_id}")
    if run:
        suffix = ["--state-id-suffix", state_id_suffix] if state_id_suffix else []
        meltano([*env, "run", *suffix, job])
    return state_id


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job", required=True, help="a job of meltano.yml, e.g. d365-to-campaign")
    parser.add_argument("--stream", required=True, help="the stream to read again, e.g. contact")
    parser.add_argument("--environment", default="dev", help="Meltano environment (default dev)")
    parser.add_argument("--state-id-suffix", help="the suffix the job runs with, if any")
    parser.add_argument(
        "--no-run", action="store_true", help="only drop the bookmark; run the job yourself"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    try:
        replay(
            args.job,
            args.stream,
            environment=args.environment,
            state_id_suffix=args.state_id_suffix,
            run=not args.no_run,
        )
    except ReplayError as exc:
        print(f"replay: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
