"""`make demo`: start the sandbox, run every pipeline that exists through `meltano run`, summarise.

1. starts the Dataverse sandbox (Entra ID + Web API emulators, local CA) on free ports, seeded
   with a few thousand contacts and the related accounts and custom-table rows;
2. `meltano run --full-refresh d365-to-jsonl` (the only job so far): every selected table, in full;
3. creates, updates and deletes a few contacts in the sandbox, then `meltano run d365-to-jsonl`
   again: only the changes arrive, deletes as rows with `_sdc_deleted_at`;
4. prints rows per stream, deletes, timings and where the files and logs went; stops the sandbox
   whatever happened.

The Meltano environment is `dev`; the sandbox's ports reach the tap as `TAP_DYNAMICS365_*`
variables, which take precedence over the fixed ports in meltano.yml.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from crm_sandbox.dataverse.admin_client import DataverseAdmin
from crm_sandbox.testing import launch

from scripts.jsonl_output import read_jsonl_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
JOB = "d365-to-jsonl"
# Meltano output lines worth showing live; everything is in the run's log file.
_SHOWN = ("Running job", "Run completed", "Block run", "WARNING", "warning", "ERROR", "error")


def meltano(args: list[str], env: dict[str, str], log_path: Path) -> float:
    """Run `meltano <args>` in the project, teeing its output to `log_path`; return seconds."""
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(BIN / "meltano"), *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if any(word in line for word in _SHOWN):
                print("    " + line.rstrip()[-160:])
        returncode = proc.wait()
    if returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-40:])
        msg = f"meltano {' '.join(args)} failed ({returncode}); full log: {log_path}\n{tail}"
        raise SystemExit(msg)
    return time.monotonic() - started


def summarise(title: str, out_dir: Path, seconds: float) -> dict[str, Counter[str]]:
    """Print rows and deletes per stream written into `out_dir`."""
    rows = read_jsonl_dir(out_dir)
    counts: dict[str, Counter[str]] = {}
    print(f"\n  {title}: {seconds:.1f} s")
    print(f"    {'stream':<18}{'rows':>8}{'deletes':>9}")
    for stream, records in sorted(rows.items()):
        deletes = sum(1 for r in records if r.get("_sdc_deleted_at"))
        counts[stream] = Counter(rows=len(records), deletes=deletes)
        print(f"    {stream:<18}{len(records):>8}{deletes:>9}")
    if not rows:
        print("    (no rows)")
    return counts


def change_some_contacts(admin: DataverseAdmin, creates: int, updates: int, deletes: int) -> None:
    """Create, update and delete contacts as CRM users would (through the sandbox admin API)."""
    admin.delete_rows("contacts", deletes)
    for contact_id in admin.touch_rows("contacts", updates):
        admin.update_row("contacts", contact_id, {"jobtitle": "Updated by make demo"})
    for n in range(creates):
        admin.create_row("contacts", {"firstname": "Demo", "lastname": f"Contact {n + 1}"})


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="Run the crm-campaign-sync demo end to end.")
    parser.add_argument("--contacts", type=int, default=3000, help="contacts to seed")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the sandbox data")
    args = parser.parse_args()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_root = REPO_ROOT / "output" / "demo" / stamp
    out_root.mkdir(parents=True)
    log_home = Path(os.environ.get("XDG_STATE_HOME", REPO_ROOT / ".meltano" / "xdg-state"))
    started = time.monotonic()

    print(f"Starting the Dataverse sandbox ({args.contacts} contacts, seed {args.seed}) ...")
    with launch(state_dir=out_root / "sandbox", contacts=args.contacts, seed=args.seed) as sb:
        print(f"  Entra ID  {sb.dataverse.authority_host}")
        print(f"  Dataverse {sb.dataverse.url}")
        env = {
            **os.environ,
            **sb.tap_env(),
            "MELTANO_ENVIRONMENT": "dev",
            "XDG_STATE_HOME": str(log_home),
        }

        print(f"\n[1/2] meltano run --full-refresh {JOB}")
        env["TARGET_JSONL_OUTPUT_DIR"] = str(out_root / "1-full")
        full_seconds = meltano(["run", "--full-refresh", JOB], env, out_root / "1-full.log")

        print("\n      changing the sandbox: 5 new contacts, 20 updated, 3 deleted")
        change_some_contacts(sb.admin, creates=5, updates=20, deletes=3)

        print(f"\n[2/2] meltano run {JOB}   (incremental: change tracking from the saved state)")
        env["TARGET_JSONL_OUTPUT_DIR"] = str(out_root / "2-incremental")
        incremental_seconds = meltano(["run", JOB], env, out_root / "2-incremental.log")
        print("\nStopping the sandbox.")
        sb.admin.session.close()  # release our keep-alive connection

    print("\nSummary")
    summarise("full load", out_root / "1-full", full_seconds)
    summarise("incremental", out_root / "2-incremental", incremental_seconds)
    print(f"\n  total {time.monotonic() - started:.1f} s (sandbox start and stop included)")
    print(f"  output      {out_root.relative_to(REPO_ROOT)}/<run>/<stream>-<UTC start>.jsonl")
    print(f"  run logs    {out_root.relative_to(REPO_ROOT)}/*.log")
    print(f"  meltano log {log_home / 'meltano' / 'log'} (or: .venv/bin/meltano logs list)")
    print("  in no job yet: target-adobe-campaign, tap-adobe-campaign, target-dynamics365")


if __name__ == "__main__":
    main()
