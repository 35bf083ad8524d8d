"""Measure REST creates against the import-file path at injected latency (bulk_threshold).

    cd target-adobe-campaign && ../.venv/bin/python -m tests.measure_bulk_threshold 100 200 2000

For each count: a fresh in-process sandbox, every gateway call delayed by the latency (ms), one
target run creating that many profiles with `bulk: never` (one POST each, max_concurrency 4)
and one with `bulk: always` (one file, the signal rule off). Prints seconds and creates/s.
Not a test (no `test_` prefix): the figures are in the README's "Bulk loads".
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time

from crm_sandbox.campaign.inprocess import start_temporary
from target_adobe_campaign.target import TargetAdobeCampaign

from .helpers import CONTACT_SCHEMA, ROUTES, connection, record

SFTP_KEYS = ("sftp_host", "sftp_port", "sftp_username", "sftp_password", "sftp_host_key")


def run_once(count: int, mode: str, latency_ms: int) -> float:
    """Seconds of one run creating `count` profiles."""
    sandbox = start_temporary(40)
    try:
        sandbox.admin.set_config(import_signal_interval=0)
        sandbox.admin.add_latency(latency_ms)
        config = {
            **connection(sandbox),
            **{key: sandbox.info[key] for key in SFTP_KEYS},
            "resources": {
                "contact": {**ROUTES["contact"], "import_workflow": "WKF_IMPORT_PROFILE"}
            },
            "bulk": mode,
            "rejects_file": "/tmp/measure-bulk-rejects.jsonl",
        }
        lines = [json.dumps(CONTACT_SCHEMA)] + [
            json.dumps(record("contact", externalId=f"m{n}", firstName="F", email=f"m{n}@x.com"))
            for n in range(count)
        ]
        target = TargetAdobeCampaign(config=config)
        start = time.perf_counter()
        target.listen(io.StringIO("\n".join(lines) + "\n"))
        return time.perf_counter() - start
    finally:
        sandbox.stop()


def main(argv: list[str]) -> None:
    """`latency_ms count...`."""
    logging.disable(logging.INFO)
    latency, counts = int(argv[0]), [int(c) for c in argv[1:]]
    for count in counts:
        for mode in ("never", "always"):
            seconds = run_once(count, mode, latency)
            print(f"{mode:6} {count:6} creates: {seconds:7.2f} s, {count / seconds:7.1f} creates/s")


if __name__ == "__main__":
    main(sys.argv[1:])
