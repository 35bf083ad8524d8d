"""`dry_run`: reads and decisions as a real run, no write request, no STATE, a "would" summary."""

from __future__ import annotations

import json
import uuid

from .helpers import config, contact, contacts, rejects, run_cli, run_target, writes
from .test_email_events import activities, event

ALL_ALLOWED = {"donotemail": False, "donotbulkemail": False, "donotphone": False}


def states(stdout: str) -> list[dict]:
    """The STATE messages the target wrote."""
    messages = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return [m for m in messages if m.get("type") == "STATE" or "bookmarks" in m]


def test_profiles_dry_run_decides_but_writes_nothing_and_emits_no_state(admin, tmp_path) -> None:
    first, second, same = contacts(3, **ALL_ALLOWED)
    missing = str(uuid.uuid4())
    profiles = [
        {"externalId": first["contactid"], "blackListEmail": True},
        {"externalId": second["contactid"], "blackListPhone": True},
        {"externalId": same["contactid"], "blackListEmail": False},
        {"externalId": missing, "blackListEmail": True},
        {"externalId": None, "blackListEmail": True},
    ]
    # batch_size_rows 1: every record closes a batch, where a real run checkpoints
    settings = config(tmp_path, dry_run=True, batch_size_rows=1)
    admin.clear_requests()
    result = run_cli(settings, profiles, tmp_path)

    assert writes(admin.requests()) == []
    assert contact(first["contactid"])["donotemail"] is False
    assert states(result.stdout) == []
    assert (
        "DRY RUN profiles: would update 2, reject 1, unchanged 1, skipped 1, skipped_mode 0"
        in result.stderr
    )
    assert result.returncode != 0  # as a real run: a profile would be rejected
    assert "1 record(s) would not be written to Dynamics 365" in result.stderr
    (line,) = rejects(settings)
    assert (line["key"], line["dry_run"]) == (missing, True)

    real = run_cli(config(tmp_path, batch_size_rows=1), profiles, tmp_path)
    assert "Summary profiles: updated 2, unchanged 1, skipped 1, skipped_mode 0, rejected 1" in (
        real.stderr
    )
    assert states(real.stdout)  # the real run checkpoints


def test_email_events_dry_run_tells_created_from_present_rows(admin, tmp_path) -> None:
    first, second = (r["contactid"] for r in contacts(2))
    missing = str(uuid.uuid4())
    present = [event("dry-1", "send", first), event("dry-o'1", "open", second)]
    run_target(config(tmp_path), present, "email_events")
    new = [
        event("dry-2", "send", first),
        event("dry-3 /?#&", "click", second, url="https://example.com/x"),
        event("dry-4", "bounce", missing, bounce_type="Hard"),
    ]
    settings = config(tmp_path, dry_run=True)
    admin.clear_requests()
    result = run_cli(settings, [*present, *new], tmp_path, "email_events")

    assert writes(admin.requests()) == []
    assert states(result.stdout) == []
    assert "DRY RUN email_events: would create 2, update 2, reject 1" in result.stderr
    assert set(activities("acs_emailsends")) == {"dry-1"}
    assert set(activities("acs_emailclicks")) == set()
    (line,) = rejects(settings)
    assert line["key"] == "dry-4"
    assert line["reason"] == f"contact {missing} does not exist in Dynamics 365"
    assert line["dry_run"] is True
