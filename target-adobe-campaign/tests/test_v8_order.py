"""backend v8: the write order holds as on Standard (parents first, held-back records, STATE
only after written batches), and a session that expires mid-run is logged on again."""

from __future__ import annotations

import typing as t

import pytest
from target_adobe_campaign.target import TargetAdobeCampaign

from .helpers import CONTACT_SCHEMA, PROJECT_SCHEMA, ROUTES, rows, state
from .test_checkpoints import Recorder, contact, project
from .test_enumerations_sandbox import (  # noqa: F401  # kept_enumerations: a fixture
    CONTACT,
    GENDER,
    GENDER_FIELD,
    GENDER_OPTIONS,
    OPTION_SETS,
    kept_enumerations,
    names,
)
from .test_enumerations_sandbox import contact as choice_contact
from .v8 import V8Run, soap_calls, v8_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from crm_sandbox.campaign.inprocess import RunningCampaign


def test_each_written_batch_emits_the_state_it_covers(
    campaign: RunningCampaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As test_checkpoints on Standard: c1 p1 S1 c2 | c3 S2 p2 p3 | S3, batches of 2."""
    messages = [
        CONTACT_SCHEMA,
        PROJECT_SCHEMA,
        contact("c1"),
        project("p1", "c1"),
        state({"position": 1}),
        contact("c2"),
        contact("c3"),
        state({"position": 2}),
        project("p2", "c3"),
        project("p3", "c3"),
        state({"position": 3}),
    ]
    target = TargetAdobeCampaign(
        config={
            **v8_config(campaign),
            "resources": ROUTES,
            "rejects_file": str(tmp_path / "rejects.jsonl"),
            "batch_size_rows": 2,
        }
    )
    recorder = Recorder(campaign, messages)
    monkeypatch.setattr("sys.stdout", recorder)
    target.listen(t.cast("t.IO[str]", recorder))
    monkeypatch.undo()

    assert [e.value for e in recorder.emitted] == [{"position": n} for n in (1, 2, 3)]
    first, second, last = recorder.emitted
    assert first.lines_read == 6
    assert {"c1", "c2"} <= first.profiles
    assert "p1" in first.projects
    assert "c3" not in first.profiles
    assert second.lines_read == 10
    assert "c3" in second.profiles
    assert {"p2", "p3"} <= second.projects
    assert last.lines_read == len(messages)


def test_contacts_wait_for_their_option_set_and_state_waits_with_them(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = [
        CONTACT,
        choice_contact(1, 1),
        choice_contact(2, 2),
        choice_contact(3, 3),  # "Diverse": not in Campaign yet
        choice_contact(4, None),
        state({"bookmarks": {"contact": "t1"}}),
        OPTION_SETS,
        *GENDER_OPTIONS,
        state({"bookmarks": {"contact": "t1", "option_sets": "done"}}),
    ]
    run = V8Run(
        campaign,
        tmp_path,
        enumerations={"contact": {"gender": GENDER_FIELD}},
        batch_size_rows=2,
        resources={"contact": ROUTES["contact"]},
    )
    states = run.listen(messages, capsys)

    assert ("diverse", "3") in names(campaign, GENDER)
    profiles = rows(campaign, "profile", "externalId")
    assert {k: profiles[f"c-{k}"]["gender"] for k in (1, 2, 3, 4)} == {
        1: "male",
        2: "female",
        3: "diverse",
        4: "unknown",
    }
    assert states == [{"bookmarks": {"contact": "t1", "option_sets": "done"}}]  # once, at the end
    assert run.written[("recipient", "c-3")] == 1


def test_an_expired_session_is_logged_on_again_and_nothing_is_written_twice(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = V8Run(campaign, tmp_path, batch_size_rows=2)
    run.listen(
        [
            CONTACT_SCHEMA,
            contact("e1"),
            contact("e2"),  # a full batch: written
            campaign.admin.expire_sessions,
            contact("e3"),
            contact("e4"),
        ],
        capsys,
    )

    assert {"e1", "e2", "e3", "e4"} <= set(rows(campaign, "profile", "externalId"))
    assert soap_calls(campaign)["xtk:session#Logon"] == 2
    assert set(run.written.values()) == {1}
    assert run.summary["streams"]["contact"]["created"] == 4
