"""The pool of application users (`dataverse_client.pool`): parallel requests, the bound,
resting a throttled user, failures; then the target's writes through it against the sandbox.

The unit tests use clients of the sandbox's app registrations but send nothing: each request is
a function of the test that records which user ran it and when it overlapped with others.
"""

from __future__ import annotations

import datetime
import threading
import time
import typing as t
import uuid
from collections import Counter

import pytest
import requests
from dataverse_client.client import (
    DataverseClient,
    ExecutionBudget,
    ForbiddenError,
    RetriableDataverseError,
    ServerHints,
)
from dataverse_client.pool import ClientPool, PoolAbortedError, pool_errors
from sync_support.retry import RetryBudgetExceededError
from target_dynamics365.target import TargetDynamics365

from .conftest import CONNECTION, SANDBOX
from .helpers import config, contact, contacts, run_target

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from crm_sandbox.dataverse.admin_client import DataverseAdmin

APP_USERS: list[dict[str, str]] = SANDBOX.info["app_users"]
EVENT_SETS = ("acs_emailsends", "acs_emailopens", "acs_emailclicks", "acs_emailbounces")
EVENT_TYPES = ("send", "open", "click", "bounce")
DEFAULT_LIMITS = {
    "window_seconds": 300,
    "execution_ms": 1_200_000,
    "dop_hint": 4,
    "row_cost_ms": 0,
    "concurrent": 52,
}


def clients(count: int, *, hint: int | None = None, **settings: t.Any) -> list[DataverseClient]:
    """Clients of `count` application users (none has sent anything), with a known dop hint."""
    users = [{}, *APP_USERS][:count]
    made = [DataverseClient.from_config({**CONNECTION, **settings, **user}) for user in users]
    for client in made:
        client.hints.dop_hint = hint
    return made


def throttled(retry_after: float | None) -> RetriableDataverseError:
    """The error a 429 answer raises, with its Retry-After."""
    response = requests.Response()
    response.status_code = 429
    if retry_after is not None:
        response.headers["Retry-After"] = f"{retry_after:g}"
    return RetriableDataverseError("429 0x80072321: Combined execution time …", response)


class Recorder:
    """Requests that wait for the test's go, counting who has how many in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.go = threading.Event()
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.peak_total = 0
        self.calls: Counter[str] = Counter()

    def __call__(self, client: DataverseClient) -> str:
        with self.lock:
            self.in_flight[client.client_id] += 1
            self.calls[client.client_id] += 1
            self.peak[client.client_id] = max(
                self.peak[client.client_id], self.in_flight[client.client_id]
            )
            self.peak_total = max(self.peak_total, sum(self.in_flight.values()))
        self.go.wait(timeout=30)
        with self.lock:
            self.in_flight[client.client_id] -= 1
        return client.client_id

    def wait_for(self, total: int) -> None:
        deadline = time.monotonic() + 30
        while sum(self.in_flight.values()) < total and time.monotonic() < deadline:
            time.sleep(0.01)


def run_in_background(pool: ClientPool, tasks: list[t.Callable[[], None]]) -> threading.Thread:
    thread = threading.Thread(target=pool.run, args=(tasks,))
    thread.start()
    return thread


def test_requests_run_side_by_side_bounded_per_user_by_the_dop_hint() -> None:
    pool = ClientPool(clients(2, hint=2), max_parallel=3)
    recorder = Recorder()
    thread = run_in_background(pool, [lambda: pool.call(recorder) for _ in range(12)])
    recorder.wait_for(4)
    time.sleep(0.2)  # room for a fifth request, if the bound did not hold
    assert recorder.peak_total == 4
    assert sum(recorder.in_flight.values()) == 4
    recorder.go.set()
    thread.join(timeout=30)
    assert set(recorder.peak.values()) == {2}  # x-ms-dop-hint 2, under the cap of 3
    assert sum(recorder.calls.values()) == 12
    assert len(recorder.calls) == 2  # both users wrote
    pool.close()


def test_the_setting_caps_a_higher_dop_hint() -> None:
    pool = ClientPool(clients(1, hint=50), max_parallel=3)
    recorder = Recorder()
    thread = run_in_background(pool, [lambda: pool.call(recorder) for _ in range(6)])
    recorder.wait_for(3)
    time.sleep(0.2)
    recorder.go.set()
    thread.join(timeout=30)
    assert recorder.peak_total == 3
    pool.close()


def test_a_user_whose_hint_is_unknown_sends_one_request_at_a_time() -> None:
    pool = ClientPool(clients(1), max_parallel=8)
    recorder = Recorder()
    recorder.go.set()
    pool.run([lambda: pool.call(recorder) for _ in range(5)])
    assert recorder.peak_total == 1
    pool.close()


def test_one_slot_runs_the_tasks_in_order_in_this_thread() -> None:
    pool = ClientPool(clients(1, hint=4), max_parallel=1)
    seen: list[tuple[int, str]] = []
    pool.run([lambda n=n: seen.append((n, threading.current_thread().name)) for n in range(5)])
    assert seen == [(n, threading.current_thread().name) for n in range(5)]


def test_a_throttled_user_is_rested_while_the_others_carry_on() -> None:
    first, second = clients(2, hint=1)
    pool = ClientPool([first, second], max_parallel=1)
    calls: list[str] = []

    def request(client: DataverseClient) -> None:
        calls.append(client.client_id)
        if client.client_id == first.client_id:
            raise throttled(30)

    pool.run([lambda: pool.call(request) for _ in range(6)])
    # The first user was refused once, then rested for its 30 s: the second did all the work.
    assert calls.count(first.client_id) == 1
    assert calls.count(second.client_id) == 6
    assert pool.throttled == 1
    (rested,) = [u for u in pool.users if u.rested_until > time.monotonic()]
    assert rested.client.client_id == first.client_id
    pool.close()


def test_a_rested_user_takes_requests_again_once_its_retry_after_has_passed() -> None:
    (only,) = clients(1, hint=1)
    pool = ClientPool([only], max_parallel=1)
    answers = iter([throttled(0.3), None, None])
    started = time.monotonic()

    def request(client: DataverseClient) -> None:
        error = next(answers)
        if error is not None:
            raise error

    pool.call(request)
    pool.call(request)
    assert time.monotonic() - started >= 0.3
    assert pool.throttled == 1


def test_every_user_throttled_past_the_retry_budget_fails_at_once() -> None:
    pool = ClientPool(clients(2, hint=1, max_retry_seconds=10), max_parallel=1)

    def request(client: DataverseClient) -> None:
        raise throttled(60)

    started = time.monotonic()
    with pytest.raises(RetryBudgetExceededError, match="every application user is throttled"):
        pool.call(request)
    assert time.monotonic() - started < 10  # no wait that could not end within the budget
    assert pool.throttled == 2  # each user tried once


def test_max_retries_caps_the_requests_after_429s() -> None:
    pool = ClientPool(clients(1, hint=1, max_retries=0), max_parallel=1)

    def request(client: DataverseClient) -> None:
        raise throttled(0)

    with pytest.raises(RetriableDataverseError):
        pool.call(request)


def test_a_failing_task_stops_the_others_and_its_error_is_raised() -> None:
    pool = ClientPool(clients(2, hint=1), max_parallel=1)
    done: list[int] = []

    def task(number: int) -> None:
        def request(client: DataverseClient) -> None:
            if number == 0:
                raise ForbiddenError(403, "0x80040220", "no privilege", "POST x")
            time.sleep(0.05)

        pool.call(request)
        done.append(number)

    with pytest.raises(ForbiddenError):
        pool.run([lambda n=n: task(n) for n in range(30)])
    assert len(done) < 29  # the others stopped starting requests
    # The pool is usable again afterwards.
    pool.run([lambda n=n: task(n) for n in range(1, 4)])
    pool.close()


def test_a_user_that_has_not_answered_takes_the_hint_another_user_was_given() -> None:
    first, second = clients(2)
    first.hints.dop_hint = 3  # the first user answered (e.g. the target's reads); not the second
    pool = ClientPool([first, second], max_parallel=8)
    recorder = Recorder()
    thread = run_in_background(pool, [lambda: pool.call(recorder) for _ in range(10)])
    recorder.wait_for(6)
    time.sleep(0.2)
    recorder.go.set()
    thread.join(timeout=30)
    assert dict(recorder.peak) == {first.client_id: 3, second.client_id: 3}
    pool.close()


def test_the_budget_tells_when_the_server_takes_the_next_request() -> None:
    """Answers of 5 s each, 40 s a window of 10 s (Microsoft's ratio): the 8th spends it."""
    budget = ExecutionBudget()
    assert budget.free_at(50.0) == 50.0  # nothing known: never wait
    for n in range(8):
        budget.record(remaining_ms=35_000 - 5_000 * n, elapsed_ms=5_000, now=100.0 + n)
    assert budget.budget_ms == 40_000  # the first answer's remaining plus its own time
    assert budget.window_seconds == 10
    assert budget.free_at(100.0 + 7.5) == 110.0  # once the first answer's 5 s leave the window
    assert budget.free_at(111.0) == 111.0


def answer(status: int, remaining: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.elapsed = datetime.timedelta(seconds=2)
    if remaining is not None:
        response.headers["x-ms-ratelimit-time-remaining-xrm-requests"] = remaining
    return response


def test_the_budget_counts_the_answered_requests_as_dataverse_reports_them() -> None:
    hints = ServerHints()
    hints.read(answer(200, None))  # no header: nothing known
    assert hints.budget.budget_ms == 0
    hints.read(answer(204, "1,198,000.00"))
    assert hints.budget.budget_ms == 1_200_000
    assert hints.budget.remaining_ms == 1_198_000
    hints.read(answer(429, "0.00"))  # a refused request costs nothing
    assert hints.budget.remaining_ms == 1_198_000


def test_a_user_whose_budget_is_spent_takes_no_request_until_it_is_free_again() -> None:
    first, second = clients(2, hint=2)
    first.hints.budget.record(remaining_ms=0, elapsed_ms=1_200_000, now=time.monotonic())
    pool = ClientPool([first, second], max_parallel=2)
    calls: list[str] = []
    pool.run([lambda: pool.call(lambda c: calls.append(c.client_id)) for _ in range(6)])
    assert calls == [second.client_id] * 6  # the first user's budget frees in 300 s

    (only,) = clients(1, hint=1)
    only.hints.budget.record(remaining_ms=0, elapsed_ms=400, now=time.monotonic())  # 0.1 s
    pool = ClientPool([only], max_parallel=1)
    seen: list[float] = []

    def request(client: DataverseClient) -> None:
        now = time.monotonic()
        seen.append(client.hints.budget.free_at(now) - now)

    pool.call(request)
    assert seen == [0]  # sent once the server would take it, not before


def waiting(pool: ClientPool, count: int) -> None:
    """Wait until `count` requests wait for room in `pool`."""
    deadline = time.monotonic() + 30
    while len(pool._waiting) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(pool._waiting) == count


def test_submit_returns_with_the_tasks_in_flight_and_wait_raises_their_failure() -> None:
    pool = ClientPool(clients(2, hint=2), max_parallel=2)
    recorder = Recorder()

    def failing() -> None:
        pool.call(recorder)
        raise ForbiddenError(403, "0x80040220", "no privilege", "POST x")

    run = pool.submit([lambda: pool.call(recorder) for _ in range(3)] + [failing])
    recorder.wait_for(4)  # submit returned while all four requests are in flight
    assert not run.done()
    recorder.go.set()
    with pytest.raises(ForbiddenError):
        run.wait()
    assert run.done()
    assert run.failed()
    pool.close()


def test_waiting_requests_are_served_callers_first_then_runs_in_the_order_submitted() -> None:
    """One slot: the requests waiting for it go in turn, not in the order they wake up."""
    pool = ClientPool(clients(1, hint=1), max_parallel=4)  # 4 threads, one request at a time
    order: list[str] = []
    gate = threading.Event()

    def blocking(client: DataverseClient) -> None:
        gate.wait(timeout=30)

    def request(name: str) -> t.Callable[[], None]:
        return lambda: pool.call(lambda client: order.append(name))

    holder = threading.Thread(target=pool.call, args=(blocking,))
    holder.start()  # holds the only slot
    waiting(pool, 0)
    earlier = pool.submit([request("a1"), request("a2")])
    later = pool.submit([request("b1")])
    waiting(pool, 3)
    caller = threading.Thread(target=request("caller"))  # a caller waiting for its request
    caller.start()
    waiting(pool, 4)
    gate.set()
    for run in (earlier, later):
        run.wait()
    caller.join(timeout=30)
    holder.join(timeout=30)
    assert order == ["caller", "a1", "a2", "b1"]
    pool.close()


def test_a_failing_run_does_not_stop_another_run() -> None:
    pool = ClientPool(clients(2, hint=1), max_parallel=2)
    gate = threading.Event()
    done: list[int] = []

    def fail() -> None:
        gate.wait(timeout=30)
        raise ForbiddenError(403, "0x80040220", "no privilege", "POST x")

    def task(number: int) -> None:
        pool.call(lambda client: gate.wait(timeout=30))
        done.append(number)

    failing = pool.submit([lambda: pool.call(lambda client: fail()), *[lambda: None] * 5])
    other = pool.submit([lambda n=n: task(n) for n in range(6)])
    gate.set()
    with pytest.raises(ForbiddenError):
        failing.wait()
    other.wait()
    assert sorted(done) == list(range(6))
    pool.close()


def test_stop_stops_every_run_in_flight() -> None:
    pool = ClientPool(clients(1, hint=1), max_parallel=2)
    gate = threading.Event()
    sent: list[int] = []

    def task(number: int) -> None:
        pool.call(lambda client: gate.wait(timeout=30))
        sent.append(number)

    runs = [pool.submit([lambda n=n: task(n) for n in range(4)]) for _ in range(2)]
    waiting(pool, 1)  # one request in flight, one waiting for room (two threads)
    pool.stop()
    gate.set()
    for run in runs:
        with pytest.raises(PoolAbortedError):
            run.wait()
    assert len(sent) == 1  # the request in flight ended; no other one started
    pool.close()


@pytest.mark.parametrize(
    ("users", "error"),
    [
        ([{"client_id": CONNECTION["client_id"], "client_secret": "x"}], "already a user"),
        (
            [{"client_id": "a", "client_secret": "x"}, {"client_id": "A", "client_secret": "y"}],
            "already a user",
        ),
        ([{"client_id": "a"}], "client_secret (or client_certificate_path) is required"),
        ([{"client_id": "a", "client_certificate_path": "k.pem"}], "thumbprint is required"),
    ],
)
def test_pool_settings_errors(users: list[dict[str, str]], error: str) -> None:
    (problem,) = pool_errors({**CONNECTION, "additional_app_users": users})
    assert error in problem


# --- the target against the sandbox ----------------------------------------------------------


@pytest.fixture
def limits(admin: DataverseAdmin) -> Iterator[DataverseAdmin]:
    """Small service protection limits for a test; Microsoft's defaults back after it."""
    admin.reset_limit_usage()
    yield admin
    admin.set_limits(**DEFAULT_LIMITS)
    admin.reset_limit_usage()


def events(count: int, people: list[str]) -> list[dict[str, t.Any]]:
    run = uuid.uuid4().hex[:8]
    return [
        {
            "event_id": f"pool-{run}-{n}",
            "event_type": EVENT_TYPES[n % 4],
            "event_time": "2025-03-01T10:00:00Z",
            "profile_external_id": people[n % len(people)],
            "delivery_name": "DM1",
            "campaign_name": "C1",
        }
        for n in range(count)
    ]


def overlaps(log: list[dict[str, t.Any]]) -> tuple[int, Counter[str]]:
    """The most requests in flight at once, overall and per application user."""
    moments = sorted(
        [(r["started"], 1, r["app_id"]) for r in log] + [(r["time"], -1, r["app_id"]) for r in log],
        key=lambda m: (m[0], m[1]),
    )
    now: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    total = 0
    for _, step, app in moments:
        now[app] += step
        peak[app] = max(peak[app], now[app])
        total = max(total, sum(now.values()))
    return total, peak


def upserts(admin: DataverseAdmin) -> list[dict[str, t.Any]]:
    return [r for r in admin.requests() if r["path"].endswith("UpsertMultiple")]


def test_event_chunks_go_out_in_parallel_over_the_app_users(limits, tmp_path) -> None:
    people = [row["contactid"] for row in contacts(20)]
    limits.set_limits(dop_hint=2, row_cost_ms=0.5)  # 1000 rows: half a second each
    settings = config(
        tmp_path, batch_size_rows=8000, additional_app_users=APP_USERS[:1], max_parallel_requests=4
    )
    target = run_target(settings, events(8000, people), "email_events")
    assert target.summary.streams()["email_events"]["upserted"] == 8000
    log = upserts(limits)
    assert len(log) == 8  # 2 per table
    total, per_user = overlaps(log)
    assert set(per_user) == {CONNECTION["client_id"], APP_USERS[0]["client_id"]}
    assert total > 1  # side by side
    assert max(per_user.values()) <= 2  # x-ms-dop-hint 2 (under max_parallel_requests 4)


def test_a_user_over_its_execution_time_rests_and_everything_is_written(limits, tmp_path) -> None:
    people = [row["contactid"] for row in contacts(20)]
    # 1000 rows cost 1 s of a 1.5 s budget per 3 s window: a user's third chunk in a row is
    # refused (0x80072321) and the user rests for the Retry-After while the other one writes.
    limits.set_limits(row_cost_ms=1, execution_ms=1500, window_seconds=3, dop_hint=1)
    settings = config(tmp_path, batch_size_rows=8000, additional_app_users=APP_USERS[:1])
    records = events(8000, people)
    target = run_target(settings, records, "email_events")
    summary = target.summary.streams()["email_events"]
    assert (summary["upserted"], summary["rejected"]) == (8000, 0)
    log = upserts(limits)
    refused = [r for r in log if r["status"] == 429]
    assert refused  # the budget was reached
    for refusal in refused:  # the refused user sent nothing more until its Retry-After
        later = [
            r for r in log if r["app_id"] == refusal["app_id"] and r["started"] > refusal["time"]
        ]
        assert all(r["started"] >= refusal["time"] + 0.9 for r in later)
    counts = limits.state()["counts"]
    assert sum(counts[entity_set] for entity_set in EVENT_SETS) == 8000


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two rows a bulk request: a batch of a few records goes out as chunks side by side."""
    monkeypatch.setattr("target_dynamics365.sinks.MAX_TARGETS", 2)
    monkeypatch.setattr("target_dynamics365.event_sink.MAX_TARGETS", 2)


def test_writes_of_one_contact_keep_their_order(limits, small_chunks, tmp_path) -> None:
    """Opt-outs set, cleared and set again over three batches of parallel chunks: the last wins."""
    people = [r["contactid"] for r in contacts(6, donotemail=False, donotbulkemail=False)]
    flips = [(True,) * 6, (False, False, False, True, True, True), (True, False) * 3]
    records = [
        {"externalId": person, "blackListEmail": value}
        for values in flips
        for person, value in zip(people, values, strict=True)
    ]
    records.insert(3, {"externalId": people[0], "blackListEmail": False})  # same batch: last wins
    limits.set_limits(row_cost_ms=100)  # requests that last: chunks overlap
    run_target(config(tmp_path, batch_size_rows=6, additional_app_users=APP_USERS), records)
    log = [r for r in limits.requests() if r["path"].endswith("UpdateMultiple")]
    assert overlaps(log)[0] > 1  # chunks of one batch side by side
    expected = {}
    for record in records:
        expected[record["externalId"]] = record["blackListEmail"]
    assert {p: contact(p)["donotemail"] for p in people} == expected


def test_rewrites_of_one_event_keep_their_order(limits, small_chunks, tmp_path) -> None:
    people = [row["contactid"] for row in contacts(4)]
    first = events(12, people)
    changed = [{**event, "delivery_name": "DM2"} for event in first]
    settings = config(tmp_path, batch_size_rows=12, additional_app_users=APP_USERS)
    limits.set_limits(row_cost_ms=100)
    run_target(settings, first + changed, "email_events")
    log = upserts(limits)
    assert overlaps(log)[0] > 1
    client = DataverseClient.from_config(CONNECTION)
    names = {
        row["acs_deliveryname"]
        for entity_set in EVENT_SETS
        for row in client.iter_values(f"{entity_set}?$select=acs_deliveryname")
    }
    assert names == {"DM2"}


def test_the_pool_settings_are_documented_and_secret() -> None:
    properties = TargetDynamics365.config_jsonschema["properties"]
    assert properties["additional_app_users"]["secret"] is True
    item = properties["additional_app_users"]["items"]["properties"]
    assert item["client_secret"]["secret"] is True
    assert properties["max_parallel_requests"]["default"] == 8
