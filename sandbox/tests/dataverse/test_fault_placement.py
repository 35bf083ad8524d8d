"""Fault placement on the Web API: "before" (never executed) and "after" (committed, then the
response is delayed, replaced or lost), and clients that give up during an injected delay."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import requests


def u(sandbox, path):
    return sandbox.dataverse.api_url + path


@pytest.fixture(autouse=True)
def _no_faults(sandbox) -> Iterator[None]:
    yield
    sandbox.admin.clear_faults()


def contacts_named(sandbox, api, lastname: str) -> list[dict]:
    resp = api.get(u(sandbox, f"contacts?$select=lastname&$filter=lastname eq '{lastname}'"))
    return resp.json()["value"]


def logged_post(sandbox, wait: float = 3.0) -> dict:
    """The last POST in the request log (waiting for one still in flight)."""
    deadline = time.monotonic() + wait
    while True:
        rows = [r for r in sandbox.admin.requests() if r["method"] == "POST"]
        if rows or time.monotonic() > deadline:
            assert rows, "no POST in the request log"
            return rows[-1]
        time.sleep(0.05)


def log_text(sandbox) -> str:
    return (sandbox.state_dir / "sandbox.log").read_text(errors="replace")


def test_after_503_post_is_committed_and_the_client_sees_503(sandbox, api):
    name = f"After-{uuid.uuid4().hex[:8]}"
    sandbox.admin.inject_503(method="POST", path="^contacts$", when="after")
    resp = api.post(u(sandbox, "contacts"), json={"lastname": name})
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "0x80040216"
    assert len(contacts_named(sandbox, api, name)) == 1


def test_before_503_post_is_not_committed(sandbox, api):
    name = f"Before-{uuid.uuid4().hex[:8]}"
    sandbox.admin.inject_503(method="POST", path="^contacts$")
    assert api.post(u(sandbox, "contacts"), json={"lastname": name}).status_code == 503
    assert contacts_named(sandbox, api, name) == []


def test_upsert_multiple_succeeds_but_its_response_is_lost(sandbox, api):
    code = f"LOST-{uuid.uuid4().hex[:8]}"
    sandbox.admin.drop_connection(path="UpsertMultiple$")
    sandbox.admin.clear_requests()
    before = log_text(sandbox)
    target = {
        "@odata.type": "Microsoft.Dynamics.CRM.new_project",
        "@odata.id": f"new_projects(new_code='{code}')",
        "new_name": "Lost answer",
    }
    with pytest.raises(requests.ConnectionError):
        api.post(
            u(sandbox, "new_projects/Microsoft.Dynamics.CRM.UpsertMultiple"),
            json={"Targets": [target]},
            timeout=10,
        )
    row = api.get(u(sandbox, f"new_projects(new_code='{code}')?$select=new_name"))
    assert row.status_code == 200
    assert row.json()["new_name"] == "Lost answer"
    assert logged_post(sandbox)["status"] == 444
    assert log_text(sandbox)[len(before) :] == ""


def test_client_disconnect_during_before_latency_is_logged_without_traceback(sandbox, api):
    name = f"Gone-{uuid.uuid4().hex[:8]}"
    sandbox.admin.add_latency(1500, count=1, method="POST", path="^contacts$")
    sandbox.admin.clear_requests()
    before = log_text(sandbox)
    with pytest.raises(requests.ReadTimeout):
        api.post(u(sandbox, "contacts"), json={"lastname": name}, timeout=1)
    entry = logged_post(sandbox)
    assert entry["status"] == 499
    assert entry["duration_ms"] >= 1500
    assert contacts_named(sandbox, api, name) == []
    new_output = log_text(sandbox)[len(before) :]
    assert "Traceback" not in new_output
    assert new_output == ""


def test_after_latency_commits_and_a_client_timeout_loses_the_response(sandbox, api):
    name = f"Late-{uuid.uuid4().hex[:8]}"
    sandbox.admin.add_latency(1500, count=1, method="POST", path="^contacts$", when="after")
    sandbox.admin.clear_requests()
    with pytest.raises(requests.ReadTimeout):
        api.post(u(sandbox, "contacts"), json={"lastname": name}, timeout=0.5)
    assert len(contacts_named(sandbox, api, name)) == 1
    assert logged_post(sandbox)["status"] == 499
