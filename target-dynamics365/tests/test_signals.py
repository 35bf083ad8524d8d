"""SIGTERM and SIGINT during a batch: exit non-zero, never a STATE ahead of the written records.

The signal is sent to the target's own process from inside a Dataverse call of a batch (the
read of its contacts or the UpdateMultiple write), as an orchestrator stopping the task would.
singer-sdk's own handler drained the interrupted sink again with an empty batch and emitted the
latest STATE with exit 0: the batch's records were checkpointed but never written.
"""

from __future__ import annotations

import io
import json
import os
import signal
import typing as t
import uuid

import pytest
from dataverse_client.client import DataverseClient
from target_dynamics365.target import TargetDynamics365

from .helpers import EVENT_SCHEMA, PROFILE_SCHEMA, client, config, contact, contacts

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@pytest.fixture(autouse=True)
def signal_handlers() -> Iterator[None]:
    """Put back pytest's handlers: the target installs its own in this (main) thread."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def messages(people: list[str]) -> tuple[str, list[dict[str, t.Any]]]:
    """p1 S1 p2 | p3 S2 p4 with batches of 2: two batches, S1 covers the first one only."""
    states = [{"bookmarks": {"profiles": {"position": n}}} for n in (1, 3)]
    lines = [
        {"type": "SCHEMA", "stream": "profiles", "schema": PROFILE_SCHEMA, "key_properties": []},
        {"type": "RECORD", "stream": "profiles", "record": opt_out(people[0])},
        {"type": "STATE", "value": states[0]},
        {"type": "RECORD", "stream": "profiles", "record": opt_out(people[1])},
        {"type": "RECORD", "stream": "profiles", "record": opt_out(people[2])},
        {"type": "STATE", "value": states[1]},
        {"type": "RECORD", "stream": "profiles", "record": opt_out(people[3])},
    ]
    return "".join(json.dumps(line) + "\n" for line in lines), states


def opt_out(contact_id: str) -> dict[str, t.Any]:
    return {"externalId": contact_id, "blackListEmail": True}


def signalling(method: Callable[..., t.Any], signum: int, on_call: int) -> Callable[..., t.Any]:
    """Wrap a client method: its `on_call`-th call sends `signum` to this process first."""
    calls = 0

    def wrapper(self: DataverseClient, *args: t.Any, **kwargs: t.Any) -> t.Any:
        nonlocal calls
        calls += 1
        if calls == on_call:
            os.kill(os.getpid(), signum)
        return method(self, *args, **kwargs)

    return wrapper


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("call", ["iter_values", "post"])
@pytest.mark.parametrize("batch", [1, 2])
def test_a_signal_inside_a_batch_stops_without_checkpointing_it(
    admin, tmp_path, monkeypatch, signum: int, call: str, batch: int
) -> None:
    people = [row["contactid"] for row in contacts(4, donotemail=False, donotbulkemail=False)]
    singer, states = messages(people)
    original = getattr(DataverseClient, call)
    monkeypatch.setattr(DataverseClient, call, signalling(original, signum, on_call=batch))
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)

    target = TargetDynamics365(config=config(tmp_path, batch_size_rows=2))
    with pytest.raises(SystemExit) as stopped:
        target.listen(file_input=io.StringIO(singer))
    monkeypatch.undo()

    assert stopped.value.code == 128 + signum
    emitted = [json.loads(line) for line in stdout.getvalue().splitlines()]
    # Only the STATE of the batch written before the signal, never the interrupted one's.
    assert emitted == states[: batch - 1]
    written = [contact(person)["donotemail"] for person in people]
    assert written[: 2 * (batch - 1)] == [True] * 2 * (batch - 1)
    assert written[2 * batch :] == [False] * (4 - 2 * batch)


def event_messages(people: list[str]) -> tuple[str, list[str], list[dict[str, t.Any]]]:
    """e1 S1 e2 | e3 S2 e4 with batches of 2: S1 covers e1, S2 covers e1…e3."""
    run = uuid.uuid4().hex[:8]
    ids = [f"sig-{run}-{n}" for n in range(4)]
    states = [{"bookmarks": {"email_events": {"position": n}}} for n in (1, 3)]

    def record(n: int) -> dict[str, t.Any]:
        event = {
            "event_id": ids[n],
            "event_type": "send",
            "event_time": "2025-03-01T10:00:00Z",
            "profile_external_id": people[n % len(people)],
        }
        return {"type": "RECORD", "stream": "email_events", "record": event}

    schema = {"type": "SCHEMA", "stream": "email_events", "schema": EVENT_SCHEMA}
    lines = [
        {**schema, "key_properties": ["event_id"]},
        record(0),
        {"type": "STATE", "value": states[0]},
        record(1),
        record(2),
        {"type": "STATE", "value": states[1]},
        record(3),
    ]
    return "".join(json.dumps(line) + "\n" for line in lines), ids, states


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("batch", [1, 2])
def test_a_signal_while_an_event_batch_is_in_flight_emits_no_state_ahead_of_it(
    admin, tmp_path, monkeypatch, signum: int, batch: int
) -> None:
    """The events sink returns with its batch in flight: the signal comes during that write.

    The main thread may have read on meanwhile (even sent the next batch); whatever STATE
    came out covers only events that were written.
    """
    people = [row["contactid"] for row in contacts(2)]
    singer, ids, states = event_messages(people)
    monkeypatch.setattr(DataverseClient, "post", signalling(DataverseClient.post, signum, batch))
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)

    target = TargetDynamics365(config=config(tmp_path, batch_size_rows=2))
    with pytest.raises(SystemExit) as stopped:
        target.listen(file_input=io.StringIO(singer))
    target.pool.close()  # the writes in flight end
    monkeypatch.undo()

    assert stopped.value.code == 128 + signum
    emitted = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert emitted == states[: len(emitted)]  # in order, each once
    written = {
        row["acs_eventid"] for row in client().iter_values("acs_emailsends?$select=acs_eventid")
    }
    covered = {1: ids[:1], 3: ids[:3]}
    for state in emitted:  # every STATE out covers written events only
        assert set(covered[state["bookmarks"]["email_events"]["position"]]) <= written
