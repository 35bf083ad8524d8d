"""The tenant's data model: the seeded second-level resource and resources published at run time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign, start_in_thread
from crm_sandbox.campaign.seed import SeedSizes
from crm_sandbox.campaign.server import CampaignServeOptions

from .conftest import RST, serve_campaign, url

EXT = "profileAndServicesExt"
SIZES = SeedSizes(40, projects=10)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SIZES, seed=5)


def ext(campaign: RunningCampaign, path: str) -> str:
    return url(campaign, f"{EXT}/{path}")


def definition(name: str, fields: int = 3, **extra) -> dict:
    specs = [{"name": "cusCrmId", "type": "string", "length": 36}]
    kinds = ["string", "long", "double", "boolean", "date", "datetime"]
    specs += [
        {"name": f"cusF{i:03d}", "type": kinds[i % len(kinds)], "label": f"Field {i}"}
        for i in range(fields)
    ]
    return {"name": name, "label": name[3:], "key": "cusCrmId", "fields": specs, **extra}


# --- cusProjectTask (seeded, second level) --------------------------------------------------


def test_tasks_are_seeded_and_link_to_projects(campaign, api):
    assert campaign.admin.state()["counts"]["cusProjectTask"] == 20
    page = api.get(ext(campaign, "cusProjectTask?_lineCount=5")).json()
    task = page["content"][0]
    assert set(task) >= {"cusCrmId", "cusName", "cusDueDate", "cusEffort", "cusPriority"}
    project = api.get(task["project"]["href"]).json()
    assert project["PKey"] == task["project"]["PKey"]
    assert project["href"].endswith(f"/{EXT}/cusProject/{project['PKey']}")


def test_tasks_are_custom_resources_with_the_crm_id_key(campaign, api):
    assert api.get(url(campaign, "profileAndServices/cusProjectTask")).status_code == 500
    task = api.get(ext(campaign, "cusProjectTask?_lineCount=1")).json()["content"][0]
    by_key = api.get(ext(campaign, f"cusProjectTask/{task['cusCrmId']}")).json()
    assert by_key["PKey"] == task["PKey"]
    found = api.get(
        ext(campaign, "cusProjectTask/byCrmId"), params={"cusCrmId_parameter": task["cusCrmId"]}
    ).json()["content"]
    assert [t["PKey"] for t in found] == [task["PKey"]]
    meta = api.get(ext(campaign, "resourceType/cusProjectTask")).json()
    assert meta["schema"] == "cus:projectTask"
    assert meta["content"]["project"]["resTarget"] == "cusProject"
    assert meta["content"]["cusCrmId"]["mandatory"] is True


def test_a_task_is_created_with_a_project_link(campaign, api):
    project = api.get(ext(campaign, "cusProject?_lineCount=1")).json()["content"][0]
    body = {
        "cusCrmId": "7d3b0a52-0000-4000-8000-00000000a001",
        "cusName": "Kick-off",
        "cusDueDate": "2025-03-04",
        "cusEffort": 2.5,
        "cusPriority": 1,
        "project": {"PKey": project["PKey"]},
    }
    created = api.post(ext(campaign, "cusProjectTask"), json=body)
    assert created.status_code == 201, created.text
    assert created.json()["project"]["PKey"] == project["PKey"]
    bad = api.post(
        ext(campaign, "cusProjectTask"),
        json={**body, "cusCrmId": "other", "project": {"PKey": "@nope-nope-nope-nope"}},
    )
    assert bad.status_code == 500
    assert "XTK-170036" in bad.json()["message"]


# --- publishing ------------------------------------------------------------------------------


def test_published_resource_is_served_like_cus_project(campaign, api):
    spec = definition(
        "cusContract",
        fields=2,
        links=[
            {"name": "project", "target": "cusProject"},
            {"name": "profile", "target": "profile"},
        ],
    )
    spec["fields"].append({"name": "cusTier", "type": "enumeration", "label": "Tier"})
    published = campaign.admin.publish_resource(spec)
    assert published["schema"] == "cus:contract"
    assert published["filters"] == ["byCrmId"]

    root = api.get(url(campaign, EXT)).json()
    assert root["cusContract"]["href"].endswith(f"/{EXT}/cusContract/metadata")
    assert "cusContract" not in api.get(url(campaign, "profileAndServices")).json()
    meta = api.get(ext(campaign, "resourceType/cusContract")).json()
    assert meta["content"]["cusTier"]["type"] == "enumeration"
    assert meta["content"]["cusTier"]["values"] == {}  # created empty: values come over SOAP
    assert meta["content"]["cusF000"]["type"] == "string"
    assert meta["content"]["cusF001"]["type"] == "number"
    assert meta["content"]["project"]["resTarget"] == "cusProject"
    filters = api.get(meta["filters"]["href"]).json()["content"]
    assert filters[0]["data"] == f"/{EXT}/cusContract/byCrmId?cusCrmId_parameter=$value"

    project = api.get(ext(campaign, "cusProject?_lineCount=1")).json()["content"][0]
    created = api.post(
        ext(campaign, "cusContract"),
        json={
            "cusCrmId": "C-1",
            "cusF000": "gold",
            "cusF001": 7,
            "project": {"PKey": project["PKey"]},
        },
    )
    assert created.status_code == 201, created.text
    pkey = created.json()["PKey"]
    assert api.get(ext(campaign, "cusContract/C-1")).json()["PKey"] == pkey
    patched = api.patch(ext(campaign, f"cusContract/{pkey}"), json={"cusF001": 8})
    assert patched.json() == {"PKey": pkey, "href": created.json()["href"]}
    found = api.get(ext(campaign, "cusContract/byCrmId?cusCrmId_parameter=C-1")).json()
    assert [(c["cusF001"], c["project"]["PKey"]) for c in found["content"]] == [
        (8, project["PKey"])
    ]
    duplicate = api.post(ext(campaign, "cusContract"), json={"cusCrmId": "C-1"})
    assert duplicate.status_code == 500
    assert "already exists" in duplicate.json()["message"]
    unknown = api.post(ext(campaign, "cusContract"), json={"cusCrmId": "C-2", "cusTier": "gold"})
    assert unknown.json()["message"] == (
        f"{RST} The value 'gold' is not valid for the 'cus:contract:cusTier' enumeration of "
        "the '@cusTier' field"
    )
    assert api.delete(ext(campaign, f"cusContract/{pkey}")).status_code == 200
    assert api.get(ext(campaign, "cusContract/_count")).json() == {"count": 0}
    listed = [r["name"] for r in campaign.admin.published_resources()]
    assert listed[0] == "cusContract"


def test_definitions_are_validated(campaign):
    cases = [
        ({"name": "contract"}, "resource name"),
        (definition("cusBad1") | {"fields": [{"name": "cusX", "type": "money"}]}, "type"),
        (definition("cusBad2") | {"fields": [{"name": "noPrefix", "type": "string"}]}, "field"),
        (definition("cusBad3", links=[{"name": "x", "target": "cusNothing"}]), "target"),
        (definition("cusBad4") | {"key": "cusF001"}, "key field"),
    ]
    for spec, words in cases:
        with pytest.raises(RuntimeError, match=r"→ 400: .*" + words):
            campaign.admin.publish_resource(spec)
    with pytest.raises(RuntimeError, match="→ 409"):
        campaign.admin.publish_resource(definition("cusProject"))


def test_more_than_adobes_limits_21_resources_of_55_fields(campaign, api):
    names = [f"cusWide{i:02d}" for i in range(21)]
    for name in names:
        assert campaign.admin.publish_resource(definition(name, fields=55))["fieldCount"] == 58
    root = api.get(url(campaign, EXT)).json()
    assert set(names) <= set(root)
    last = names[-1]
    meta = api.get(ext(campaign, f"resourceType/{last}")).json()
    assert len([n for n in meta["content"] if n.startswith("cusF")]) == 55
    values = {"cusCrmId": "W-1", **{f"cusF{i:03d}": i for i in range(1, 55, 6)}}
    values |= {f"cusF{i:03d}": f"text {i}" for i in range(0, 55, 6)}
    values["cusF054"] = "last"
    created = api.post(ext(campaign, last), json=values)
    assert created.status_code == 201, created.text
    read = api.get(ext(campaign, f"{last}/W-1")).json()
    assert {k: read[k] for k in values} == values


def test_published_resources_survive_a_reseed_with_empty_tables(campaign, api):
    campaign.admin.publish_resource(definition("cusKept"))
    assert api.post(ext(campaign, "cusKept"), json={"cusCrmId": "K-1"}).status_code == 201
    counts = campaign.admin.reset(40, 5, projects=10)
    assert counts["cusKept"] == 0
    assert api.get(ext(campaign, "cusKept/_count")).json() == {"count": 0}
    assert api.post(ext(campaign, "cusKept"), json={"cusCrmId": "K-1"}).status_code == 201


def test_published_resources_survive_a_restart(tmp_path):
    options = CampaignServeOptions(
        tmp_path,
        ims_port=0,
        gateway_port=0,
        events_port=0,
        sftp_port=0,
        sizes=SeedSizes(10, projects=2),
    )
    with start_in_thread(options) as first:
        first.admin.publish_resource(definition("cusDurable"))
        api = first.api_session()
        assert api.post(ext(first, "cusDurable"), json={"cusCrmId": "D-1"}).status_code == 201
    with start_in_thread(options) as second:
        api = second.api_session()
        record = api.get(ext(second, "cusDurable/D-1"))
        assert record.status_code == 200, record.text
        assert [r["name"] for r in second.admin.published_resources()] == ["cusDurable"]
        assert second.admin.state()["counts"]["cusDurable"] == 1
