"""Bulk requests in parallel over a pool of application users (Microsoft's advice for throughput).

Dataverse limits each application user (per web server) to 6000 requests, 1200 s of execution
time and 52 concurrent requests per 5 minutes, and recommends parallel requests sized by the
`x-ms-dop-hint` response header, spread over several application users for bulk work (reference
§7.1, campaign-v8-and-scale §5). `ClientPool.run(tasks)` runs tasks side by side and returns
when they are done; `ClientPool.submit(tasks)` starts them and returns at once (a `PoolRun` to
wait for), so a caller can prepare its next tasks while these are in flight. Every request a
task makes goes through `ClientPool.call`, which hands it to a user with room:

- at most min(`max_parallel`, the user's last `x-ms-dop-hint`) requests in flight per user
  (a user that has not answered yet takes the hint another user of the pool was given, as they
  share one environment; one until any response tells it), the least busy user first;
- a user whose execution time budget is spent, as its answers tell (`client.ExecutionBudget`:
  the time of its requests that ended within the window has reached the budget), sends nothing
  until enough of that time leaves the window, when the server would take it again, instead of
  being refused with a 429;
- requests waiting for room are served in turn (one goes only when there is room for those
  before it): first the calls of callers waiting for them (`run`, a call outside any run), then
  the tasks of submitted runs in the order submitted, so the earlier run finishes first while a
  later one keeps the users busy;
- a user answered 429 is rested for the `Retry-After` (doubling from 1 s without one) while the
  others carry on, and the request goes to the next user with room; when every user rests, the
  request waits for the first to wake, within the client's `max_retry_seconds` (and
  `max_retries`) from its first attempt, as a lone client would.

Tasks are the caller's unit of order: the pool never splits or reorders what one task sends.
`run` returns only once every task is done, so two writes of one row in different `run` calls
cannot overtake each other; tasks of runs in flight at the same time (`submit`) may, so a caller
must not submit a write of a row while an earlier write of it is in flight.
"""

from __future__ import annotations

import itertools
import threading
import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sync_support.retry import RetryBudgetExceededError

from dataverse_client.client import DataverseClient, RetriableDataverseError, is_throttled

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping, Sequence

T = t.TypeVar("T")
#: Requests in flight per application user at most (the server's `x-ms-dop-hint` may say fewer).
DEFAULT_MAX_PARALLEL = 8
#: The wait after a 429 without `Retry-After`, doubling per refusal in a row up to the cap.
FIRST_REST, MAX_REST = 1.0, 60.0
#: Settings of one additional application user (`additional_app_users` items).
CREDENTIALS = (
    "client_id",
    "client_secret",
    "client_certificate_path",
    "client_certificate_thumbprint",
    "client_certificate_password",
)


class PoolAbortedError(Exception):
    """Another task of the same run failed (or the run was aborted): no new request is started."""


@dataclass(eq=False)
class AppUser:
    """One application user of the pool and what the pool knows of it."""

    client: DataverseClient
    in_flight: int = 0
    rested_until: float = 0.0
    refusals: int = 0  # 429s in a row


#: A request's place in the queue for room: (0: its caller waits for it / 1: submitted, number).
Ticket = tuple[int, int]
_URGENT, _SUBMITTED = 0, 1


class _TaskContext(threading.local):
    """The run and queue place of the task this thread is running (none outside a task)."""

    run: PoolRun | None = None
    ticket: Ticket | None = None


class PoolRun:
    """Tasks started together by `ClientPool.submit` (or `run`): wait for them, or stop them.

    When one task fails, the others of the run start no new request (`abort`); `wait` raises the
    first failure in task order. Callbacks given to `add_done_callback` are called once every
    task has ended (done, failed or never started), before `wait` returns.
    """

    def __init__(self, pool: ClientPool, tasks: Sequence[Callable[[], None]], urgency: int) -> None:
        """Start `tasks` on the pool's threads, each with its place in the queue for room."""
        self.pool = pool
        self.aborted = False
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[PoolRun], None]] = []
        self._callback_error: BaseException | None = None
        self._remaining = len(tasks)
        executor = pool.executor()
        self.futures: list[Future[None]] = []
        for task in tasks:
            ticket = (urgency, pool.next_number())
            future = executor.submit(self._run_task, pool, task, ticket)
            self.futures.append(future)
        for future in self.futures:
            future.add_done_callback(self._task_ended)
        if not tasks:
            self._end()

    def _run_task(self, pool: ClientPool, task: Callable[[], None], ticket: Ticket) -> None:
        if self.aborted or pool.stopped:
            raise PoolAbortedError
        context = pool.context
        context.run, context.ticket = self, ticket
        try:
            task()
        except BaseException:
            self.abort()
            raise
        finally:
            context.run, context.ticket = None, None

    def _task_ended(self, future: Future[None]) -> None:
        with self._lock:
            self._remaining -= 1
            last = self._remaining == 0
        if last:
            self._end()

    def _end(self) -> None:
        with self._lock:
            callbacks, self._callbacks = self._callbacks, []
        try:
            for callback in callbacks:
                callback(self)
        except BaseException as exc:  # e.g. a STATE that could not be written: `wait` raises it
            self._callback_error = exc
        finally:
            self._finished.set()

    def add_done_callback(self, callback: Callable[[PoolRun], None]) -> None:
        """Call `callback(run)` once every task has ended (at once if they have)."""
        with self._lock:
            if self._remaining:
                self._callbacks.append(callback)
                return
        callback(self)

    def done(self) -> bool:
        """Whether every task has ended (and the callbacks have been called)."""
        return self._finished.is_set()

    def error(self) -> BaseException | None:
        """Return the first failure in task order, once done (None: every task was done)."""
        for future in self.futures:
            if future.cancelled():
                continue
            exc = future.exception()
            if exc is not None and not isinstance(exc, PoolAbortedError):
                return exc
        return None

    def failed(self) -> bool:
        """Whether a task failed or was stopped before it was done (so far)."""
        return any(f.done() and (f.cancelled() or f.exception() is not None) for f in self.futures)

    def abort(self) -> None:
        """Start no new request for this run; cancel the tasks not started yet."""
        self.aborted = True
        for future in self.futures:
            future.cancel()

    def wait(self) -> None:
        """Return once every task has ended; raise the first failure (in task order).

        Interrupted (e.g. SystemExit from a signal), the run is aborted first.
        """
        try:
            self._finished.wait()
        except BaseException:
            self.abort()
            raise
        error = self.error() or self._callback_error
        if error is not None:
            raise error
        if self.failed():  # stopped from outside (`abort`) before every task was done
            raise PoolAbortedError


class ClientPool:
    """Application users sending requests in parallel (see the module's docstring)."""

    def __init__(
        self,
        clients: Sequence[DataverseClient],
        *,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Pool `clients` (one per application user; the first one's retry budget applies)."""
        if not clients:
            raise ValueError("a pool needs at least one client")
        self.max_parallel = max(1, max_parallel)
        self.users = [AppUser(client.for_pool(self.max_parallel)) for client in clients]
        self.retry = clients[0].retry
        self.logger = logger or clients[0].logger
        self.clock = clock
        self.throttled = 0  # 429s received
        self.context = _TaskContext()
        self._cond = threading.Condition()
        self._waiting: set[Ticket] = set()  # requests waiting for room
        self._numbers = itertools.count()
        self.stopped = False  # `stop`: no request is started any more
        self._executor: ThreadPoolExecutor | None = None

    @classmethod
    def from_config(
        cls, config: Mapping[str, t.Any], primary: DataverseClient, logger: logging.Logger
    ) -> ClientPool:
        """Return the pool of `primary` and the `additional_app_users` of `config`.

        Each additional user takes the connection settings of `config` with its own credential.
        """
        clients = [primary]
        for user in config.get("additional_app_users") or ():
            own = {key: user.get(key) for key in CREDENTIALS}
            clients.append(DataverseClient.from_config({**config, **own}, logger=logger))
        max_parallel = config.get("max_parallel_requests") or DEFAULT_MAX_PARALLEL
        return cls(clients, max_parallel=max_parallel, logger=logger)

    @property
    def slots(self) -> int:
        """Requests the pool may have in flight at most."""
        return len(self.users) * self.max_parallel

    def limit(self, user: AppUser) -> int:
        """Return how many requests `user` may have in flight: the cap, or the server's hint.

        A user that has not answered yet takes the hint another user was given.
        """
        hint = user.client.hints.dop_hint or next(
            (u.client.hints.dop_hint for u in self.users if u.client.hints.dop_hint), None
        )
        return min(self.max_parallel, hint or 1)

    def next_number(self) -> int:
        """Return a number for the next request or task: its place in the queue for room."""
        return next(self._numbers)

    def executor(self) -> ThreadPoolExecutor:
        """Return the worker threads (`slots` of them), started at the first parallel run."""
        with self._cond:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.slots, thread_name_prefix="dataverse-pool")
            return self._executor

    # --- tasks ---------------------------------------------------------------------------

    def run(self, tasks: Sequence[Callable[[], None]], *, parallel: bool = True) -> None:
        """Run `tasks` side by side (in order, in this thread, when only one could run).

        Returns when every task is done. When one fails, the others start no new request and
        the first failure (in task order) is raised once the requests in flight have ended.
        """
        if not parallel or len(tasks) < 2 or self.slots < 2:
            for task in tasks:
                task()
            return
        PoolRun(self, tasks, _URGENT).wait()

    def submit(self, tasks: Sequence[Callable[[], None]]) -> PoolRun:
        """Start `tasks` side by side on the pool's threads and return at once.

        Their requests queue for room behind those of earlier runs (and of callers waiting).
        With one slot the tasks run one after another, in order, on the pool's thread.
        """
        return PoolRun(self, tasks, _SUBMITTED)

    def stop(self) -> None:
        """Start no request any more, for any run (e.g. on a signal); those in flight end.

        It only sets a flag and wakes the waiting requests (which then raise
        `PoolAbortedError`): safe in a signal handler, whatever the interrupted code held.
        """
        self.stopped = True
        with self._cond:  # reentrant: the interrupted code of this thread may hold it
            self._cond.notify_all()

    def close(self) -> None:
        """Stop the worker threads (after the tasks they run)."""
        with self._cond:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown()

    # --- requests ------------------------------------------------------------------------

    def call(self, request: Callable[[DataverseClient], T]) -> T:
        """Send `request` as a user with room; after a 429, rest that user and send it again."""
        run = self.context.run
        ticket = self.context.ticket or (_URGENT, self.next_number())
        started: float | None = None
        refusals = 0
        while True:
            user = self._acquire(started, ticket, run)
            started = self.clock() if started is None else started
            ok = False
            try:
                result = request(user.client)
                ok = True
                return result
            except RetriableDataverseError as exc:
                if not is_throttled(exc):
                    raise
                refusals += 1
                self._rest(user, exc)
                if self.retry.max_retries is not None and refusals > self.retry.max_retries:
                    raise
            finally:
                self._release(user, ok=ok)

    def _acquire(self, started: float | None, ticket: Ticket, run: PoolRun | None) -> AppUser:
        """Take a slot of the least busy user with room, in turn; wait while there is none."""
        with self._cond:
            self._waiting.add(ticket)
            try:
                while True:
                    if self.stopped or (run is not None and run.aborted):
                        raise PoolAbortedError
                    now = self.clock()
                    # when each user's budget takes a request (the answers' clock: monotonic)
                    mono = time.monotonic()
                    spent = [u.client.hints.budget.free_at(mono) - mono for u in self.users]
                    ready = [
                        u
                        for u, wait_for in zip(self.users, spent, strict=True)
                        if u.rested_until <= now and u.in_flight < self.limit(u) and wait_for <= 0
                    ]
                    # in turn: only once there is room for the requests waiting before it
                    room = sum(self.limit(u) - u.in_flight for u in ready)
                    if room > sum(other < ticket for other in self._waiting):
                        user = min(ready, key=lambda u: u.in_flight / self.limit(u))
                        user.in_flight += 1
                        return user
                    resting = [u.rested_until for u in self.users if u.rested_until > now]
                    if resting and len(resting) == len(self.users) and started is not None:
                        budget = self.retry.max_retry_seconds
                        if min(resting) - started > budget:
                            msg = (
                                f"gave up after {now - started:.0f} s: every application user "
                                f"is throttled for {min(resting) - now:.0f} s more, past "
                                f"max_retry_seconds={budget:g}"
                            )
                            raise RetryBudgetExceededError(msg)
                    wakes = [at - now for at in resting] + [w for w in spent if w > 0]
                    wake = min(wakes) if wakes else None
                    self._cond.wait(wake)
            finally:
                self._waiting.discard(ticket)
                self._cond.notify_all()  # the next in turn may have room too

    def _rest(self, user: AppUser, exc: RetriableDataverseError) -> None:
        """Rest `user` for the server's `Retry-After` (or a doubling wait without one)."""
        with self._cond:
            user.refusals += 1
            self.throttled += 1
            wait_for = exc.retry_after
            if wait_for is None:
                wait_for = min(MAX_REST, FIRST_REST * 2 ** (user.refusals - 1))
            user.rested_until = max(user.rested_until, self.clock() + wait_for)
            others = sum(u is not user and u.rested_until <= self.clock() for u in self.users)
        self.logger.warning(
            "Application user %s throttled, resting it %.1f s (%d other user(s) carry on): %s",
            user.client.client_id,
            wait_for,
            others,
            exc,
        )

    def _release(self, user: AppUser, *, ok: bool) -> None:
        with self._cond:
            user.in_flight -= 1
            if ok:
                user.refusals = 0
            self._cond.notify_all()


def pool_errors(config: Mapping[str, t.Any]) -> list[str]:
    """List what JSON Schema cannot check in `additional_app_users`: one credential, no repeats.

    A user repeated (or the main `client_id` again) would share one budget, not add one.
    """
    errors = []
    seen = {str(config.get("client_id") or "").lower()}
    for number, user in enumerate(config.get("additional_app_users") or (), start=1):
        where = f"additional_app_users[{number}]"
        client_id = str(user.get("client_id") or "")
        if client_id.lower() in seen:
            errors.append(f"{where}: client_id {client_id} is already a user of the pool")
        seen.add(client_id.lower())
        if user.get("client_certificate_path"):
            if not user.get("client_certificate_thumbprint"):
                errors.append(f"{where}: client_certificate_thumbprint is required with it")
        elif not user.get("client_secret"):
            errors.append(f"{where}: client_secret (or client_certificate_path) is required")
    return errors
