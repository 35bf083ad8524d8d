"""`dry_run`: read and decide as a real run, write nothing to Campaign, emit no STATE."""

from __future__ import annotations

import logging

import pytest
from target_adobe_campaign.target import RecordsRejectedError

from .helpers import CONTACT_SCHEMA, PROJECT_SCHEMA, Run, record, rows, state, writes

COUNTED = ("created", "updated", "unchanged", "deleted", "rejected")


def contact(key: str, name: str = "Ada", **values) -> dict:
    return record("contact", externalId=key, firstName=name, **values)


def project(key: str, parent: str | None) -> dict:
    return record("new_project", cusCrmId=key, cusName=key.upper(), contactId=parent)


CHANGES = [
    PROJECT_SCHEMA,
    CONTACT_SCHEMA,
    project("p2", "c3"),  # its parent is new in this run and arrives later
    project("p3", "c-missing"),  # rejected: no such parent
    contact("c1", "Grace"),  # updated
    contact("c2", _sdc_deleted_at="2024-05-02T00:00:00Z"),  # deleted
    contact("c3"),  # created
    contact("c4"),  # unchanged
    state({"bookmarks": {"contact": {"replication_key_value": "2024-05-02"}}}),
]


def test_a_dry_run_decides_like_a_real_run_and_writes_nothing(
    campaign, tmp_path, capsys, caplog
) -> None:
    Run(campaign, tmp_path).listen(
        [CONTACT_SCHEMA, *(contact(k) for k in ("c1", "c2", "c4"))], capsys
    )
    before = rows(campaign, "profile", "externalId")
    campaign.admin.clear_requests()

    dry = Run(campaign, tmp_path, dry_run=True, apply_deletes=True)
    with caplog.at_level(logging.INFO), pytest.raises(RecordsRejectedError, match="1 record"):
        dry.listen(CHANGES, capsys)
    assert writes(campaign) == []
    assert {m for m, _, _ in dry.sent} == {"GET"}  # the key indexes were read
    assert dry.states == []  # Meltano keeps the last real run's bookmark
    assert rows(campaign, "profile", "externalId") == before
    summary = dry.summary
    assert summary["dry_run"] is True
    counts = {o: summary["totals"][o] for o in COUNTED}
    assert counts == {"created": 2, "updated": 1, "unchanged": 1, "deleted": 1, "rejected": 1}
    assert [r["key"] for r in dry.rejects] == ["p3"]
    assert "DRY RUN: would create 2, update 1, delete 1, reject 1, unchanged 1" in caplog.text

    real = Run(campaign, tmp_path, apply_deletes=True)
    with pytest.raises(RecordsRejectedError, match="1 record"):
        real.listen(CHANGES, capsys)
    assert real.summary["dry_run"] is False
    assert {o: real.summary["totals"][o] for o in COUNTED} == counts
    assert len(writes(campaign)) == 4
    assert real.states != []
    assert (
        rows(campaign, "cusProject", "cusCrmId")["p2"]["profile"]["PKey"]
        == (rows(campaign, "profile", "externalId")["c3"]["PKey"])
    )
