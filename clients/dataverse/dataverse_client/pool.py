"""Bulk requests in parallel over a pool of application users (Microsoft's advice for throughput).

Dataverse limits each application user (per web server) to 6000 requests, 1200 s of execution
time and 52 concurrent requests per 5 minutes, and recommends parallel requests sized by the
`x-ms-dop-hint` response header, spread over several application users for bulk work (reference
§7.1, campaign-v8-and-scale §5). `ClientPool.run(tasks)` runs tasks side by side; every request
a task makes goes through `ClientPool.call`, which hands it to a user with room:

- at most min(`max_parallel`, the user's last `x-ms-dop-hint`) requests in flight per user
  (one until the user's first response tells the hint), the least busy user first;
- a user answered 429 is rested for the `Retry-After` (doubling from 1 s without one) while the
  others carry on, and the request goes to the next user with room; when every user rests, the
  request waits for the first to wake, within the client's `max_retry_seconds` (and
  `max_retries`) from its first attempt, as a lone client would.

Tasks are the caller's unit of order: the pool never splits or reorders what one task sends,
and `run` returns only once every task is done, so two writes of one row in different `run`
calls cannot overtake each other.
"""

from __future__ import annotations

import threading
import time
import typing as t
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
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
    """Another task of the same `run` failed: no new request is started."""


@dataclass(eq=False)
class AppUser:
    """One application user of the pool and what the pool knows of it."""

    client: DataverseClient
    in_flight: int = 0
    rested_until: float = 0.0
    refusals: int = 0  # 429s in a row


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
        self._cond = threading.Condition()
        self._aborted = False
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
        """Return how many requests `user` may have in flight: the cap, or the server's hint."""
        return min(self.max_parallel, user.client.hints.dop_hint or 1)

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
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.slots, thread_name_prefix="dataverse-pool")
        futures = [self._executor.submit(task) for task in tasks]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(future.exception() is not None for future in done):
                self._abort(futures)
            wait(futures)
        except BaseException:  # e.g. SystemExit from a signal: start nothing more, go
            self._abort(futures)
            raise
        with self._cond:
            self._aborted = False
        errors = [
            error
            for future in futures
            if not future.cancelled()
            and (error := future.exception()) is not None
            and not isinstance(error, PoolAbortedError)
        ]
        if errors:
            raise errors[0]

    def _abort(self, futures: Sequence[Future[None]]) -> None:
        with self._cond:
            self._aborted = True
            self._cond.notify_all()
        for future in futures:
            future.cancel()

    def close(self) -> None:
        """Stop the worker threads (after the tasks they run)."""
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    # --- requests ------------------------------------------------------------------------

    def call(self, request: Callable[[DataverseClient], T]) -> T:
        """Send `request` as a user with room; after a 429, rest that user and send it again."""
        started: float | None = None
        refusals = 0
        while True:
            user = self._acquire(started)
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

    def _acquire(self, started: float | None) -> AppUser:
        """Take a slot of the least busy user with room; wait while there is none."""
        with self._cond:
            while True:
                if self._aborted:
                    raise PoolAbortedError
                now = self.clock()
                ready = [
                    u for u in self.users if u.rested_until <= now and u.in_flight < self.limit(u)
                ]
                if ready:
                    user = min(ready, key=lambda u: u.in_flight / self.limit(u))
                    user.in_flight += 1
                    return user
                resting = [u.rested_until for u in self.users if u.rested_until > now]
                wake = min(resting) if resting else None
                if wake is not None and len(resting) == len(self.users) and started is not None:
                    budget = self.retry.max_retry_seconds
                    if wake - started > budget:
                        msg = (
                            f"gave up after {now - started:.0f} s: every application user is "
                            f"throttled for {wake - now:.0f} s more, past max_retry_seconds="
                            f"{budget:g}"
                        )
                        raise RetryBudgetExceededError(msg)
                self._cond.wait(None if wake is None else wake - now)

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
