"""Two levels of links (contact ← cusProject ← cusProjectTask): parents written first."""

from __future__ import annotations

import io
import json
import typing as t

from target_adobe_campaign.target import TargetAdobeCampaign

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

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, t.Any]]] = []

    def iter_records(self, path: str, line_count: int) -> list[dict[str, t.Any]]:
        return []

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
