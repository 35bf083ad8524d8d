"""The bulk policy (when creates go to a file), the large-load guard and the bulk settings."""

from __future__ import annotations

import pytest
from target_adobe_campaign import bulk
from target_adobe_campaign.bulk import BulkPolicy, LargeLoadError
from target_adobe_campaign.routing import parse_routes
from target_adobe_campaign.target import setting_errors

ROUTES, _ = parse_routes(
    {
        "contact": {"resource": "profile", "import_workflow": "WKF_IMPORT_PROFILE"},
        "plain": {"resource": "cusThing", "key": "cusCrmId"},
    }
)
CONTACT, PLAIN = ROUTES["contact"], ROUTES["plain"]
BASE = {"organization": "o", "client_id": "c", "client_secret": "s"}


def test_auto_switches_once_the_run_reaches_the_threshold_and_stays() -> None:
    policy = BulkPolicy(threshold=10)
    assert [policy.to_file(CONTACT, n, 5) for n in (4, 4)] == [False, False]
    assert policy.to_file(CONTACT, 2, 13)  # 10 creates: this batch and the rest
    assert policy.to_file(CONTACT, 1, 14)
    assert policy.to_file(CONTACT, 0, 14)  # newer records of staged keys follow their file
    assert not policy.to_file(PLAIN, 50, 0)  # no import_workflow: REST
    assert policy.created == {"contact": 11, "plain": 50}


def test_always_and_never() -> None:
    assert BulkPolicy(mode="always").to_file(CONTACT, 1, 0)
    assert not BulkPolicy(mode="never", threshold=1).to_file(CONTACT, 100, 0)


def test_the_guard_knows_an_initial_load_from_a_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "REPLAY_LIMIT", 3)
    monkeypatch.setattr(bulk, "INITIAL_LOAD_LIMIT", 6)
    initial = BulkPolicy()
    initial.to_file(CONTACT, 5, 0)  # an empty resource: up to 6
    with pytest.raises(LargeLoadError, match=r"more than 6 .* an initial load"):
        initial.to_file(CONTACT, 2, 5)
    assert initial.created["contact"] == 5  # the refused batch is not counted as written
    replay = BulkPolicy()
    with pytest.raises(LargeLoadError, match=r"more than 3 .* a replay"):
        replay.to_file(CONTACT, 4, 40)
    confirmed = BulkPolicy(confirmed=True)
    assert not confirmed.to_file(PLAIN, 4, 40)


def test_settings_rules() -> None:
    resources = {
        "contact": {"resource": "profile", "import_workflow": "WKF_IMPORT_PROFILE"},
        "plain": {"resource": "cusThing", "key": "cusCrmId"},
    }
    errors = setting_errors({**BASE, "resources": resources, "bulk": "always"})
    assert "resources.plain.import_workflow is required with bulk: always" in errors
    assert any(e.startswith("sftp_host (and its login) is required") for e in errors)
    assert setting_errors({**BASE, "resources": resources, "bulk": "never"}) == []
    sftp = {"sftp_host": "h", "sftp_username": "u", "sftp_password": "p"}
    errors = setting_errors({**BASE, "resources": resources, **sftp})
    assert errors == ["sftp_host_key is required with sftp_host"]
