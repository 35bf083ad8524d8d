"""The target against the in-process fake Campaign: upserts, rejects, deletes, links, retries."""

from __future__ import annotations

import json

import pytest
from singer_sdk.exceptions import ConfigValidationError
from tap_adobe_campaign.testing import FakeCampaign, Fault
from target_adobe_campaign import keyindex
from target_adobe_campaign.target import (
    RecordsRejectedError,
    TargetAdobeCampaign,
    UnroutedStreamError,
)

from .helpers import (
    CONTACT_SCHEMA,
    PROFILES,
    PROJECT_SCHEMA,
    PROJECTS,
    ROUTES,
    Run,
    record,
    schema,
    state,
)


@pytest.fixture
def fake() -> FakeCampaign:
    return FakeCampaign()


def contacts(*ids: str, **values) -> list[dict]:
    return [record("contact", externalId=i, firstName=f"F{i}", **values) for i in ids]


def by_key(fake: FakeCampaign, resource: str, key: str) -> dict[str, dict]:
    return {r[key]: r for r in fake.records.get(resource, {}).values() if r.get(key)}


def test_creates_then_an_identical_load_makes_no_write(fake, tmp_path, capsys) -> None:
    messages = [CONTACT_SCHEMA, *contacts("c1", "c2"), state({"bookmark": 1})]
    Run(fake, tmp_path).listen(messages, capsys)
    assert set(by_key(fake, PROFILES, "externalId")) == {"c1", "c2"}
    writes = len(fake.writes())

    run = Run(fake, tmp_path)
    assert run.listen(messages, capsys) == [{"bookmark": 1}]
    assert len(fake.writes()) == writes  # identical records: no call at all
    assert run.summary["streams"]["contact"]["unchanged"] == 2


def test_only_changed_fields_are_patched(fake, tmp_path, capsys) -> None:
    fake.add(PROFILES, externalId="c1", firstName="Old", email="a@example.com")
    Run(fake, tmp_path).listen(
        [
            CONTACT_SCHEMA,
            record("contact", externalId="c1", firstName="New", email="a@example.com"),
        ],
        capsys,
    )
    (method, url, body) = fake.writes()[0]
    assert method == "PATCH"
    assert url.endswith(next(iter(fake.records[PROFILES])))
    assert json.loads(body) == {"firstName": "New"}


def test_profiles_without_our_key_are_never_touched(fake, tmp_path, capsys) -> None:
    theirs = fake.add(PROFILES, email="x@example.com", firstName="Manual")
    Run(fake, tmp_path).listen([CONTACT_SCHEMA, *contacts("c1")], capsys)
    assert fake.records[PROFILES][theirs["PKey"]] == theirs
    assert [w[0] for w in fake.writes()] == ["POST"]


def test_key_index_is_read_in_pages(fake, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(keyindex, "INDEX_LINE_COUNT", 2)
    for i in range(5):
        fake.add(PROFILES, externalId=f"c{i}", firstName=f"Fc{i}")
    run = Run(fake, tmp_path)
    run.listen([CONTACT_SCHEMA, *contacts(*(f"c{i}" for i in range(5)))], capsys)
    gets = [u for m, u, _ in fake.requests if m == "GET"]
    assert len(gets) == 3
    assert all("_forcePagination=true" in u for u in gets)
    assert fake.writes() == []


def test_values_are_written_in_campaign_formats(fake, tmp_path, capsys) -> None:
    Run(fake, tmp_path).listen(
        [
            CONTACT_SCHEMA,
            record(
                "contact",
                externalId="c1",
                birthDate="1980-10-24",
                blackListEmail=True,
                _sdc_extracted_at="2024-01-01T00:00:00Z",
            ),
        ],
        capsys,
    )
    body = json.loads(fake.writes()[0][2])
    assert body == {"externalId": "c1", "birthDate": "1980-10-24", "blackListEmail": True}


def test_ambiguous_create_is_looked_up_before_creating_again(fake, tmp_path, capsys) -> None:
    fake.fail_next(Fault("POST", 504, {"code": 504, "message": "timeout"}, apply_first=True))
    fake.fail_next(Fault("POST", 503, {"code": 503, "message": "busy"}))  # c2: not applied
    run = Run(fake, tmp_path)
    run.listen([CONTACT_SCHEMA, *contacts("c1", "c2")], capsys)
    profiles = [r["externalId"] for r in fake.records[PROFILES].values()]
    assert sorted(profiles) == ["c1", "c2"]  # no duplicate of c1, c2 created once
    assert run.summary["streams"]["contact"]["created"] == 2


def test_ambiguous_create_uses_the_key_filter_when_configured(fake, tmp_path, capsys) -> None:
    routes = {
        "contact": {"resource": "profile", "key_filter": {"name": "byExt", "param": "externalId"}}
    }
    fake.fail_next(Fault("POST", 502, {"code": 502, "message": "gw"}, apply_first=True))
    Run(fake, tmp_path, resources=routes).listen([CONTACT_SCHEMA, *contacts("c1")], capsys)
    assert len(fake.records[PROFILES]) == 1
    assert any("/byExt?externalId=c1" in u for m, u, _ in fake.requests if m == "GET")


def test_rejects_are_written_counted_and_fail_the_run_after_state(fake, tmp_path, capsys) -> None:
    run = Run(fake, tmp_path)
    messages = [
        CONTACT_SCHEMA,
        record("contact", externalId="c1", gender="male"),
        record("contact", externalId="c2", gender="robot"),
        record("contact", externalId="", gender="female"),
        state({"bookmark": 3}),
    ]
    with pytest.raises(RecordsRejectedError, match="2 record"):
        run.listen(messages, capsys)
    assert run.states == [{"bookmark": 3}]  # the good record was written and state emitted
    rejects = {r["key"]: r for r in run.rejects}
    assert rejects["c2"]["field"] == "gender"
    assert "enumeration" in rejects["c2"]["reason"]
    assert rejects["c2"]["stream"] == "contact"
    assert rejects["c2"]["status"] == 500
    assert rejects["c2"]["record"]["gender"] == "robot"
    assert rejects[None]["reason"].startswith("missing key")
    assert run.summary["streams"]["contact"]["created"] == 1
    assert run.summary["totals"]["rejected"] == 2


def test_a_clean_run_leaves_an_empty_rejects_file(fake, tmp_path, capsys) -> None:
    (tmp_path / "rejects.jsonl").write_text('{"stale": true}\n')
    run = Run(fake, tmp_path)
    run.listen([CONTACT_SCHEMA, *contacts("c1")], capsys)
    assert run.rejects == []


@pytest.mark.parametrize("apply_deletes", [True, False])
def test_deletes_follow_apply_deletes(fake, tmp_path, capsys, apply_deletes) -> None:
    fake.add(PROFILES, externalId="c1", firstName="Fc1")
    run = Run(fake, tmp_path, apply_deletes=apply_deletes)
    run.listen(
        [
            CONTACT_SCHEMA,
            record("contact", externalId="c1", _sdc_deleted_at="2024-01-01T00:00:00Z"),
        ],
        capsys,
    )
    counts = run.summary["streams"]["contact"]
    if apply_deletes:
        assert [w[0] for w in fake.writes()] == ["DELETE"]
        assert fake.records[PROFILES] == {}
        assert counts["deleted"] == 1
    else:
        assert fake.writes() == []
        assert counts["skipped_deletes"] == 1


def test_parents_are_written_before_children_and_links_carry_pkeys(fake, tmp_path, capsys) -> None:
    run = Run(fake, tmp_path)
    with pytest.raises(RecordsRejectedError, match="1 record"):
        run.listen(
            [
                PROJECT_SCHEMA,  # the child's schema arrives first: its sink drains first
                CONTACT_SCHEMA,
                *contacts("c1"),
                record("new_project", crmId="p1", name="P1", contactId="c1"),
                record("new_project", crmId="p2", name="P2", contactId="c-missing"),
                record("new_project", crmId="p3", name="P3", contactId=None),
            ],
            capsys,
        )
    assert [w[1].split("/")[-1] for w in fake.writes()] == ["profile", "cusProject", "cusProject"]
    profile = next(iter(fake.records[PROFILES].values()))
    projects = by_key(fake, PROJECTS, "crmId")
    assert projects["p1"]["profile"] == {"PKey": profile["PKey"]}
    assert "profile" not in projects["p3"]
    (reject,) = run.rejects
    assert reject["key"] == "p2"
    assert reject["field"] == "contactId"
    assert reject["reason"].startswith("parent not found")


def test_429_is_retried_with_retry_after(fake, tmp_path, capsys) -> None:
    fake.add(PROFILES, externalId="c1", firstName="Old")
    fake.fail_next(Fault("PATCH", 429, {"error_code": "429050"}, {"Retry-After": "0.01"}))
    run = Run(fake, tmp_path)
    run.listen([CONTACT_SCHEMA, *contacts("c1")], capsys)
    assert [w[0] for w in fake.writes()] == ["PATCH", "PATCH"]
    assert run.summary["streams"]["contact"]["updated"] == 1


def test_a_fatal_error_emits_no_state(fake, tmp_path, capsys) -> None:
    for _ in range(9):
        fake.fail_next(Fault("POST", 429, {"error_code": "429050"}))
    run = Run(fake, tmp_path, max_retries=1)
    run.target.client.retry = type(run.target.client.retry)(max_retries=1, base=0.001)
    retry = run.target.client.retry
    run.target.client._send_post = retry.wrap(
        run.target.client._send_once, giveup=lambda exc: not retry.safe_to_repeat_post(exc)
    )
    with pytest.raises(Exception, match="429"):
        run.listen([CONTACT_SCHEMA, *contacts("c1"), state({"bookmark": 1})], capsys)
    assert run.states == []


def test_unrouted_streams_fail_clearly(fake, tmp_path, capsys) -> None:
    run = Run(fake, tmp_path)
    with pytest.raises(UnroutedStreamError, match="'account' has no entry"):
        run.listen([schema("account", {"id": {"type": "string"}}, "id")], capsys)


def base_config(**overrides) -> dict:
    return {
        "organization": "o",
        "client_id": "c",
        "client_secret": "s",
        "resources": ROUTES,
        **overrides,
    }


@pytest.mark.parametrize("setting", ["ims_url", "api_base_url"])
def test_http_endpoints_are_refused(setting) -> None:
    with pytest.raises(ConfigValidationError) as info:
        TargetAdobeCampaign(config=base_config(**{setting: "http://localhost:8446"}))
    assert f"{setting} must be an https:// URL" in str(info.value.errors)


def test_routing_errors_are_reported() -> None:
    resources = {
        "a": {"resource": "recipient"},
        "b": {"resource": "cusThing"},
        "c": {"resource": "profile", "links": {"x": {"stream": "nowhere", "field": "f"}}},
    }
    with pytest.raises(ConfigValidationError) as info:
        TargetAdobeCampaign(config=base_config(resources=resources))
    errors = "\n".join(info.value.errors)
    assert "must be 'profile' or 'cus<Name>'" in errors
    assert "key is required for custom resource 'cusThing'" in errors
    assert "parent stream 'nowhere'" in errors
