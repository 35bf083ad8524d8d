"""Tables without UpsertMultiple are written with `$batch` change sets of PATCH upserts."""

from __future__ import annotations

import typing as t
import uuid

import pytest
from target_dynamics365.events import ACTIVITY_TABLES
from target_dynamics365.target import RecordsRejectedError

from .helpers import config, contacts, rejects, run_target, writes
from .test_email_events import activities, event

if t.TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def without_upsert_multiple(admin) -> Iterator[None]:
    """The sandbox's admin switch: no *Multiple messages on the activity tables (as in orgs
    where a table lacks them); sdkmessagefilters no longer lists them."""
    tables = [table.logical_name for table in ACTIVITY_TABLES.values()]
    for name in tables:
        admin.set_bulk_messages(name, enabled=False)
    yield
    for name in tables:
        admin.set_bulk_messages(name, enabled=True)


def test_a_change_set_upserts_on_the_event_key(
    admin, tmp_path, without_upsert_multiple: None
) -> None:
    ids = [r["contactid"] for r in contacts(2)]
    events = [
        event("send:1/2?x=#'y z", "send", ids[0]),  # characters a URL must escape
        event("send:2", "send", ids[1]),
        event("click:9", "click", ids[0], url="https://example.com/?a=1&b=2"),
    ]
    settings = config(tmp_path)
    admin.clear_requests()

    run_target(settings, events, "email_events")

    sends = activities("acs_emailsends")
    assert sorted(sends) == ["send:1/2?x=#'y z", "send:2"]
    assert sends["send:2"]["_regardingobjectid_value"] == ids[1]
    (click,) = activities("acs_emailclicks").values()
    assert click["acs_trackingurl"] == "https://example.com/?a=1&b=2"
    batch_writes = writes(admin.requests())
    assert [r["path"].rsplit("/", 1)[-1] for r in batch_writes] == ["$batch", "$batch"]
    assert rejects(settings) == []

    run_target(settings, events, "email_events")  # a rerun rewrites the same rows

    again = activities("acs_emailsends")
    assert {k: r["activityid"] for k, r in again.items()} == {
        k: r["activityid"] for k, r in sends.items()
    }


def test_refused_operations_are_rejected_and_the_rest_written(
    admin, tmp_path, without_upsert_multiple: None
) -> None:
    ids = [r["contactid"] for r in contacts(6)]
    missing = str(uuid.uuid4())
    events = [event(f"open:{i}", "open", contact_id) for i, contact_id in enumerate(ids)]
    events.insert(2, event("open:missing", "open", missing))
    events[4]["delivery_name"] = "D" * 101  # longer than acs_deliveryname allows
    settings = config(tmp_path)
    admin.clear_requests()

    with pytest.raises(RecordsRejectedError):
        run_target(settings, events, "email_events")

    assert sorted(activities("acs_emailopens")) == [f"open:{i}" for i in (0, 1, 2, 4, 5)]
    lines = {line["key"]: line for line in rejects(settings)}
    assert lines["open:missing"]["reason"] == f"contact {missing} does not exist in Dynamics 365"
    assert (lines["open:3"]["status"], lines["open:3"]["code"]) == (400, "0x80044331")
    assert set(lines) == {"open:missing", "open:3"}
    assert all(r["path"].endswith("$batch") for r in writes(admin.requests()))
