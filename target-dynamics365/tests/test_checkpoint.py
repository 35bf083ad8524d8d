"""Checkpoints: a STATE on stdout after every written batch, never ahead of the written records.

`DataverseSink.process_batch` drains a full batch, then `TargetDynamics365.drained` writes what
the other sinks hold and gives the latest STATE received, which arrived before the record that
filled the batch. The email events sink returns with its batch still in flight (the next batch
is read meanwhile), so `TargetDynamics365.checkpoints` holds the STATE until those writes are
done: it comes out while the next batch is read, at the latest when that batch is drained. Each
STATE is checked against Dataverse at the moment it is emitted.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import typing as t
import uuid
from dataclasses import dataclass, field

import pytest
from dataverse_client.client import DataverseClient, ForbiddenError
from dataverse_client.pool import ClientPool
from target_dynamics365.checkpoints import Checkpoints
from target_dynamics365.target import TargetDynamics365

from .conftest import CONNECTION, SANDBOX
from .helpers import EVENT_SCHEMA, PROFILE_SCHEMA, client, config, contacts, writes

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from crm_sandbox.dataverse.admin_client import DataverseAdmin

BATCH = 5
EVENT_SETS = ("acs_emailsends", "acs_emailopens", "acs_emailclicks", "acs_emailbounces")
EVENT_TYPES = ("send", "open", "click", "bounce")
UPDATE_MULTIPLE = "contacts/Microsoft.Dynamics.CRM.UpdateMultiple"


@dataclass
class Script:
    """Singer messages, and what each STATE covers (the records read before it)."""

    lines: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # event ids, in input order
    profiles: list[str] = field(default_factory=list)  # contact ids, in input order
    covers: dict[int, tuple[set[str], set[str]]] = field(default_factory=dict)  # by position

    def add(self, message: dict[str, t.Any]) -> None:
        self.lines.append(json.dumps(message) + "\n")

    def schemas(self) -> None:
        self.add(
            {
                "type": "SCHEMA",
                "stream": "profiles",
                "schema": PROFILE_SCHEMA,
                "key_properties": ["externalId"],
            }
        )
        self.add(
            {
                "type": "SCHEMA",
                "stream": "email_events",
                "schema": EVENT_SCHEMA,
                "key_properties": ["event_id"],
            }
        )

    def event(self, contact_id: str) -> None:
        number = len(self.events)
        event_id = f"chk-{uuid.uuid4().hex[:12]}-{number}"
        self.events.append(event_id)
        self.add(
            {
                "type": "RECORD",
                "stream": "email_events",
                "record": {
                    "event_id": event_id,
                    "event_type": EVENT_TYPES[number % len(EVENT_TYPES)],
                    "event_time": "2025-03-01T10:00:00Z",
                    "profile_external_id": contact_id,
                    "email": f"{event_id}@example.com",
                    "delivery_name": "DM190",
                    "campaign_name": "2019LoyaltyCamp",
                    "bounce_type": "Hard",
                    "bounce_reason": "User unknown",
                },
            }
        )

    def profile(self, contact_id: str) -> None:
        self.profiles.append(contact_id)
        record = {"externalId": contact_id, "blackListEmail": True}
        self.add({"type": "RECORD", "stream": "profiles", "record": record})

    def state(self, name: str) -> dict[str, t.Any]:
        value = {
            "bookmarks": {
                "email_events": {"checkpoint": name, "events": len(self.events)},
                "profiles": {"profiles": len(self.profiles)},
            }
        }
        self.covers[len(self.lines)] = (set(self.events), set(self.profiles))
        self.add({"type": "STATE", "value": value})
        return value

    def covered(self, value: dict[str, t.Any]) -> tuple[set[str], set[str]]:
        """The event ids and contact ids of the records read before STATE `value`."""
        for position, covered in self.covers.items():
            if json.loads(self.lines[position])["value"] == value:
                return covered
        raise AssertionError(f"STATE {value} is not in the input")


@dataclass
class Scenario:
    """The script of the tests, with the STATE each full batch must emit."""

    script: Script
    expected: list[dict[str, t.Any]]  # STATEs in the order they must be emitted, once each
    fillers: list[int]  # the position of the record that fills a batch, one per expected STATE


def scenario() -> Scenario:
    """Events and profiles, `BATCH` per batch, filling batches of both streams mid-stream.

    1. p1 p2 S1 e1 e2 e3 S2 e4 S3 e5: e5 fills the events batch → S3 (not S1/S2) after the
       events and the profiles sink's p1 p2 are written.
    2. e6 e7 p3 S4 e8 e9 e10: e10 fills → S4, with p3 (pending in the profiles sink) written.
    3. e11 e12 S5 p4 p5 p6 p7 p8: p8 fills the *profiles* batch → S5, after e11 e12.
    4. S6 e13 … e17: e17 fills → S6; the input ends with nothing pending: S6 is not repeated.
    """
    people = [row["contactid"] for row in contacts(8, donotemail=False, donotbulkemail=False)]
    s = Script()
    s.schemas()
    expected, fillers = [], []

    s.profile(people[0])
    s.profile(people[1])
    s.state("S1")
    for _ in range(3):
        s.event(people[0])
    s.state("S2")
    s.event(people[1])
    expected.append(s.state("S3"))
    s.event(people[2])
    fillers.append(len(s.lines) - 1)

    s.event(people[2])
    s.event(people[3])
    s.profile(people[2])
    expected.append(s.state("S4"))
    for _ in range(3):
        s.event(people[3])
    fillers.append(len(s.lines) - 1)

    s.event(people[4])
    s.event(people[4])
    expected.append(s.state("S5"))
    for person in people[3:8]:
        s.profile(person)
    fillers.append(len(s.lines) - 1)

    expected.append(s.state("S6"))
    for _ in range(BATCH):
        s.event(people[5])
    fillers.append(len(s.lines) - 1)
    return Scenario(s, expected, fillers)


def in_dataverse(event_ids: set[str], contact_ids: set[str]) -> tuple[set[str], set[str]]:
    """Which of `event_ids` are activity rows and which of `contact_ids` have opted out."""
    dataverse = client()
    found = {
        row["acs_eventid"]
        for entity_set in EVENT_SETS
        for row in dataverse.iter_values(f"{entity_set}?$select=acs_eventid")
    }
    opted_out = {
        contact_id
        for contact_id in contact_ids
        if dataverse.get_json(f"contacts({contact_id})?$select=donotemail")["donotemail"]
    }
    return found & event_ids, opted_out


@dataclass
class Emitted:
    """One STATE the target wrote to stdout, and what had happened by then."""

    value: dict[str, t.Any]
    lines_read: int  # input lines the target had taken when it emitted the STATE
    input_ended: bool  # whether the target had asked for a line past the last one
    events: set[str]  # covered event ids that were activity rows at that moment
    profiles: set[str]  # covered contact ids whose opt-out was written at that moment
    profile_writes: int  # UpdateMultiple requests in the sandbox log at that moment


class Recorder:
    """Feeds the input line by line and catches the STATE lines written to stdout.

    `states_before_end`: the input stays open after its last line (as a tap's stdout does
    while it works) until that many STATEs were emitted, or 30 s.
    """

    def __init__(self, script: Script, admin: DataverseAdmin, states_before_end: int = 0) -> None:
        self.script = script
        self.admin = admin
        self.states_before_end = states_before_end
        self.lines_read = 0
        self.input_ended = False
        self.emitted: list[Emitted] = []
        self._partial = ""

    def __iter__(self) -> Iterator[str]:
        for line in self.script.lines:
            self.lines_read += 1
            yield line
        deadline = time.monotonic() + 30
        while len(self.emitted) < self.states_before_end and time.monotonic() < deadline:
            time.sleep(0.01)
        self.input_ended = True

    def write(self, text: str) -> int:
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        for line in complete:
            if line.strip():
                self._emitted(json.loads(line))
        return len(text)

    def flush(self) -> None:
        pass

    def _emitted(self, value: dict[str, t.Any]) -> None:
        events, profiles = self.script.covered(value)
        found_events, found_profiles = in_dataverse(events, profiles)
        log = writes(self.admin.requests())
        profile_writes = sum(r["path"].endswith(UPDATE_MULTIPLE) for r in log)
        self.emitted.append(
            Emitted(
                value,
                self.lines_read,
                self.input_ended,
                found_events,
                found_profiles,
                profile_writes,
            )
        )


@pytest.mark.parametrize(
    "pool",
    [{}, {"additional_app_users": SANDBOX.info["app_users"], "max_parallel_requests": 2}],
    ids=["one user", "four users"],
)
def test_state_after_each_full_batch_covers_only_written_records(
    admin, tmp_path, monkeypatch, pool: dict[str, t.Any]
) -> None:
    """Each batch's chunks go out side by side (one per activity table, over the app users)."""
    plan = scenario()
    script = plan.script
    settings = config(tmp_path, batch_size_rows=BATCH, **pool)
    admin.clear_requests()
    recorder = Recorder(script, admin, states_before_end=len(plan.expected))
    monkeypatch.setattr(sys, "stdout", recorder)

    target = TargetDynamics365(config=settings)
    target.listen(file_input=t.cast("t.IO[str]", recorder))
    monkeypatch.undo()

    assert recorder.lines_read == len(script.lines)
    assert recorder.input_ended
    # Exactly the expected STATEs, in order, each once: S1/S2 (superseded before a batch
    # filled) never, and S6 (already emitted by the last checkpoint) not again at the end.
    assert [e.value for e in recorder.emitted] == plan.expected
    bounds = [*[filler + 1 for filler in plan.fillers[1:]], len(script.lines)]
    for emitted, filler, bound in zip(recorder.emitted, plan.fillers, bounds, strict=True):
        # Emitted once the record filling a batch was read and that batch's writes were done,
        # while the target waits for more input: at the latest when the next batch is drained
        # (its filler read); S6, whose filler is the last line, before the input ended.
        assert filler + 1 <= emitted.lines_read <= bound, emitted
        assert not emitted.input_ended, emitted
        # Every record the STATE covers, in either stream, was in Dataverse by then.
        events, profiles = script.covered(emitted.value)
        assert emitted.events == events, emitted.value
        assert emitted.profiles == profiles, emitted.value
    # The profiles sink's pending records were written before S3 (p1 p2) and S4 (p3), by
    # the checkpoint of the events batch (one UpdateMultiple each); S5 follows their own batch.
    # (S4 may come out once p4…p8 are written too, while e11 e12 are in flight.)
    assert recorder.emitted[0].profile_writes == 1
    needed = [1, 2, 3, 3]
    assert all(e.profile_writes >= n for e, n in zip(recorder.emitted, needed, strict=True))
    assert sum(r["path"].endswith(UPDATE_MULTIPLE) for r in writes(admin.requests())) == 3
    summary = target.summary.streams()
    assert summary["email_events"]["upserted"] == len(script.events)
    assert summary["profiles"]["updated"] == len(script.profiles)
    assert in_dataverse(set(script.events), set(script.profiles)) == (
        set(script.events),
        set(script.profiles),
    )


def test_cli_emits_the_checkpoint_while_its_input_is_still_open(admin, tmp_path) -> None:
    """As Meltano runs it: the STATE comes out while stdin is open, before any more input."""
    plan = scenario()
    script = plan.script
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config(tmp_path, batch_size_rows=BATCH)))
    stderr = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "target_dynamics365.target", "--config", str(config_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    out: queue.Queue[str] = queue.Queue()

    def read_stdout() -> None:
        for line in proc.stdout or ():
            out.put(line)

    reader = threading.Thread(target=read_stdout)
    reader.start()
    try:
        first = plan.fillers[0] + 1
        proc.stdin.write("".join(script.lines[:first]))
        proc.stdin.flush()  # stdin stays open: the rest of the input has not been sent yet

        try:
            line = out.get(timeout=60)
        except queue.Empty:
            raise AssertionError(
                "no STATE within 60 s of the batch filling:\n"
                + (tmp_path / "stderr.log").read_text()[-4000:]
            ) from None
        assert json.loads(line) == plan.expected[0]
        assert proc.poll() is None
        events, profiles = script.covered(plan.expected[0])
        assert in_dataverse(events, profiles) == (events, profiles)

        proc.stdin.write("".join(script.lines[first:]))
        proc.stdin.close()
        assert proc.wait(timeout=120) == 0, (tmp_path / "stderr.log").read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        stderr.close()
    rest = []
    while not out.empty():
        rest.append(json.loads(out.get()))
    assert rest == plan.expected[1:]  # the last STATE once, not again after the final drain


def test_state_after_a_schema_change_covers_the_replaced_sinks_records(
    admin, tmp_path, monkeypatch
) -> None:
    """A new SCHEMA of `profiles` retires its sink with p1 pending; the next STATE covers p1.

    The SDK keeps the retired sink in `_sinks_to_clear` until the next full drain; the
    checkpoint after the events batch must write its records before emitting S1 (before
    a07134a it drained only `_sinks_active` and emitted S1 with p1 unwritten).
    """
    people = [row["contactid"] for row in contacts(2, donotemail=False, donotbulkemail=False)]
    s = Script()
    s.schemas()
    s.profile(people[0])
    expected = s.state("S1")
    changed: dict[str, t.Any] = json.loads(json.dumps(PROFILE_SCHEMA))
    changed["properties"]["lastModified"] = {"type": ["string", "null"]}
    s.add(
        {
            "type": "SCHEMA",
            "stream": "profiles",
            "schema": changed,
            "key_properties": ["externalId"],
        }
    )
    for _ in range(BATCH):
        s.event(people[1])
    recorder = Recorder(s, admin, states_before_end=1)
    monkeypatch.setattr(sys, "stdout", recorder)

    TargetDynamics365(config=config(tmp_path, batch_size_rows=BATCH)).listen(
        file_input=t.cast("t.IO[str]", recorder)
    )
    monkeypatch.undo()

    assert [e.value for e in recorder.emitted] == [expected]
    (emitted,) = recorder.emitted
    assert not emitted.input_ended  # the checkpoint of the events batch (input still open)
    assert emitted.events == set()  # S1 covers no event
    assert in_dataverse(set(s.events), {people[0]}) == (set(s.events), {people[0]})  # at the end
    assert emitted.profiles == {people[0]}, "S1 emitted before p1 (retired sink) was written"


# --- STATE held while the writes before it are in flight (`checkpoints.Checkpoints`) -------------


def gated_pool() -> tuple[ClientPool, threading.Event]:
    """A pool of the sandbox's main user whose tasks wait for the returned event."""
    client = DataverseClient.from_config(CONNECTION)
    client.hints.dop_hint = 4
    return ClientPool([client], max_parallel=4), threading.Event()


def test_a_state_waits_for_the_writes_in_flight_before_it() -> None:
    pool, go = gated_pool()
    emitted: list[str] = []
    checkpoints = Checkpoints(lambda state: emitted.append(state["name"]))
    checkpoints.emit({"name": "S0"})  # nothing in flight: at once
    assert emitted == ["S0"]

    first = pool.submit([lambda: go.wait(timeout=30)] * 2)
    checkpoints.track(first)
    checkpoints.emit({"name": "S1"})  # covers records in `first`
    second = pool.submit([lambda: None])
    checkpoints.track(second)
    checkpoints.emit({"name": "S2"})
    second.wait()
    assert emitted == ["S0"]  # `second` is written, `first` is not: neither S1 nor S2
    assert checkpoints.in_flight() == 1
    go.set()
    checkpoints.wait()  # returns once the thread ending `first` has emitted both, in order
    assert emitted == ["S0", "S1", "S2"]
    checkpoints.emit({"name": "S3"})
    assert emitted == ["S0", "S1", "S2", "S3"]
    pool.close()


def test_no_state_after_a_failed_write() -> None:
    pool, go = gated_pool()
    emitted: list[str] = []
    checkpoints = Checkpoints(lambda state: emitted.append(state["name"]))

    def fail() -> None:
        go.wait(timeout=30)
        raise ForbiddenError(403, "0x80040220", "no privilege", "POST x")

    checkpoints.track(pool.submit([fail, lambda: None]))
    checkpoints.emit({"name": "S1"})
    later = pool.submit([lambda: None])
    checkpoints.track(later)
    checkpoints.emit({"name": "S2"})
    go.set()
    with pytest.raises(ForbiddenError):
        checkpoints.wait()
    later.wait()
    checkpoints.emit({"name": "S3"})
    assert emitted == []
    pool.close()


def test_the_conflicting_keys_of_a_write_in_flight() -> None:
    pool, go = gated_pool()
    checkpoints = Checkpoints(lambda state: None)
    checkpoints.track(pool.submit([lambda: go.wait(timeout=30)]), frozenset({("t", "a")}))
    assert checkpoints.conflicts(frozenset({("t", "a"), ("t", "b")}))
    assert not checkpoints.conflicts(frozenset({("t", "b")}))
    go.set()
    checkpoints.wait()
    assert not checkpoints.conflicts(frozenset({("t", "a")}))
    pool.close()


@pytest.fixture
def slow_writes(admin: DataverseAdmin) -> Iterator[DataverseAdmin]:
    """Bulk requests that last (100 ms a row), two rows a request, two requests at a time."""
    admin.reset_limit_usage()
    admin.set_limits(row_cost_ms=100, dop_hint=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("target_dynamics365.event_sink.MAX_TARGETS", 2)
        yield admin
    admin.set_limits(row_cost_ms=0, dop_hint=4)
    admin.reset_limit_usage()


def test_the_next_batch_is_read_and_sent_while_the_batch_before_is_written(
    slow_writes, tmp_path, monkeypatch
) -> None:
    """Batch 1 (sends) is in flight when batch 2 (opens) is read and its writes start.

    Each STATE comes out only once every event it covers is in Dataverse ("after sends" is
    given when batch 2 is drained, so it waits for batch 2 as well).
    """
    people = [row["contactid"] for row in contacts(2)]
    s = Script()
    s.schemas()
    for table in ("send", "open"):
        for n in range(10):
            number = len(s.events)
            s.events.append(f"overlap-{uuid.uuid4().hex[:8]}-{number}")
            record = {
                "event_id": s.events[-1],
                "event_type": table,
                "event_time": "2025-03-01T10:00:00Z",
                "profile_external_id": people[n % 2],
            }
            s.add({"type": "RECORD", "stream": "email_events", "record": record})
        s.state(f"after {table}s")
    recorder = Recorder(s, slow_writes)
    monkeypatch.setattr(sys, "stdout", recorder)
    slow_writes.clear_requests()

    target = TargetDynamics365(config=config(tmp_path, batch_size_rows=10))
    target.listen(file_input=t.cast("t.IO[str]", recorder))
    monkeypatch.undo()

    log = writes(slow_writes.requests())
    sends = [r for r in log if "acs_emailsends" in r["path"]]
    opens = [r for r in log if "acs_emailopens" in r["path"]]
    assert (len(sends), len(opens)) == (5, 5)
    # Batch 2's first request started before batch 1's last one ended: the writes overlap.
    assert min(r["started"] for r in opens) < max(r["time"] for r in sends)
    assert [e.value["bookmarks"]["email_events"]["checkpoint"] for e in recorder.emitted] == [
        "after sends",
        "after opens",
    ]
    for emitted in recorder.emitted:
        events, _ = s.covered(emitted.value)
        assert emitted.events == events, emitted.value  # every covered event was written
    assert target.summary.streams()["email_events"]["upserted"] == 20
