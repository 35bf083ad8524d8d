"""Checkpoints: a STATE after every written batch, only for written records; signals stop cleanly.

Each STATE is checked against Campaign at the moment the target prints it. Signals are sent to
the target's own process from inside a Campaign call of a batch, as an orchestrator stopping
the task would: singer-sdk's own handler drained the interrupted sink again with an empty batch
and printed the latest STATE (exit 0), checkpointing records that were never written.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import typing as t
from dataclasses import dataclass, field

import pytest
from campaign_client.client import CampaignClient

from .helpers import CONTACT_SCHEMA, PROJECT_SCHEMA, ROUTES, connection, record, rows, state

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from crm_sandbox.campaign.inprocess import RunningCampaign

from target_adobe_campaign.target import TargetAdobeCampaign


@dataclass
class Emitted:
    """A STATE the target printed, and what Campaign held and the target had read by then."""

    value: dict[str, t.Any]
    lines_read: int
    profiles: set[str]
    projects: set[str]


@dataclass
class Recorder:
    """Feeds the messages line by line and checks Campaign whenever a STATE is printed."""

    campaign: RunningCampaign
    messages: list[dict[str, t.Any]]
    lines_read: int = 0
    emitted: list[Emitted] = field(default_factory=list)

    def __iter__(self) -> Iterator[str]:
        for message in self.messages:
            self.lines_read += 1
            yield json.dumps(message) + "\n"

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.emitted.append(
                    Emitted(
                        json.loads(line),
                        self.lines_read,
                        set(rows(self.campaign, "profile", "externalId")),
                        set(rows(self.campaign, "cusProject", "cusCrmId")),
                    )
                )
        return len(text)

    def flush(self) -> None:
        pass


def target(campaign: RunningCampaign, tmp_path: Path, **extra: t.Any) -> TargetAdobeCampaign:
    return TargetAdobeCampaign(
        config={
            **connection(campaign),
            "resources": ROUTES,
            "rejects_file": str(tmp_path / "rejects.jsonl"),
            "batch_size_rows": 2,
            **extra,
        }
    )


def contact(key: str) -> dict[str, t.Any]:
    return record("contact", externalId=key, firstName=f"F{key}")


def project(key: str, contact_id: str) -> dict[str, t.Any]:
    return record("new_project", cusCrmId=key, cusName=f"N{key}", contactId=contact_id)


def test_each_written_batch_emits_the_state_it_covers(
    campaign: RunningCampaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """c1 p1 S1 c2 | c3 S2 p2 p3 | S3: batches of 2, a child batch draining its parent.

    c2 fills the contacts: the checkpoint writes p1 (pending) and prints S1. p3 fills the
    projects: their batch first writes c3 (parent, drained from inside it, which must not
    checkpoint while p2 p3 wait), then prints S2. S3 follows nothing: printed at the end.
    """
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
    recorder = Recorder(campaign, messages)
    monkeypatch.setattr("sys.stdout", recorder)
    target(campaign, tmp_path).listen(t.cast("t.IO[str]", recorder))
    monkeypatch.undo()

    assert [e.value for e in recorder.emitted] == [{"position": n} for n in (1, 2, 3)]
    first, second, last = recorder.emitted
    assert first.lines_read == 6  # printed once c2 filled the batch, before more input
    assert {"c1", "c2"} <= first.profiles
    assert "p1" in first.projects
    assert second.lines_read == 10
    assert {"c3"} <= second.profiles
    assert {"p2", "p3"} <= second.projects
    assert last.lines_read == len(messages)


def test_a_dry_run_emits_no_state(
    campaign: RunningCampaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = [CONTACT_SCHEMA, contact("c1"), state({"position": 1}), contact("c2")]
    recorder = Recorder(campaign, messages)
    monkeypatch.setattr("sys.stdout", recorder)
    target(campaign, tmp_path, dry_run=True).listen(t.cast("t.IO[str]", recorder))
    monkeypatch.undo()
    assert recorder.emitted == []


@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """Put back pytest's handlers: the target installs its own in this (main) thread."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def signalling(method: Callable[..., t.Any], signum: int, on_call: int) -> Callable[..., t.Any]:
    """Wrap a client method: its `on_call`-th call sends `signum` to this process first.

    The calls of a batch run on several pool threads: `next` on a counter numbers them
    atomically (`calls += 1` could give two threads the same number, or skip one).
    """
    calls = itertools.count(1)

    def wrapper(self: CampaignClient, *args: t.Any, **kwargs: t.Any) -> t.Any:
        if next(calls) == on_call:
            os.kill(os.getpid(), signum)
        return method(self, *args, **kwargs)

    return wrapper


@pytest.mark.usefixtures("signal_handlers")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize(("call", "on_call"), [("post", 1), ("post", 3), ("iter_pages", 1)])
def test_a_signal_inside_a_batch_stops_without_checkpointing_it(
    campaign: RunningCampaign,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    signum: int,
    call: str,
    on_call: int,
) -> None:
    """c1 S1 c2 | c3 S2 c4: post 1 is in the first batch (a pool thread), post 3 in the second;
    the first iter_pages reads the key index (main thread). Only a written batch's STATE comes out.
    """
    messages = [
        CONTACT_SCHEMA,
        contact("c1"),
        state({"position": 1}),
        contact("c2"),
        contact("c3"),
        state({"position": 2}),
        contact("c4"),
    ]
    original = getattr(CampaignClient, call)
    monkeypatch.setattr(CampaignClient, call, signalling(original, signum, on_call))
    recorder = Recorder(campaign, messages)
    monkeypatch.setattr("sys.stdout", recorder)

    with pytest.raises(SystemExit) as stopped:
        target(campaign, tmp_path).listen(t.cast("t.IO[str]", recorder))
    monkeypatch.undo()

    assert stopped.value.code == 128 + signum
    finished_batches = 1 if on_call == 3 else 0
    assert [e.value for e in recorder.emitted] == [{"position": 1}][:finished_batches]
    for emitted in recorder.emitted:
        assert {"c1", "c2"} <= emitted.profiles
