"""Bulk creates through the import workflows (`bulk`), against the sandbox's REST API and SFTP.

The sandbox serves the workflows `WKF_IMPORT_PROFILE` / `WKF_IMPORT_CUSPROJECT` (External
signal, Load file, Reconciliation on the key, Update data, rejects) and the SFTP storage area.
"""

from __future__ import annotations

import collections
import logging
import typing as t

import pytest
from campaign_client.imports import ImportWorkflows, WorkflowError
from target_adobe_campaign import bulk
from target_adobe_campaign.bulk import LargeLoadError
from target_adobe_campaign.target import RecordsRejectedError

from .helpers import (
    CONTACT_SCHEMA,
    PROFILES,
    PROJECT_SCHEMA,
    ROUTES,
    Message,
    Run,
    record,
    rows,
    state,
)

if t.TYPE_CHECKING:
    from pathlib import Path

    from crm_sandbox.campaign.inprocess import RunningCampaign

PROFILES_WORKFLOW = "WKF_IMPORT_PROFILE"
PROJECTS_WORKFLOW = "WKF_IMPORT_CUSPROJECT"
BULK_ROUTES = {
    "contact": {**ROUTES["contact"], "import_workflow": PROFILES_WORKFLOW},
    "new_project": {**ROUTES["new_project"], "import_workflow": PROJECTS_WORKFLOW},
}
SFTP_KEYS = ("sftp_host", "sftp_port", "sftp_username", "sftp_password", "sftp_host_key")


@pytest.fixture
def sandbox(campaign: RunningCampaign) -> RunningCampaign:
    """Fresh data; the 10-minute signal rule off (one test turns it on)."""
    campaign.admin.set_config(import_signal_interval=0)
    return campaign


def bulk_run(campaign: RunningCampaign, tmp_path: Path, **config: t.Any) -> Run:
    sftp = {key: campaign.info[key] for key in SFTP_KEYS}
    return Run(campaign, tmp_path, **{"resources": BULK_ROUTES, **sftp, **config})


def contacts(*keys: str, **values: t.Any) -> list[dict[str, t.Any]]:
    return [
        record("contact", externalId=key, firstName=f"F{key}", email=f"{key}@example.com", **values)
        for key in keys
    ]


def keys(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n:04d}" for n in range(count)]


def signals(run: Run) -> list[str]:
    """The workflows the run signalled: a POST on a trigger href, named by the GET before it."""
    signalled, described = [], ""
    for method, url, _ in run.sent:
        if method == "GET" and "/workflow/execution/" in url:
            described = url.split("/workflow/execution/")[1].split("/")[0]
        elif method == "POST" and url.endswith("/trigger"):
            signalled.append(described)
    return signalled


def posts(run: Run, resource: str) -> int:
    return sum(1 for method, url, _ in run.sent if method == "POST" and url.endswith(resource))


def profile_keys(campaign: RunningCampaign) -> collections.Counter[str]:
    """How many Campaign profiles carry each externalId (every page of the REST resource)."""
    session, url = campaign.api_session(), f"{campaign.info['api_url']}/{PROFILES}"
    counts: collections.Counter[str] = collections.Counter()
    params: dict[str, t.Any] | None = {"_lineCount": 5000, "_forcePagination": "true"}
    while url:
        page = session.get(url, params=params, timeout=60).json()
        counts.update(r["externalId"] for r in page["content"] if r.get("externalId"))
        url = (page.get("next") or {}).get("href") if page["content"] else None
        params = None
    return counts


def test_auto_writes_the_file_from_the_threshold_on(
    sandbox: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Threshold 5, batches of 3: 3 POSTs, then the rest of the run in one file."""
    new = keys("a", 10)
    run = bulk_run(sandbox, tmp_path, bulk_threshold=5, batch_size_rows=3)
    states = run.listen([CONTACT_SCHEMA, *contacts(*new), state({"position": 1})], capsys)

    assert posts(run, "/profile") == 3
    assert len(signals(run)) == 1
    counts = profile_keys(sandbox)
    assert all(counts[key] == 1 for key in new)
    assert rows(sandbox, "profile", "externalId")["a0009"]["email"] == "a0009@example.com"
    assert run.summary["streams"]["contact"]["created"] == 10
    assert states == [{"position": 1}]


@pytest.mark.parametrize(("minutes", "imports"), [(1e-9, 2), (0, 1)])
def test_a_long_load_imports_at_a_state_once_lines_waited_bulk_checkpoint_minutes(
    sandbox: RunningCampaign,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    minutes: float,
    imports: int,
) -> None:
    """Batches of 3: a STATE is written at the drain after it, once its lines are imported.

    With a checkpoint due at once, the drain after STATE 1 imports k and m, the one after
    STATE 2 imports n; without checkpoints one import at the end lets only the last out.
    """
    batches = [keys("k", 3), keys("m", 3), keys("n", 3)]
    run = bulk_run(
        sandbox, tmp_path, bulk="always", batch_size_rows=3, bulk_checkpoint_minutes=minutes
    )
    messages: list[Message] = [CONTACT_SCHEMA]
    for number, batch in enumerate(batches, start=1):
        messages += [*contacts(*batch), state({"position": number})]
    states = run.listen(messages, capsys)

    assert len(signals(run)) == imports
    expected = [{"position": n} for n in (1, 2, 3)] if imports == 2 else [{"position": 3}]
    assert states == expected
    counts = profile_keys(sandbox)
    assert all(counts[key] == 1 for batch in batches for key in batch)
    assert run.summary["streams"]["contact"]["created"] == 9


def test_auto_stays_on_rest_below_the_threshold(
    sandbox: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = keys("b", 4)
    run = bulk_run(sandbox, tmp_path, bulk_threshold=5, batch_size_rows=3)
    run.listen([CONTACT_SCHEMA, *contacts(*new)], capsys)
    assert posts(run, "/profile") == 4
    assert signals(run) == []
    assert run.summary["streams"]["contact"]["created"] == 4


def test_never_posts_every_create(
    sandbox: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = bulk_run(sandbox, tmp_path, bulk="never", bulk_threshold=1)
    run.listen([CONTACT_SCHEMA, *contacts(*keys("n", 3))], capsys)
    assert posts(run, "/profile") == 3
    assert signals(run) == []


def test_rejected_lines_go_to_the_rejects_file_with_their_reason(
    sandbox: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = contacts("r1", "r3")
    bad_gender = record("contact", externalId="r2", firstName="F", gender="robot")
    bad_email = record("contact", externalId="r4", email="not-an-email")
    run = bulk_run(sandbox, tmp_path, bulk="always")
    with pytest.raises(RecordsRejectedError, match="2 record"):
        run.listen(
            [CONTACT_SCHEMA, good[0], bad_gender, good[1], bad_email, state({"s": 1})], capsys
        )
    assert posts(run, "/profile") == 0
    assert set(profile_keys(sandbox)) >= {"r1", "r3"}
    assert not {"r2", "r4"} & set(profile_keys(sandbox))
    rejects = {r["key"]: r for r in run.rejects}
    assert set(rejects) == {"r2", "r4"}
    assert "robot" in rejects["r2"]["reason"]
    assert rejects["r2"]["field"] == "gender"
    assert rejects["r2"]["record"]["gender"] == "robot"
    assert rejects["r4"]["reason"]
    totals = run.summary["totals"]
    assert (totals["created"], totals["rejected"]) == (2, 2)
    assert run.states == [{"s": 1}]  # STATE after the import and its rejects


def test_children_are_imported_after_their_parents_and_linked_by_key(
    sandbox: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Profiles and projects both in files: the projects' file after the profiles' import."""
    messages = [
        CONTACT_SCHEMA,
        PROJECT_SCHEMA,
        *contacts("k1", "k2"),
        record("contact", externalId="k3", gender="robot"),  # rejected: its project too
        record("new_project", cusCrmId="q1", cusName="Q1", contactId="k1"),
        record("new_project", cusCrmId="q2", cusName="Q2", contactId="k2"),
        record("new_project", cusCrmId="q3", cusName="Q3", contactId="k3"),
        record("new_project", cusCrmId="q4", cusName="Q4", contactId="nobody"),
    ]
    run = bulk_run(sandbox, tmp_path, bulk="always")
    with pytest.raises(RecordsRejectedError):
        run.listen(messages, capsys)

    assert signals(run) == [PROFILES_WORKFLOW, PROJECTS_WORKFLOW]
    profiles = rows(sandbox, "profile", "externalId")
    projects = rows(sandbox, "cusProject", "cusCrmId")
    assert projects["q1"]["profile"]["PKey"] == profiles["k1"]["PKey"]
    assert projects["q2"]["profile"]["PKey"] == profiles["k2"]["PKey"]
    assert "q3" not in projects
    assert "q4" not in projects
    rejects = {r["key"]: r for r in run.rejects}
    assert set(rejects) == {"k3", "q3", "q4"}
    assert rejects["q3"]["field"] == "contactId"  # the import's missing-parent reason
    assert "k3" in rejects["q3"]["reason"]
    assert rejects["q4"]["reason"].startswith("parent not found")  # never in the file


def test_a_rest_child_of_a_parent_in_a_file_gets_its_pkey(
    sandbox: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Profiles go to a file, the project by REST: the profiles' import runs first."""
    routes = {**BULK_ROUTES, "new_project": ROUTES["new_project"]}
    run = bulk_run(sandbox, tmp_path, bulk="auto", bulk_threshold=2, resources=routes)
    run.listen(
        [
            CONTACT_SCHEMA,
            PROJECT_SCHEMA,
            *contacts("m1", "m2"),
            record("new_project", cusCrmId="w1", cusName="W1", contactId="m2"),
        ],
        capsys,
    )
    assert signals(run) == [PROFILES_WORKFLOW]
    projects = rows(sandbox, "cusProject", "cusCrmId")
    assert projects["w1"]["profile"]["PKey"] == rows(sandbox, "profile", "externalId")["m2"]["PKey"]


def test_a_rerun_writes_nothing(
    sandbox: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = [CONTACT_SCHEMA, *contacts(*keys("u", 6))]
    bulk_run(sandbox, tmp_path, bulk="always").listen(messages, capsys)
    again = bulk_run(sandbox, tmp_path, bulk="always")
    again.listen(messages, capsys)
    assert again.writes_sent() == []
    assert again.summary["streams"]["contact"]["unchanged"] == 6
    assert again.summary["streams"]["contact"]["created"] == 0


def test_a_workflow_in_error_fails_the_run_without_state(
    sandbox: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A column the workflow cannot load: the run is erroneous, nothing is written."""
    schema = {
        **CONTACT_SCHEMA,
        "schema": {
            "type": "object",
            "properties": {
                **CONTACT_SCHEMA["schema"]["properties"],
                "cusNoSuchField": {"type": ["string", "null"]},
            },
        },
    }
    run = bulk_run(sandbox, tmp_path, bulk="always")
    with pytest.raises(WorkflowError, match=r"is erroneous: .*cusNoSuchField"):
        run.listen(
            [schema, *contacts("e1", "e2", cusNoSuchField="x"), state({"position": 1})], capsys
        )
    assert run.states == []
    assert not {"e1", "e2"} & set(profile_keys(sandbox))


class Killed(BaseException):
    """The target process dying while it waits for the import."""


def test_killed_during_the_import_a_rerun_leaves_every_record_once(
    sandbox: RunningCampaign,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first run dies right after its signal (the import goes on in Campaign); the rerun
    sends the records Campaign does not have yet, waits for the run in progress, imports.
    """
    new = keys("z", 700)  # more than one of the workflow's 500-line batches
    messages = [CONTACT_SCHEMA, *contacts(*new), state({"position": 1})]
    signal = ImportWorkflows.signal

    def signal_then_die(self: ImportWorkflows, *args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        signal(self, *args, **kwargs)
        raise Killed

    monkeypatch.setattr(ImportWorkflows, "signal", signal_then_die)
    first = bulk_run(sandbox, tmp_path, bulk="always", batch_size_rows=200)
    with pytest.raises(Killed):
        first.listen(messages, capsys)
    assert first.states == []
    monkeypatch.undo()

    rerun = bulk_run(sandbox, tmp_path, bulk="always", batch_size_rows=200)
    rerun.listen(messages, capsys)
    counts = profile_keys(sandbox)
    assert {key: counts[key] for key in new} == dict.fromkeys(new, 1)
    assert rerun.states == [{"position": 1}]


def test_a_file_sent_twice_creates_nothing_twice(
    sandbox: RunningCampaign,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A killed run whose import finished unseen: the rerun's index sees the records."""
    new = keys("y", 30)
    messages = [CONTACT_SCHEMA, *contacts(*new)]
    wait = ImportWorkflows.wait

    def wait_then_die(self: ImportWorkflows, *args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        wait(self, *args, **kwargs)
        raise Killed

    monkeypatch.setattr(ImportWorkflows, "wait", wait_then_die)
    with pytest.raises(Killed):
        bulk_run(sandbox, tmp_path, bulk="always").listen(messages, capsys)
    monkeypatch.undo()
    rerun = bulk_run(sandbox, tmp_path, bulk="always")
    rerun.listen(messages, capsys)
    assert signals(rerun) == []
    counts = profile_keys(sandbox)
    assert {key: counts[key] for key in new} == dict.fromkeys(new, 1)


def test_the_signal_rule_is_waited_out(
    sandbox: RunningCampaign,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A second file within import_signal_interval: answered text/plain, sent again later."""
    sandbox.admin.set_config(import_signal_interval=2)
    bulk_run(sandbox, tmp_path, bulk="always").listen([CONTACT_SCHEMA, *contacts("s1")], capsys)
    caplog.set_level(logging.INFO)
    run = bulk_run(sandbox, tmp_path, bulk="always")
    run.listen([CONTACT_SCHEMA, *contacts("s2")], capsys)
    assert len(signals(run)) >= 2
    assert "cannot be triggered more often" in caplog.text
    assert profile_keys(sandbox)["s2"] == 1


def test_the_large_load_guard_stops_before_writing(
    sandbox: RunningCampaign,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Campaign holds profiles already: a replay, limit (here) 5 creates."""
    monkeypatch.setattr(bulk, "REPLAY_LIMIT", 5)
    new = keys("g", 8)
    messages = [CONTACT_SCHEMA, *contacts(*new), state({"position": 1})]
    run = bulk_run(sandbox, tmp_path, bulk="always", batch_size_rows=4)
    with pytest.raises(LargeLoadError, match=r"more than 5 profile records .* a replay"):
        run.listen(messages, capsys)
    assert signals(run) == []
    assert run.states == []
    assert not set(new) & set(profile_keys(sandbox))

    confirmed = bulk_run(
        sandbox, tmp_path, bulk="always", batch_size_rows=4, confirm_large_load=True
    )
    confirmed.listen(messages, capsys)
    counts = profile_keys(sandbox)
    assert {key: counts[key] for key in new} == dict.fromkeys(new, 1)


def test_stopped_during_the_import_a_rerun_leaves_every_record_once(
    sandbox: RunningCampaign,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The workflow is stopped mid-run (its batches so far stay): the run fails without
    STATE; once the workflow is started again, the rerun leaves every record once.
    """
    new = keys("x", 3000)
    messages = [CONTACT_SCHEMA, *contacts(*new), state({"position": 1})]
    signal = ImportWorkflows.signal

    def signal_then_stop(self: ImportWorkflows, workflow: str, *args: t.Any) -> t.Any:
        run = signal(self, workflow, *args)
        self.client.request(
            "POST", f"workflow/execution/{workflow}/commands", json={"method": "stop"}
        )
        return run

    monkeypatch.setattr(ImportWorkflows, "signal", signal_then_stop)
    first = bulk_run(sandbox, tmp_path, bulk="always", batch_size_rows=1000)
    with pytest.raises(WorkflowError, match="erroneous: The workflow was stopped"):
        first.listen(messages, capsys)
    monkeypatch.undo()
    assert first.states == []
    present = profile_keys(sandbox)
    assert sum(present[key] for key in new) < len(new)  # stopped midway

    sandbox.api_session().post(
        f"{sandbox.info['api_url']}/workflow/execution/{PROFILES_WORKFLOW}/commands",
        json={"method": "start"},
    ).raise_for_status()
    rerun = bulk_run(sandbox, tmp_path, bulk="always", batch_size_rows=1000)
    rerun.listen(messages, capsys)
    counts = profile_keys(sandbox)
    assert {key: counts[key] for key in new} == dict.fromkeys(new, 1)
    assert rerun.states == [{"position": 1}]


def test_no_state_is_emitted_while_lines_wait_for_their_import(
    sandbox: RunningCampaign,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """STATE 1 follows written batches, but their lines wait in a file: never emitted."""

    def die(self: ImportWorkflows, *args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise Killed

    monkeypatch.setattr(ImportWorkflows, "signal", die)
    messages = [
        CONTACT_SCHEMA,
        *contacts("h1", "h2", "h3"),
        state({"position": 1}),
        *contacts("h4", "h5", "h6"),
        state({"position": 2}),
    ]
    run = bulk_run(sandbox, tmp_path, bulk="always", batch_size_rows=3)
    with pytest.raises(Killed):
        run.listen(messages, capsys)
    assert run.states == []
