"""Unknown contacts cost no write: one read per batch finds them, the rest is written.

Requests are counted in the sandbox's request log; what was sent is seen by wrapping the client.
"""

from __future__ import annotations

import json
import typing as t
import uuid

import pytest
from dataverse_client.client import DataverseClient
from target_dynamics365.event_sink import EmailEventSink
from target_dynamics365.target import RecordsRejectedError

from .helpers import client, config, contacts, rejects, run_target, writes
from .test_email_events import activities, event

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    import requests

URL_LIMIT = 32_768  # Dataverse's URL length limit (characters)


def dataverse(requests_log: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """The Web API requests of the sandbox's log (Entra's token requests left out)."""
    return [r for r in requests_log if r["app"] == "dataverse"]


def contact_reads(log: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """GETs of contacts and `$batch` requests (the target sends only GETs in a `$batch` here)."""
    return [r for r in log if r["path"].endswith(("/contacts", "/$batch"))]


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The JSON bodies the target POSTs through its client, as text."""
    bodies: list[str] = []
    original = DataverseClient.post

    def spy(self: DataverseClient, path: str, json_body: t.Any, **kw: t.Any) -> requests.Response:
        bodies.append(json.dumps(json_body))
        return original(self, path, json_body, **kw)

    monkeypatch.setattr(DataverseClient, "post", spy)
    return bodies


def assert_rejected_as_unknown(line: dict[str, t.Any], contact_id: str) -> None:
    """A rejects line of an event whose contact does not exist."""
    assert line["reason"] == f"contact {contact_id} does not exist in Dynamics 365"
    assert line["field"] == "profile_external_id"
    assert (line["status"], line["code"]) == (404, "0x80040217")


def test_ninety_percent_unknown_contacts_cost_no_write(admin, tmp_path, posted) -> None:
    known = [r["contactid"] for r in contacts(40)]
    unknown = [str(uuid.uuid4()) for _ in range(900)]
    events = [
        event(f"known-{i}", "send" if i % 2 else "open", known[i % len(known)]) for i in range(300)
    ]
    events += [
        event(f"unknown-{kind}-{i}", kind, contact_id)
        for i, contact_id in enumerate(unknown)
        for kind in ("send", "open", "click")
    ]
    settings = config(tmp_path)
    admin.clear_requests()
    with pytest.raises(RecordsRejectedError):
        run_target(settings, events, "email_events")

    log = dataverse(admin.requests())
    assert 1000 * len(log) / len(events) <= 2
    assert len(contact_reads(log)) == 1  # 940 contacts: one `$batch` of GETs
    assert [r["status"] for r in writes(log) if not r["path"].endswith("$batch")] == [204, 204]
    assert not [body for body in posted if any(c in body for c in unknown)]
    lines = rejects(settings)
    assert len(lines) == 2700
    for line in lines:
        assert_rejected_as_unknown(line, line["record"]["profile_external_id"])
    assert len(activities("acs_emailsends")) == len(activities("acs_emailopens")) == 150
    assert activities("acs_emailclicks") == {}


def test_contacts_are_read_once_per_run(admin, tmp_path) -> None:
    known = [r["contactid"] for r in contacts(40)]
    unknown = [str(uuid.uuid4()) for _ in range(60)]
    events = [
        event(f"snd-{batch}-{i}", "send", contact_id)
        for batch in range(3)
        for i, contact_id in enumerate([*known, *unknown])
    ]
    settings = config(tmp_path, batch_size_rows=100)  # three batches of the same 100 contacts
    admin.clear_requests()
    with pytest.raises(RecordsRejectedError):
        run_target(settings, events, "email_events")

    log = dataverse(admin.requests())
    assert len(contact_reads(log)) == 1
    assert [r["status"] for r in writes(log)] == [204, 204, 204]
    assert len(activities("acs_emailsends")) == 120
    lines = rejects(settings)
    assert len(lines) == 180
    assert {line["record"]["profile_external_id"] for line in lines} == set(unknown)


@pytest.mark.parametrize("parallel", [1, 8], ids=["one request at a time", "parallel"])
def test_a_contact_deleted_after_the_read_is_still_rejected(
    admin, tmp_path, monkeypatch: pytest.MonkeyPatch, parallel: int
) -> None:
    """One at a time, the opens chunk is held back once the sends' refusal names the contact;
    in parallel the opens chunk may already be on its way, so each chunk is refused once at
    most (whether it left before the refusal came back is up to the threads)."""
    known = [r["contactid"] for r in contacts(4)]
    deleted = known[0]
    read = EmailEventSink.read_contacts

    def read_then_delete(
        self: EmailEventSink, contact_ids: Sequence[str], columns: Sequence[str] = ()
    ) -> dict[str, dict[str, t.Any]]:
        found = read(self, contact_ids, columns)
        client().request("DELETE", f"contacts({deleted})")  # gone before the write
        return found

    monkeypatch.setattr(EmailEventSink, "read_contacts", read_then_delete)
    events = [event(f"snd-{i}", "send", c) for i, c in enumerate(known)]
    events.append(event("opn-0", "open", deleted))
    settings = config(tmp_path, max_parallel_requests=parallel)
    admin.clear_requests()
    with pytest.raises(RecordsRejectedError):
        run_target(settings, events, "email_events")

    assert sorted(activities("acs_emailsends")) == ["snd-1", "snd-2", "snd-3"]
    assert activities("acs_emailopens") == {}
    lines = {line["key"]: line for line in rejects(settings)}
    assert set(lines) == {"snd-0", "opn-0"}
    for line in lines.values():
        assert_rejected_as_unknown(line, deleted)
    log = dataverse(admin.requests())
    statuses = [r["status"] for r in writes(log) if "/acs_" in r["path"]]
    if parallel == 1:
        assert sorted(statuses) == [204, 404]  # one refusal; the opens need no request at all
    else:
        assert statuses.count(204) == 1
        assert statuses.count(404) in (1, 2)  # one refusal per chunk, at most
    assert len(contact_reads(log)) == 1


def test_a_batch_of_1000_profiles_reads_its_contacts_with_one_request(admin, tmp_path) -> None:
    known = [r["contactid"] for r in contacts(40)]
    unknown = [str(uuid.uuid4()) for _ in range(960)]
    profiles = [{"externalId": c, "blackListEmail": True} for c in [*known, *unknown]]
    settings = config(tmp_path)
    admin.clear_requests()
    with pytest.raises(RecordsRejectedError):
        run_target(settings, profiles)

    log = dataverse(admin.requests())
    assert [r["path"].rsplit("/", 1)[-1] for r in log] == [
        "$batch",
        "Microsoft.Dynamics.CRM.UpdateMultiple",
    ]
    assert len(rejects(settings)) == 960
    query = "contacts?$select=contactid&$filter=donotemail eq true or donotbulkemail eq true"
    assert {r["contactid"] for r in client().iter_values(query)} == set(known)


def test_400_contacts_take_one_get_within_the_url_limit(admin, tmp_path) -> None:
    profiles = [{"externalId": str(uuid.uuid4()), "blackListEmail": True} for _ in range(400)]
    settings = config(tmp_path)
    admin.clear_requests()
    with pytest.raises(RecordsRejectedError):
        run_target(settings, profiles)

    (read,) = dataverse(admin.requests())
    assert (read["method"], read["path"].rsplit("/", 1)[-1]) == ("GET", "contacts")
    url = f"{settings['resource_url']}{read['path']}?{read['query']}"
    assert len(url) <= URL_LIMIT
