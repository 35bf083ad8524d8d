"""The import workflows (`WKF_IMPORT_<RESOURCE>`): SFTP upload, External signal, polling, rejects.

Everything goes through plain HTTP (Adobe's workflow REST API, the REST resources) and a real
SFTP client, as the target will.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
import requests
from crm_sandbox.campaign.inprocess import RunningCampaign, start_in_thread
from crm_sandbox.campaign.seed import SeedSizes
from crm_sandbox.campaign.server import CampaignServeOptions

from .conftest import RST, serve_campaign, url
from .test_sftp import connect
from .v8client import SoapClient

IMPORTS = "d365_loads/imports"
PROFILES = "WKF_IMPORT_PROFILE"
PROJECTS = "WKF_IMPORT_CUSPROJECT"
EXT = "profileAndServicesExt"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(40, projects=8), seed=5)


@pytest.fixture(autouse=True)
def fresh(campaign: RunningCampaign) -> None:
    campaign.restore()
    campaign.admin.set_config(import_signal_interval=0)


@pytest.fixture(scope="module")
def sftp(campaign: RunningCampaign) -> Iterator[paramiko.SFTPClient]:
    client = connect(campaign.info)
    try:
        yield client.open_sftp()
    finally:
        client.close()


def upload(sftp: paramiko.SFTPClient, name: str, text: str | bytes) -> str:
    """Write a file into the imports folder (as `<name>.part`, then renamed); its path."""
    path = f"{IMPORTS}/{name}"
    with sftp.open(f"{path}.part", "w") as handle:
        handle.write(text.encode() if isinstance(text, str) else text)
    sftp.posix_rename(f"{path}.part", path)
    return path


def lines(header: list[str], *rows: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def workflow(campaign: RunningCampaign, api: requests.Session, name: str) -> dict:
    resp = api.get(url(campaign, f"workflow/execution/{name}"))
    assert resp.status_code == 200, resp.text
    body: dict = resp.json()
    return body


def signal(
    campaign: RunningCampaign, api: requests.Session, name: str, body: dict
) -> requests.Response:
    """POST on the trigger href the workflow's GET gives (as Adobe documents)."""
    href = workflow(campaign, api, name)["activities"]["activity"]["signal1"]["trigger"]["href"]
    return api.post(href, json=body)


def wait_run(
    campaign: RunningCampaign, api: requests.Session, name: str, timeout: float = 60
) -> dict:
    """Poll the workflow until its last run is no longer in progress; that run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict = workflow(campaign, api, name)["lastRun"]
        if run["status"] != "inProgress":
            return run
        time.sleep(0.05)
    raise AssertionError(f"{name} still in progress after {timeout} s")


def run_file(campaign: RunningCampaign, api: requests.Session, name: str, path: str) -> dict:
    resp = signal(campaign, api, name, {"source": "API", "parameters": {"fileName": path}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["lastRun"]["status"] == "inProgress"
    return wait_run(campaign, api, name)


def rejects(sftp: paramiko.SFTPClient, path: str) -> list[dict[str, str]]:
    with sftp.open(path) as handle:
        return list(csv.DictReader(io.StringIO(handle.read().decode())))


def by_key(campaign: RunningCampaign, api: requests.Session, resource: str, key: str) -> dict:
    resp = api.get(url(campaign, f"{EXT}/{resource}/{key}"))
    assert resp.status_code == 200, resp.text
    body: dict = resp.json()
    return body


def test_the_workflows_and_their_signal(campaign: RunningCampaign, api: requests.Session) -> None:
    body = workflow(campaign, api, PROFILES)
    assert body["internalName"] == PROFILES
    assert body["state"] == "started"
    assert body["lastRun"] is None
    activities = body["activities"]["activity"]
    assert list(activities) == [
        "signal1",
        "transferFile",
        "loadFile",
        "reconciliation",
        "updateData",
        "extractRejects",
        "end",
    ]
    sig = activities["signal1"]
    assert sig["parameters"] == [{"name": "fileName", "type": "string"}]
    assert sig["trigger"]["href"] == url(
        campaign,
        f"workflow/execution/{body['PKey']}/activities/activity/{sig['PKey']}/trigger",
    )
    assert activities["reconciliation"]["keys"] == ["externalId"]
    assert workflow(campaign, api, body["PKey"])["internalName"] == PROFILES
    assert workflow(campaign, api, PROJECTS)["activities"]["activity"]["reconciliation"][
        "keys"
    ] == ["cusCrmId"]
    assert api.get(url(campaign, "workflow/execution/WKF_IMPORT_SERVICE")).status_code == 404


def test_inserts_updates_and_rejects_with_rest_reasons(
    campaign: RunningCampaign, api: requests.Session, sftp: paramiko.SFTPClient
) -> None:
    existing = next(p for p in campaign.admin.find_rows("profile") if p["externalId"])
    header = [
        "externalId",
        "email",
        "firstName",
        "blackListEmail",
        "gender",
        "birthDate",
        "location.city",
        "cusJobTitle",
    ]
    path = upload(
        sftp,
        "profiles.csv",
        lines(
            header,
            ["imp-1", "ann@example.com", "Ann", "1", "female", "1990-05-01", "Paris", "CTO"],
            ["imp-2", "bob@example.com", 'Bob, "Jr"', "0", "", "", "", ""],
            [existing["externalId"], existing["email"], "Renamed", "", "", "", "", ""],
            ["imp-3", "not-an-email", "Cy", "0", "", "", "", ""],
            ["imp-4", "d@example.com", "Di", "yes", "", "", "", ""],
            ["imp-5", "e@example.com", "Ed", "0", "robot", "", "", ""],
            ["imp-6", "f@example.com"],
            ["", "g@example.com", "Gil", "0", "", "", "", ""],
        ),
    )
    run = run_file(campaign, api, PROFILES, path)
    assert run["status"] == "finished", run
    assert run["counts"] == {
        "read": 8,
        "inserted": 2,
        "updated": 1,
        "unchanged": 0,
        "rejected": 5,
    }
    assert (run["file"], run["source"], run["error"]) == (path, "API", None)
    ann = by_key(campaign, api, "profile", "imp-1")
    assert (ann["email"], ann["blackListEmail"], ann["gender"]) == (
        "ann@example.com",
        True,
        "female",
    )
    assert (ann["birthDate"], ann["location"]["city"], ann["cusJobTitle"]) == (
        "1990-05-01",
        "Paris",
        "CTO",
    )
    assert by_key(campaign, api, "profile", "imp-2")["firstName"] == 'Bob, "Jr"'
    renamed = by_key(campaign, api, "profile", existing["externalId"])
    assert (renamed["PKey"], renamed["firstName"]) == (existing["PKey"], "Renamed")
    assert renamed["lastName"] == existing["lastName"]  # a column left out stays as it was
    rows = rejects(sftp, run["rejectsFile"])
    assert [r["record"] for r in rows] == ["4", "5", "6", "7", "8"]
    assert [r["externalId"] for r in rows] == ["imp-3", "imp-4", "imp-5", "imp-6", ""]
    # the reasons are what a REST POST of the same values answers
    for row, payload in zip(
        rows,
        [
            {"externalId": "imp-3", "email": "not-an-email"},
            {"externalId": "imp-4", "blackListEmail": "yes"},
            {"externalId": "imp-5", "gender": "robot"},
        ],
        strict=False,
    ):
        rest = api.post(url(campaign, f"{EXT}/profile"), json=payload)
        assert rest.status_code == 500
        assert row["reason"] == rest.json()["message"]
        assert row["reason"].startswith(RST)
    assert rows[3]["reason"] == "The line has 2 columns; the header row has 8."
    assert rows[4]["reason"] == "The reconciliation key 'externalId' is empty."
    calls = campaign.admin.engine_calls()["by_resource"]["profile"]
    assert (calls["insert"], calls["update"], calls["total"]) == (2, 1, 4)


def test_links_to_parents_by_key_visible_over_rest_and_soap(
    campaign: RunningCampaign, api: requests.Session, sftp: paramiko.SFTPClient
) -> None:
    people = upload(sftp, "people.csv", lines(["externalId", "email"], ["p-1", "p1@example.com"]))
    assert run_file(campaign, api, PROFILES, people)["status"] == "finished"
    parent = by_key(campaign, api, "profile", "p-1")
    path = upload(
        sftp,
        "projects.csv",
        lines(
            ["cusCrmId", "cusName", "cusStage", "cusBudget", "profile.externalId"],
            ["prj-1", "Roof", "running", "1200.5", "p-1"],
            ["prj-2", "Porch", "", "", ""],
            ["prj-3", "Shed", "", "", "nobody"],
            ["prj-4", "", "", "", "p-1"],
            ["prj-5", "Wall", "", "lots", "p-1"],
        ),
    )
    run = run_file(campaign, api, PROJECTS, path)
    assert (run["counts"]["inserted"], run["counts"]["rejected"]) == (2, 3), run
    project = by_key(campaign, api, "cusProject", "prj-1")
    assert project["profile"]["PKey"] == parent["PKey"]
    assert (project["cusStage"], project["cusBudget"]) == ("running", 1200.5)
    assert by_key(campaign, api, "cusProject", "prj-2")["profile"] == {}
    reasons = [r["reason"] for r in rejects(sftp, run["rejectsFile"])]
    assert reasons[0] == (f"{RST} Unable to find document with path 'profile' from key 'nobody'")
    mandatory = api.post(url(campaign, f"{EXT}/cusProject"), json={"cusCrmId": "prj-4"})
    assert reasons[1] == mandatory.json()["message"]
    assert "a number is expected" in reasons[2]
    soap = SoapClient(campaign, bearer=campaign.token())
    found = soap.query(
        "<queryDef schema='cus:project' operation='get'><select><node expr='@cusName'/>"
        "</select><where><condition expr=\"@cusCrmId = 'prj-1'\"/></where></queryDef>"
    )
    assert found.get("cusName") == "Roof"


def test_a_rerun_of_the_same_file_is_an_upsert(
    campaign: RunningCampaign, api: requests.Session, sftp: paramiko.SFTPClient
) -> None:
    path = upload(
        sftp,
        "again.csv",
        lines(["externalId", "lastName"], ["r-1", "One"], ["r-2", "Two"], ["r-1", "Uno"]),
    )
    before = campaign.admin.state()["counts"]["profile"]
    first = run_file(campaign, api, PROFILES, path)
    assert first["counts"] == {
        "read": 3,
        "inserted": 2,
        "updated": 1,  # the third line updates what the first inserted
        "unchanged": 0,
        "rejected": 0,
    }
    second = run_file(campaign, api, PROFILES, path)
    assert second["id"] == first["id"] + 1
    assert second["counts"] == {  # r-1 goes "Uno" → "One" → "Uno"; r-2 is as the file says
        "read": 3,
        "inserted": 0,
        "updated": 2,
        "unchanged": 1,
        "rejected": 0,
    }
    assert campaign.admin.state()["counts"]["profile"] == before + 2
    assert by_key(campaign, api, "profile", "r-1")["lastName"] == "Uno"
    found = campaign.admin.find_rows("profile", externalId="r-1")
    assert len(found) == 1


def test_missing_or_malformed_files_fail_the_run(
    campaign: RunningCampaign, api: requests.Session, sftp: paramiko.SFTPClient
) -> None:
    before = campaign.admin.state()["counts"]["profile"]
    missing = run_file(campaign, api, PROFILES, f"{IMPORTS}/nothing.csv")
    assert missing["status"] == "erroneous"
    assert missing["error"] == (
        f"The file '{IMPORTS}/nothing.csv' does not exist in the SFTP storage area."
    )
    assert missing["rejectsFile"] is None
    assert missing["ended"]
    outside = run_file(campaign, api, PROFILES, "../campaign.sqlite3")
    assert "does not exist" in outside["error"]
    cases = {
        "unknown.csv": (lines(["externalId", "shoeSize"], ["u-1", "44"]), "shoeSize"),
        "readonly.csv": (lines(["externalId", "created"], ["u-1", "x"]), "read-only"),
        "nokey.csv": (lines(["email"], ["a@example.com"]), "reconciliation key"),
        "empty.csv": ("", "no header row"),
        "latin1.csv": ("externalId,lastName\nu-1,Müller\n".encode("latin-1"), "not UTF-8"),
        "quotes.csv": ('externalId,lastName\nu-1,"open\n', "cannot be read"),
    }
    for name, (text, expected) in cases.items():
        run = run_file(campaign, api, PROFILES, upload(sftp, name, text))
        assert run["status"] == "erroneous", (name, run)
        assert expected in run["error"], (name, run["error"])
        assert run["counts"]["inserted"] == 0
    campaign.admin.set_config(import_max_lines=2)
    big = upload(sftp, "big.csv", lines(["externalId"], ["b-1"], ["b-2"], ["b-3"]))
    run = run_file(campaign, api, PROFILES, big)
    assert "more than 2 lines" in run["error"]
    campaign.admin.set_config(import_max_lines=100, import_max_bytes=10)
    assert "at most 10" in run_file(campaign, api, PROFILES, big)["error"]
    assert campaign.admin.state()["counts"]["profile"] == before


def test_signal_errors(
    campaign: RunningCampaign, api: requests.Session, sftp: paramiko.SFTPClient
) -> None:
    undeclared = signal(
        campaign, api, PROFILES, {"source": "API", "parameters": {"contentURL": "x"}}
    )
    assert undeclared.status_code == 500
    assert undeclared.json()["message"].split("\n") == [
        RST,
        "'contentURL' parameter isn't defined in signal activity.",
        "XTK-170006 Unable to parse expression 'HandleTrigger(@name, $(source), $({parameters}))'.",
        "RST-360000 Error while assessing 'HandleTrigger(@name, $(source), $({parameters}))' "
        "expression ('xtk:workflow:execution/activities/signal/trigger' resource)",
    ]
    assert signal(campaign, api, PROFILES, {"parameters": {"fileName": "x"}}).status_code == 400
    typed = signal(campaign, api, PROFILES, {"source": "API", "parameters": {"fileName": 3}})
    assert typed.status_code == 500
    big = signal(campaign, api, PROFILES, {"source": "API", "pad": "x" * 70_000})
    assert big.status_code == 400
    commands = url(campaign, f"workflow/execution/{PROFILES}/commands")
    assert api.post(commands, json={"method": "pause"}).json()["state"] == "paused"
    paused = signal(campaign, api, PROFILES, {"source": "API", "parameters": {"fileName": "x"}})
    assert paused.status_code == 400
    assert "start it before" in paused.json()["message"]
    assert api.post(commands, json={"method": "stop"}).json()["state"] == "stopped"
    assert api.post(commands, json={"method": "start"}).json()["state"] == "started"
    base = url(campaign, f"workflow/execution/{PROFILES}/activities/activity")
    assert api.post(f"{base}/nope/trigger", json={"source": "API"}).status_code == 404
    assert api.get(f"{base}/signal1/trigger").status_code == 405
    assert workflow(campaign, api, PROFILES)["lastRun"] is None


def test_signals_at_most_every_interval(
    campaign: RunningCampaign, api: requests.Session, sftp: paramiko.SFTPClient
) -> None:
    campaign.admin.set_config(import_signal_interval=600)
    path = upload(sftp, "interval.csv", lines(["externalId"], ["i-1"]))
    first = run_file(campaign, api, PROFILES, path)
    early = signal(campaign, api, PROFILES, {"source": "API", "parameters": {"fileName": path}})
    assert early.status_code == 200
    assert early.headers["content-type"].startswith("text/plain")
    assert "more often than every 600 seconds" in early.text
    assert workflow(campaign, api, PROFILES)["lastRun"]["id"] == first["id"]
    campaign.admin.shift_clock(600)
    assert run_file(campaign, api, PROFILES, path)["id"] == first["id"] + 1


def test_sftp_writes_only_in_the_imports_folder(
    campaign: RunningCampaign, sftp: paramiko.SFTPClient
) -> None:
    sftp.mkdir(f"{IMPORTS}/sub")
    upload(sftp, "sub/x.csv", "externalId\n")
    sftp.remove(f"{IMPORTS}/sub/x.csv")
    sftp.rmdir(f"{IMPORTS}/sub")
    for attempt in (
        lambda: sftp.open("d365_loads/rejects/x.csv", "w"),
        lambda: sftp.rmdir(IMPORTS),
        lambda: sftp.rename(f"{IMPORTS}/../exports", f"{IMPORTS}/exports"),
        lambda: sftp.open(f"{IMPORTS}/../x.csv", "w"),
    ):
        with pytest.raises(PermissionError):
            attempt()


def test_stop_cancels_a_run(
    campaign: RunningCampaign, api: requests.Session, sftp: paramiko.SFTPClient
) -> None:
    rows = [[f"s-{i}", f"Name {i}"] for i in range(20_000)]
    path = upload(sftp, "stop.csv", lines(["externalId", "lastName"], *rows))
    resp = signal(campaign, api, PROFILES, {"source": "API", "parameters": {"fileName": path}})
    assert resp.status_code == 200
    commands = url(campaign, f"workflow/execution/{PROFILES}/commands")
    assert api.post(commands, json={"method": "stop"}).json()["state"] == "stopped"
    run = wait_run(campaign, api, PROFILES)
    assert run["status"] == "erroneous"
    assert run["error"] == "The workflow was stopped during the run."
    assert run["counts"]["inserted"] < 20_000
    assert run["rejectsFile"] is None


def test_fifty_thousand_lines(
    campaign: RunningCampaign, api: requests.Session, sftp: paramiko.SFTPClient
) -> None:
    header = ["externalId", "email", "firstName", "lastName", "blackListEmail", "location.city"]
    rows = [
        [f"big-{i}", f"user{i}@example.com", "First", f"Last {i}", str(i % 2), "Lyon"]
        for i in range(50_000)
    ]
    rows[100][1] = "broken"  # one reject
    path = upload(sftp, "fifty.csv", lines(header, *rows))
    before = campaign.admin.state()["counts"]["profile"]
    started = time.perf_counter()
    resp = signal(campaign, api, PROFILES, {"source": "API", "parameters": {"fileName": path}})
    assert resp.status_code == 200
    busy = signal(campaign, api, PROFILES, {"source": "API", "parameters": {"fileName": path}})
    assert busy.status_code == 409
    assert "still processing run 1" in busy.json()["message"]
    polls = 0
    while (run := workflow(campaign, api, PROFILES)["lastRun"])["status"] == "inProgress":
        polls += 1
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    assert run["status"] == "finished", run
    assert run["counts"] == {
        "read": 50_000,
        "inserted": 49_999,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    assert campaign.admin.state()["counts"]["profile"] == before + 49_999
    assert [r["record"] for r in rejects(sftp, run["rejectsFile"])] == ["101"]
    print(f"\n50,000 lines imported in {elapsed:.2f} s ({50_000 / elapsed:,.0f} lines/s)")


def test_a_run_cut_by_a_restart_is_erroneous(tmp_path: Path) -> None:
    options = CampaignServeOptions(
        tmp_path,
        ims_port=0,
        gateway_port=0,
        events_port=0,
        sftp_port=0,
        sizes=SeedSizes(5, projects=0),
    )
    rows = [[f"k-{i}"] for i in range(20_000)]
    with start_in_thread(options) as first:
        client = connect(first.info)
        try:
            path = upload(client.open_sftp(), "cut.csv", lines(["externalId"], *rows))
        finally:
            client.close()
        api = first.api_session()
        body = {"source": "API", "parameters": {"fileName": path}}
        assert signal(first, api, PROFILES, body).status_code == 200
    with start_in_thread(options) as second:
        run = workflow(second, second.api_session(), PROFILES)["lastRun"]
    assert run["status"] == "erroneous"
    assert run["error"] == "The Campaign instance stopped during the run."
    assert run["ended"]
