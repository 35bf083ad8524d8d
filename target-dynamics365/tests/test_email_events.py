"""The `email_events` sink against the Dataverse sandbox: activity rows upserted on the event id."""

from __future__ import annotations

import uuid

import pytest
from target_dynamics365.target import RecordsRejectedError

from .helpers import client, config, contacts, rejects, run_cli, run_target, writes

TABLES = {
    "send": "acs_emailsends",
    "open": "acs_emailopens",
    "click": "acs_emailclicks",
    "bounce": "acs_emailbounces",
}
ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}
NAV = "_regardingobjectid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"


def event(event_id: str, event_type: str, contact_id: str, **fields: str) -> dict[str, str]:
    """An `email_events` record as tap-adobe-campaign emits it."""
    return {
        "event_id": event_id,
        "event_type": event_type,
        "event_time": "2025-03-01T10:00:00Z",
        "profile_external_id": contact_id,
        "email": f"{event_id}@example.com",
        "delivery_name": "DM190",
        "delivery_label": "Loyalty newsletter",
        "campaign_name": "2019LoyaltyCamp",
        "mirror_page_url": f"https://mirror.example.com/{event_id}",
        **fields,
    }


def activities(entity_set: str) -> dict[str, dict]:
    """Every row of an activity table, by event id (annotations included)."""
    rows = list(client().iter_values(entity_set, headers=ANNOTATIONS))
    by_id = {row["acs_eventid"]: row for row in rows}
    assert len(by_id) == len(rows), "an event id appears on several rows"
    return by_id


def simulated_send(contact_ids: list[str]) -> list[dict[str, str]]:
    """Sends to three contacts, two opens, a click, a hard and a soft bounce."""
    first, second, third = contact_ids
    return [
        event("snd-1", "send", first),
        event("snd-2", "send", second),
        event("snd-3", "send", third),
        event("opn-1", "open", first, event_time="2025-03-01T12:30:00+02:00"),
        event("opn-2", "open", second),
        event("clk-1", "click", first, url="https://example.com/offer?x=1&y=2"),
        event(
            "bnc-3",
            "bounce",
            third,
            bounce_type="Hard",
            bounce_reason="User unknown",
        ),
        event("bnc-2", "bounce", second, bounce_type="Soft", bounce_reason="Mailbox full"),
    ]


def test_each_event_lands_once_as_its_activity_on_its_contact(admin, tmp_path) -> None:
    rows = contacts(3)
    ids = [r["contactid"] for r in rows]
    events = simulated_send(ids)
    settings = config(tmp_path)
    owner = client().get_json("WhoAmI")["UserId"]
    admin.clear_requests()

    target = run_target(settings, events, "email_events")
    log = [r for r in admin.requests() if r["app"] == "dataverse"]

    found = {kind: activities(entity_set) for kind, entity_set in TABLES.items()}
    assert {kind: sorted(rows) for kind, rows in found.items()} == {
        "send": ["snd-1", "snd-2", "snd-3"],
        "open": ["opn-1", "opn-2"],
        "click": ["clk-1"],
        "bounce": ["bnc-2", "bnc-3"],
    }
    for record in events:
        row = found[record["event_type"]][record["event_id"]]
        table = TABLES[record["event_type"]][:-1]
        assert row["_regardingobjectid_value"] == record["profile_external_id"]
        assert row[NAV] == f"regardingobjectid_contact_{table}"
        assert row["subject"] == "Campaign Name: 2019LoyaltyCamp; Delivery Name: DM190"
        assert (row["acs_campaignname"], row["acs_deliveryname"]) == ("2019LoyaltyCamp", "DM190")
        assert row["acs_mirrorpageurl"] == record["mirror_page_url"]
        assert row["_ownerid_value"] == owner  # Dataverse's default: the application user
    assert found["open"]["opn-1"]["acs_eventdate"] == "2025-03-01T10:30:00Z"
    assert found["send"]["snd-1"]["acs_eventdate"] == "2025-03-01T10:00:00Z"
    assert found["click"]["clk-1"]["acs_trackingurl"] == "https://example.com/offer?x=1&y=2"
    hard, soft = found["bounce"]["bnc-3"], found["bounce"]["bnc-2"]
    assert (hard["acs_bouncetype"], hard["acs_bouncereason"]) == ("Hard", "User unknown")
    assert (soft["acs_bouncetype"], soft["acs_bouncereason"]) == ("Soft", "Mailbox full")
    assert hard["_regardingobjectid_value"] == ids[2]

    assert sorted(r["path"].rsplit("/", 2)[-2] for r in writes(log)) == sorted(TABLES.values())
    assert all(r["path"].endswith("UpsertMultiple") for r in writes(log))
    reads = [r["path"].rsplit("/", 1)[-1] for r in log if r["method"] == "GET"]
    assert reads == ["contacts", "sdkmessagefilters"]  # one contact read, one availability check
    assert target.summary.streams()["email_events"]["upserted"] == len(events)
    assert rejects(settings) == []


def test_a_rerun_writes_nothing_new(admin, tmp_path) -> None:
    events = simulated_send([r["contactid"] for r in contacts(3)])
    settings = config(tmp_path)
    run_target(settings, events, "email_events")
    before = {kind: activities(entity_set) for kind, entity_set in TABLES.items()}

    run_target(settings, events, "email_events")

    after = {kind: activities(entity_set) for kind, entity_set in TABLES.items()}
    assert {k: sorted(v) for k, v in after.items()} == {k: sorted(v) for k, v in before.items()}
    assert sum(len(v) for v in after.values()) == len(events)
    for kind, rows in after.items():  # the same rows (same activityid), not replacements
        assert {i: r["activityid"] for i, r in rows.items()} == {
            i: r["activityid"] for i, r in before[kind].items()
        }


def test_a_late_bounce_update_rewrites_its_row(admin, tmp_path) -> None:
    (row,) = contacts(1)
    settings = config(tmp_path)
    soft = event("bnc-9", "bounce", row["contactid"], bounce_type="Soft", bounce_reason="Full")
    run_target(settings, [soft], "email_events")
    hard = {**soft, "bounce_type": "Hard", "bounce_reason": "User unknown"}

    run_target(settings, [hard], "email_events")

    (bounce,) = activities("acs_emailbounces").values()
    assert (bounce["acs_bouncetype"], bounce["acs_bouncereason"]) == ("Hard", "User unknown")


def test_unknown_contacts_are_rejected_and_the_run_fails(admin, tmp_path) -> None:
    known = [r["contactid"] for r in contacts(3)]
    missing = [str(uuid.uuid4()), str(uuid.uuid4())]
    settings = config(tmp_path)
    events = [
        event("snd-ok-0", "send", known[0].upper()),
        event("snd-missing-0", "send", missing[0]),
        event("snd-ok-1", "send", known[1]),
        event("snd-missing-1", "send", missing[1].upper()),
        event("snd-ok-2", "send", known[2]),
        # the same unknown contact in another table: rejected without another read
        event("opn-missing-0", "open", missing[0]),
        event("opn-ok-0", "open", known[0]),
        event("snd-no-profile", "send", ""),
        event("snd-bad-id", "send", "PRF-1"),
        event("fwd-1", "forward", known[0]),
    ]
    admin.clear_requests()
    result = run_cli(settings, events, tmp_path, "email_events")

    assert result.returncode != 0
    assert "6 record(s) not written to Dynamics 365" in result.stderr
    assert "Summary email_events: upserted 4, rejected 6" in result.stderr
    assert sorted(activities("acs_emailsends")) == ["snd-ok-0", "snd-ok-1", "snd-ok-2"]
    assert sorted(activities("acs_emailopens")) == ["opn-ok-0"]
    lines = {line["key"]: line for line in rejects(settings)}
    assert set(lines) == {
        "snd-missing-0",
        "snd-missing-1",
        "opn-missing-0",
        "snd-no-profile",
        "snd-bad-id",
        "fwd-1",
    }
    for key, contact_id in (
        ("snd-missing-0", missing[0]),
        ("snd-missing-1", missing[1]),
        ("opn-missing-0", missing[0]),
    ):
        line = lines[key]
        assert line["reason"] == f"contact {contact_id} does not exist in Dynamics 365"
        assert (line["status"], line["code"]) == (404, "0x80040217")
        assert line["record"]["event_id"] == key
    assert lines["snd-no-profile"]["reason"].startswith("profile_external_id is missing")
    assert lines["fwd-1"]["reason"].startswith("event_type 'forward' is not one of")
    assert lines["snd-no-profile"]["field"] == "profile_external_id"
    assert lines["fwd-1"]["field"] == "event_type"
    # one read finds the unknown contacts: no write is refused
    statuses = [(r["path"].rsplit("/", 2)[-2], r["status"]) for r in writes(admin.requests())]
    assert sorted(statuses) == [("acs_emailopens", 204), ("acs_emailsends", 204)]
    assert len([r for r in admin.requests() if r["path"].endswith("/contacts")]) == 1


def test_a_refused_request_is_split_to_find_the_bad_rows(admin, tmp_path) -> None:
    rows = contacts(8)
    settings = config(tmp_path)
    events = [event(f"opn-{i}", "open", r["contactid"]) for i, r in enumerate(rows)]
    events[2]["campaign_name"] = "C" * 101  # longer than acs_campaignname allows
    with pytest.raises(RecordsRejectedError):
        run_target(settings, events, "email_events")

    assert sorted(activities("acs_emailopens")) == [f"opn-{i}" for i in range(8) if i != 2]
    (line,) = rejects(settings)
    assert (line["key"], line["status"], line["code"]) == ("opn-2", 400, "0x80044331")
    assert "acs_campaignname" in line["reason"]
    statuses = [r["status"] for r in writes(admin.requests())]
    assert (statuses.count(400), statuses.count(204)) == (4, 3)


def test_at_most_1000_rows_a_request(admin, tmp_path) -> None:
    (row,) = contacts(1)
    events = [event(f"snd-{i}", "send", row["contactid"]) for i in range(1001)]
    target = run_target(config(tmp_path, batch_size_rows=5000), events, "email_events")

    assert len(activities("acs_emailsends")) == 1001
    assert [r["status"] for r in writes(admin.requests())] == [204, 204]
    assert target.summary.streams()["email_events"]["upserted"] == 1001
