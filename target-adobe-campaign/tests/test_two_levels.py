"""Two levels of links (contact ← cusProject ← cusProjectTask): parents written first."""

from __future__ import annotations

import io
import json
import typing as t

import pytest
from sync_support.settings_check import ConfigError
from target_adobe_campaign.target import RecordsRejectedError, TargetAdobeCampaign

from .helpers import CONTACT_SCHEMA, PROJECT_SCHEMA, ROUTES, Run, record, rows, schema, writes

TASK_ROUTES = {
    **ROUTES,
    "project_task": {
        "resource": "cusProjectTask",
        "key": "cusCrmId",
        "key_filter": {"name": "byCrmId", "param": "cusCrmId_parameter"},
        "links": {"project": {"stream": "new_project", "field": "projectId"}},
    },
}
TASK_SCHEMA = schema(
    "project_task",
    {
        "cusCrmId": {"type": "string"},
        "cusName": {"type": ["string", "null"]},
        "projectId": {"type": ["string", "null"]},
    },
    "cusCrmId",
)
#: Children first: each level arrives before its parent, in one batch per stream.
MESSAGES = [
    TASK_SCHEMA,
    PROJECT_SCHEMA,
    CONTACT_SCHEMA,
    record("project_task", cusCrmId="t1", cusName="Design", projectId="p1"),
    record("project_task", cusCrmId="t2", cusName="Build", projectId="p1"),
    record("new_project", cusCrmId="p1", cusName="Website", contactId="c1"),
    record("contact", externalId="c1", firstName="Ada"),
]


class FakeCampaign:
    """An empty Campaign that records creates and gives each record a PKey."""

    api_url = "https://campaign.invalid/o/campaign/"

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, t.Any]]] = []

    def iter_pages(self, path: str, params: t.Any, **options: t.Any) -> list[dict[str, t.Any]]:
        return [{"content": []}]

    def post(self, path: str, body: dict[str, t.Any]) -> dict[str, t.Any]:
        self.posts.append((path.rsplit("/", 1)[-1], body))
        return {**body, "PKey": f"pk{len(self.posts)}"}


def test_a_grandchild_drains_its_parent_and_grandparent_first() -> None:
    config = {"organization": "o", "client_id": "c", "client_secret": "s"}
    target = TargetAdobeCampaign(config={**config, "resources": TASK_ROUTES})
    fake = FakeCampaign()
    target.__dict__["client"] = fake  # the cached_property's slot: no HTTP at all
    target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in MESSAGES)))
    assert [resource for resource, _ in fake.posts] == [
        "profile",
        "cusProject",
        "cusProjectTask",
        "cusProjectTask",
    ]
    (_, project), (_, t1), (_, t2) = fake.posts[1:]
    assert project["profile"] == {"PKey": "pk1"}
    assert t1["project"] == t2["project"] == {"PKey": "pk2"}


def test_two_levels_against_the_sandbox(campaign, tmp_path, capsys) -> None:
    Run(campaign, tmp_path, resources=TASK_ROUTES).listen(MESSAGES, capsys)
    profile = rows(campaign, "profile", "externalId")["c1"]
    project = rows(campaign, "cusProject", "cusCrmId")["p1"]
    tasks = rows(campaign, "cusProjectTask", "cusCrmId")
    assert project["profile"]["PKey"] == profile["PKey"]
    assert {key: tasks[key]["project"]["PKey"] for key in ("t1", "t2")} == {
        "t1": project["PKey"],
        "t2": project["PKey"],
    }
    campaign.admin.clear_requests()

    Run(campaign, tmp_path, resources=TASK_ROUTES).listen(MESSAGES, capsys)
    assert writes(campaign) == []


def _listen(
    tmp_path, messages: list[dict], resources: dict, *, rejects: bool
) -> tuple[TargetAdobeCampaign, list]:
    config = {"organization": "o", "client_id": "c", "client_secret": "s"}
    target = TargetAdobeCampaign(
        config={**config, "resources": resources, "rejects_file": str(tmp_path / "r.jsonl")}
    )
    fake = FakeCampaign()
    target.__dict__["client"] = fake
    lines = io.StringIO("".join(json.dumps(m) + "\n" for m in messages))
    if rejects:  # the run then fails, after writing everything else
        with pytest.raises(RecordsRejectedError):
            target.listen(lines)
    else:
        target.listen(lines)
    written = (tmp_path / "r.jsonl").read_text().splitlines()
    return target, [json.loads(line) for line in written]


FILTERED_CONTACT_SCHEMA = schema(
    "contact",
    {
        "externalId": {"type": ["string", "null"]},
        "firstName": {"type": ["string", "null"]},
        "_sdc_filtered_out": {"type": ["boolean", "null"]},
    },
    "externalId",
)
#: c2 is filtered out: its project p2 and p2's task follow it. p3's contact is not in Campaign.
ORPHANS = [
    TASK_SCHEMA,
    PROJECT_SCHEMA,
    FILTERED_CONTACT_SCHEMA,
    record("project_task", cusCrmId="t1", projectId="p1"),
    record("project_task", cusCrmId="t3", projectId="p2"),
    record("new_project", cusCrmId="p1", contactId="c1"),
    record("new_project", cusCrmId="p2", contactId="c2"),
    record("new_project", cusCrmId="p3", contactId="c-not-in-campaign"),
    record("contact", externalId="c1", firstName="Ada", _sdc_filtered_out=False),
    record("contact", externalId="c2", firstName="Bob", _sdc_filtered_out=True),
]


def test_children_of_a_parent_filtered_out_in_the_run_are_filtered_out_with_it(tmp_path) -> None:
    target, rejects = _listen(tmp_path, ORPHANS, TASK_ROUTES, rejects=True)
    streams = target.summary.streams()
    assert streams["contact"]["filtered_out"] == 1
    assert (streams["new_project"]["created"], streams["new_project"]["filtered_out"]) == (1, 1)
    assert streams["project_task"]["filtered_out"] == 1  # the grandchild follows
    assert streams["project_task"]["created"] == 1
    # A parent that is simply not in Campaign still rejects its child, naming link and field.
    assert [(r["key"], r["field"]) for r in rejects] == [("p3", "contactId")]
    assert rejects[0]["reason"] == (
        "parent not found: no contact record with key 'c-not-in-campaign' in Campaign "
        "(link 'profile')"
    )


def test_missing_parent_skip_counts_orphans_instead_of_rejecting_them(tmp_path) -> None:
    resources = {**TASK_ROUTES, "new_project": {**ROUTES["new_project"], "missing_parent": "skip"}}
    target, rejects = _listen(tmp_path, ORPHANS, resources, rejects=False)
    assert rejects == []
    assert target.summary.streams()["new_project"]["skipped_no_parent"] == 1


def test_missing_parent_must_be_reject_or_skip() -> None:
    resources = {**TASK_ROUTES, "new_project": {**ROUTES["new_project"], "missing_parent": "drop"}}
    config = {"organization": "o", "client_id": "c", "client_secret": "s", "resources": resources}
    with pytest.raises(ConfigError) as info:
        TargetAdobeCampaign(config=config)
    expected = "in config['resources']['new_project']['missing_parent']"
    assert [e for e in info.value.errors if e.endswith(expected)] == [
        f"'drop' is not one of ['reject', 'skip'] {expected}"
    ]
