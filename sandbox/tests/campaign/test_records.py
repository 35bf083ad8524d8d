"""Campaign records: create/update/delete, keys and filters, enumerations, validation, opt-outs,
engine calls, metadata."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.pkeys import Sealer
from crm_sandbox.campaign.seed import SeedSizes, seed
from crm_sandbox.campaign.store import Store
from crm_sandbox.clock import Clock

from .conftest import RST, serve_campaign, url

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(200))


@pytest.fixture(autouse=True)
def _zero_engine_calls(campaign: RunningCampaign) -> Iterator[None]:
    """Each test starts at zero engine calls and an unshifted clock."""
    campaign.admin.reset_engine_calls()
    yield
    campaign.admin.shift_clock(-campaign.admin.clock()["offset"])


def new_profile(campaign, api, ext: bool = False, **fields) -> dict:
    api_name = "profileAndServicesExt" if ext else "profileAndServices"
    resp = api.post(url(campaign, f"{api_name}/profile"), json=fields)
    assert resp.status_code == 201, resp.text
    return resp.json()


def error_message(resp) -> str:
    assert resp.status_code == 500, resp.text
    body = resp.json()
    assert body["code"] == 500
    return body["message"]


def test_post_always_creates_even_with_the_same_email(campaign, api):
    email = f"dup.{uuid.uuid4().hex[:8]}@example.com"
    first = new_profile(campaign, api, email=email, firstName="Ann")
    second = new_profile(campaign, api, email=email, firstName="Ann")
    assert first["PKey"] != second["PKey"]
    found = api.get(url(campaign, "profileAndServices/profile/byEmail"), params={"email": email})
    assert {p["PKey"] for p in found.json()["content"]} == {first["PKey"], second["PKey"]}
    assert campaign.admin.engine_calls()["insert"] == 2


def test_post_returns_the_full_record_with_stamps(campaign, api):
    created = new_profile(campaign, api, email="full@example.com", gender="female")
    assert created["gender"] == "female"
    assert created["emailFormat"] == "unknown"
    assert created["blackListEmail"] is False
    assert created["domain"] == "example.com"
    assert STAMP.match(created["created"])
    assert created["lastModified"] == created["created"]
    assert created["href"].endswith(f"/profileAndServices/profile/{created['PKey']}")
    assert "cusJobTitle" not in created  # custom fields only on profileAndServicesExt


def test_patch_is_partial_and_returns_pkey_and_href(campaign, api):
    created = new_profile(campaign, api, email="patch@example.com", firstName="Pat", phone="1")
    campaign.admin.shift_clock(2.5)
    resp = api.patch(created["href"], json={"lastName": "Smith"})
    assert resp.status_code == 200
    assert resp.json() == {"PKey": created["PKey"], "href": created["href"]}
    record = api.get(created["href"]).json()
    assert (record["firstName"], record["lastName"], record["phone"]) == ("Pat", "Smith", "1")
    assert STAMP.match(record["lastModified"])
    assert record["lastModified"] > record["created"]


def test_engine_calls_follow_adobe_guardrails(campaign, api):
    created = new_profile(campaign, api, email="calls@example.com", firstName="Cal")
    api.patch(created["href"], json={"firstName": "Callum"})  # update: 2
    api.patch(created["href"], json={"firstName": "Callum"})  # identical: 1
    api.delete(created["href"])  # delete: 1
    calls = campaign.admin.engine_calls()
    assert calls["total"] == 1 + 2 + 1 + 1
    assert (calls["insert"], calls["update"], calls["identical_update"], calls["delete"]) == (
        1,
        1,
        1,
        1,
    )
    assert calls["by_resource"]["profile"]["total"] == 5


def test_identical_update_keeps_last_modified(campaign, api):
    created = new_profile(campaign, api, email="same@example.com", firstName="Sam")
    campaign.admin.shift_clock(5)
    api.patch(created["href"], json={"firstName": "Sam", "email": "same@example.com"})
    assert api.get(created["href"]).json()["lastModified"] == created["lastModified"]


def test_delete_returns_200_then_404(campaign, api):
    created = new_profile(campaign, api, email="gone@example.com")
    assert api.delete(created["href"]).status_code == 200
    resp = api.get(created["href"])
    assert resp.status_code == 404
    assert resp.json()["message"].startswith(RST)


def test_invalid_pkey_is_campaigns_500(campaign, api):
    message = error_message(api.get(url(campaign, "profileAndServices/profile/@O5iRp40EGA")))
    assert message == (
        "'O5iRp40EGA' attribute unknown (see definition of 'Profiles (nms:recipient)' schema). "
        "XTK-170036 Unable to parse expression '@id = @O5iRp40EGA'."
    )


def test_enumerations_by_value_name(campaign, api):
    created = new_profile(campaign, api, email="enum@example.com", gender="male")
    api.patch(created["href"], json={"emailFormat": "html", "timeZone": "Europe_Paris"})
    record = api.get(created["href"]).json()
    assert (record["gender"], record["emailFormat"], record["timeZone"]) == (
        "male",
        "html",
        "Europe_Paris",
    )
    message = error_message(api.patch(created["href"], json={"gender": "invalid"}))
    assert message == (
        f"{RST} The value 'invalid' is not valid for the 'nms:recipient:gender' enumeration "
        "of the '@gender' field"
    )
    assert error_message(api.patch(created["href"], json={"gender": 1}))  # not by value


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"email": "not-an-email"}, "email address"),
        ({"firstName": "x" * 31}, "Value too long"),
        ({"age": 40}, "Cannot update the 'age' property that is read-only"),
        ({"lastModified": "2020-01-01 00:00:00.000Z"}, "read-only"),
        ({"shoeSize": 44}, "'shoeSize' property is not valid for the 'profile' resource."),
        ({"cusJobTitle": "Chef"}, "'cusJobTitle' property is not valid"),
        ({"birthDate": "1980-02-30"}, "birthDate"),
        ({"blackListEmail": "yes"}, "blackListEmail"),
    ],
)
def test_validation_errors_are_500s(campaign, api, payload, fragment):
    created = new_profile(campaign, api, email="valid@example.com")
    message = error_message(api.patch(created["href"], json=payload))
    assert message.startswith(RST)
    assert fragment in message
    assert error_message(api.post(url(campaign, "profileAndServices/profile"), json=payload))


def test_ext_endpoint_shows_and_writes_custom_fields(campaign, api):
    created = new_profile(campaign, api, ext=True, email="ext@example.com", cusJobTitle="Chef")
    assert created["cusJobTitle"] == "Chef"
    assert "/profileAndServicesExt/profile/" in created["href"]
    plain = api.get(url(campaign, f"profileAndServices/profile/{created['PKey']}")).json()
    assert "cusJobTitle" not in plain
    assert plain["email"] == "ext@example.com"


def test_custom_key_on_the_ext_endpoint(campaign, api):
    contact_id = str(uuid.uuid4())
    created = new_profile(campaign, api, ext=True, email="key@example.com", externalId=contact_id)
    by_key = url(campaign, f"profileAndServicesExt/profile/{contact_id}")
    assert api.get(by_key).json()["PKey"] == created["PKey"]
    resp = api.patch(by_key, json={"firstName": "Keyed"})
    assert resp.json()["PKey"] == created["PKey"]
    assert api.get(created["href"]).json()["firstName"] == "Keyed"
    message = error_message(api.patch(by_key, json={"externalId": "something-else"}))
    assert "RST-360012 Inconsistent operation on resource 'profile'" in message
    assert f"Cannot update key '{contact_id}' to 'something-else'" in message
    # The same value is no change; the plain endpoint has no custom-key URLs.
    assert api.patch(by_key, json={"externalId": contact_id}).status_code == 200
    assert api.get(url(campaign, f"profileAndServices/profile/{contact_id}")).status_code == 500
    unknown = api.get(url(campaign, f"profileAndServicesExt/profile/{uuid.uuid4()}"))
    assert unknown.status_code == 404


def test_custom_key_is_unique(campaign, api):
    contact_id = str(uuid.uuid4())
    new_profile(campaign, api, email="u1@example.com", externalId=contact_id)
    resp = api.post(url(campaign, "profileAndServices/profile"), json={"externalId": contact_id})
    assert "duplicate key value violates unique constraint" in error_message(resp)


def test_custom_key_filter(campaign, api):
    contact_id = str(uuid.uuid4())
    created = new_profile(campaign, api, email="f@example.com", externalId=contact_id)
    body = api.get(
        url(campaign, "profileAndServicesExt/profile/byExternalId"),
        params={"externalId_parameter": contact_id},
    ).json()
    assert [p["PKey"] for p in body["content"]] == [created["PKey"]]
    # Custom filters exist only on the Ext endpoint.
    plain = api.get(url(campaign, "profileAndServices/profile/byExternalId"))
    assert plain.status_code == 500


def test_by_text_is_a_case_sensitive_prefix_search(campaign, api):
    tag = "tx" + uuid.uuid4().hex[:6]
    a = new_profile(campaign, api, email=f"{tag}.one@example.com", lastName="Zed")
    b = new_profile(campaign, api, email="other@example.com", lastName=f"{tag}Smith")
    found = api.get(url(campaign, "profileAndServices/profile/byText"), params={"text": tag})
    assert {p["PKey"] for p in found.json()["content"]} == {a["PKey"], b["PKey"]}
    only_email = api.get(
        url(campaign, "profileAndServices/profile/byText"),
        params={"text": tag, "filterType": "email"},
    )
    assert [p["PKey"] for p in only_email.json()["content"]] == [a["PKey"]]
    by_text = url(campaign, "profileAndServices/profile/byText")
    upper = api.get(by_text, params={"text": tag.upper()})
    assert upper.json()["content"] == []
    chained = api.get(
        url(campaign, "profileAndServices/profile/byEmail/byText"),
        params={"email": f"{tag}.one@example.com", "text": tag},
    )
    assert [p["PKey"] for p in chained.json()["content"]] == [a["PKey"]]
    count = api.get(url(campaign, "profileAndServices/profile/byText/_count"), params={"text": tag})
    assert count.json() == {"count": 2}


def test_seed_has_campaign_created_profiles_without_external_id(campaign):
    all_rows = campaign.admin.find_rows("profile")
    without = [r for r in all_rows if r["externalId"] == ""]
    assert 5 <= len(without) <= len(all_rows) // 4


def test_custom_resource_with_profile_link(campaign, api):
    owner = new_profile(campaign, api, email="owner@example.com", externalId=str(uuid.uuid4()))
    crm_id = str(uuid.uuid4())
    resp = api.post(
        url(campaign, "profileAndServicesExt/cusProject"),
        json={
            "cusCrmId": crm_id,
            "cusName": "Launch",
            "cusStage": "running",
            "cusBudget": 1200.5,
            "cusStartDate": "2024-03-01",
            "profile": {"PKey": owner["PKey"]},
        },
    )
    assert resp.status_code == 201, resp.text
    project = resp.json()
    assert project["cusStage"] == "running"
    assert project["profile"]["PKey"] == owner["PKey"]
    by_key = api.get(
        url(campaign, "profileAndServicesExt/cusProject/byCrmId"),
        params={"cusCrmId_parameter": crm_id},
    ).json()["content"]
    assert [p["PKey"] for p in by_key] == [project["PKey"]]
    # Nested attributes without a PKey are ignored, as in Campaign Standard.
    api.patch(project["href"], json={"profile": {"email": "x@example.com"}, "cusStage": "done"})
    record = api.get(project["href"]).json()
    assert (record["profile"]["PKey"], record["cusStage"]) == (owner["PKey"], "done")
    bad = api.patch(project["href"], json={"profile": {"PKey": "@nope"}})
    assert "XTK-170036" in error_message(bad)
    # Custom resources are not on the plain endpoint.
    assert api.get(url(campaign, "profileAndServices/cusProject")).status_code == 500


def test_custom_resource_mandatory_fields(campaign, api):
    resp = api.post(url(campaign, "profileAndServicesExt/cusProject"), json={"cusName": "No id"})
    assert "'CRM ID' (cusCrmId) field of the 'cusProject' resource is mandatory" in (
        error_message(resp)
    )
    crm_id = str(uuid.uuid4())
    ok = api.post(
        url(campaign, "profileAndServicesExt/cusProject"),
        json={"cusCrmId": crm_id, "cusName": "P"},
    )
    assert ok.status_code == 201
    assert "mandatory" in error_message(api.patch(ok.json()["href"], json={"cusName": ""}))
    bad_stage = api.patch(ok.json()["href"], json={"cusStage": "Running"})
    assert "'cus:project:cusStage' enumeration" in error_message(bad_stage)


def test_opt_out_change_times(campaign, api):
    created = new_profile(campaign, api, email="optout@example.com")
    changes = campaign.admin.get_row("profile", created["PKey"])["optOutChanges"]
    assert set(changes) == {
        "blackList",
        "blackListEmail",
        "blackListFax",
        "blackListMobile",
        "blackListPhone",
        "blackListPostalMail",
        "blackListPushnotification",
        "ccpaOptOut",
    }
    assert all(v is None for v in changes.values())
    campaign.admin.shift_clock(10)
    api.patch(created["href"], json={"blackListEmail": True})
    after_api = campaign.admin.get_row("profile", created["PKey"])
    email_changed = after_api["optOutChanges"]["blackListEmail"]
    assert STAMP.match(email_changed)
    assert email_changed == after_api["lastModified"]
    # Inside Campaign, the recipient also opts out of SMS later: its own time, email's unchanged.
    campaign.admin.shift_clock(10)
    row = campaign.admin.update_row("profile", created["PKey"], {"blackListMobile": True})
    assert row["blackListMobile"] is True
    assert row["optOutChanges"]["blackListEmail"] == email_changed
    assert row["optOutChanges"]["blackListMobile"] > email_changed
    # Setting a flag to its current value is no change.
    api.patch(created["href"], json={"blackListEmail": True})
    later = campaign.admin.get_row("profile", created["PKey"])["optOutChanges"]
    assert later["blackListEmail"] == email_changed
    assert campaign.admin.engine_calls()["total"] == 1 + 2 + 1  # admin writes are free
    assert "optOutChanges" not in api.get(created["href"]).json()  # not an Adobe field


def test_metadata_describes_fields_enumerations_and_filters(campaign, api):
    meta = api.get(url(campaign, "profileAndServices/resourceType/profile")).json()
    assert meta["name"] == "profile"
    assert meta["schema"] == "nms:recipient"
    content = meta["content"]
    assert content["email"]["length"] == 128
    assert content["email"]["dataPolicy"] == "email"
    assert content["lastName"]["sortable"] is True
    assert content["phone"]["sortable"] is False
    assert content["age"]["readOnly"] is True
    assert {v["name"] for v in content["gender"]["values"].values()} == {
        "unknown",
        "male",
        "female",
    }
    assert "cusJobTitle" not in content
    filters = api.get(meta["filters"]["href"]).json()["content"]
    names = {f["name"]: f for f in filters}
    assert set(names) == {"byEmail", "byText"}
    assert names["byEmail"]["data"] == "/profileAndServices/profile/byEmail?email=$value"
    ext = api.get(url(campaign, "profileAndServicesExt/resourceType/profile")).json()
    assert "cusJobTitle" in ext["content"]
    ext_filters = {f["name"] for f in api.get(ext["filters"]["href"]).json()["content"]}
    assert "byExternalId" in ext_filters
    listing = api.get(url(campaign, "profileAndServicesExt")).json()
    project_meta = api.get(listing["cusProject"]["href"]).json()
    assert project_meta["content"]["profile"]["resTarget"] == "profile"
    assert project_meta["content"]["cusStage"]["type"] == "enumeration"


def test_seed_is_deterministic(tmp_path):
    def seeded(name: str, value: int) -> list[tuple]:
        store = Store(tmp_path / f"{name}.sqlite3", Clock(), Sealer(tmp_path / f"{name}.key"))
        seed(store, SeedSizes(120, projects=30), value)
        rows = store.conn.execute(
            "SELECT email, externalId, lastModified, blackListEmail_changed"
            " FROM profile ORDER BY id"
        ).fetchall()
        store.close()
        return rows

    first, again, other = seeded("a", 5), seeded("b", 5), seeded("c", 6)
    assert first == again
    assert first != other
    assert len(first) == 120


def test_page_records_equal_single_reads(campaign, api):
    page = api.get(url(campaign, "profileAndServicesExt/profile?_lineCount=5")).json()["content"]
    for record in page:
        assert api.get(record["href"]).json() == record
