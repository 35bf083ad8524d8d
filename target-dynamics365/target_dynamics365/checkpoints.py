"""STATE messages held until the writes in flight before them have ended without a failure."""

from __future__ import annotations

import itertools
import threading
import typing as t
from functools import partial

if t.TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    from dataverse_client.pool import PoolRun


class Checkpoints:
    """Writes in flight (`ClientPool.submit`) and the STATE messages held until they are done.

    A sink that returns from its batch with the batch's writes still in flight `track`s them.
    A STATE (`emit`) covers every record read before it, so it is emitted once every write
    tracked before it has ended without a failure: at once when nothing is in flight, else by
    the thread that ends the last of those writes (a checkpoint comes out while the target
    waits for more input). STATEs come out in the order they were given; after a failed write
    none of those given after it is emitted.
    """

    def __init__(self, emit: Callable[[dict], None]) -> None:
        """`emit` writes one STATE message."""
        self._emit = emit
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._last = 0  # the number of the latest write tracked
        #: Writes not ended, and failed ones (they hold back every later STATE), by number.
        self._runs: dict[int, tuple[PoolRun, frozenset[Hashable]]] = {}
        self._held: list[tuple[int, dict]] = []  # (the latest write before it, STATE)

    def track(self, run: PoolRun, keys: frozenset[Hashable] = frozenset()) -> None:
        """Hold back the STATEs given from now on until `run` has ended without a failure.

        `keys`: the rows `run` writes (`conflicts`).
        """
        with self._lock:
            self._last = number = next(self._numbers)
            self._runs[number] = (run, keys)
        run.add_done_callback(partial(self._ended, number))

    def emit(self, state: dict) -> None:
        """Emit `state` once the writes tracked so far are done (at once if they are)."""
        with self._lock:
            self._held.append((self._last, state))
            self._release()

    def in_flight(self) -> int:
        """Return how many tracked writes have not ended (or failed)."""
        with self._lock:
            return len(self._runs)

    def conflicts(self, keys: frozenset[Hashable]) -> bool:
        """Whether a write in flight writes one of `keys` (a later write must wait for it)."""
        with self._lock:
            runs = list(self._runs.values())
        return any(not run.done() and not keys.isdisjoint(written) for run, written in runs)

    def wait(self, keep: int = 0) -> None:
        """Wait until at most the `keep` latest writes are in flight; raise the first failure.

        On a failure (or an interruption) every write in flight is stopped first.
        """
        while True:
            with self._lock:
                runs = [run for run, _ in self._runs.values()]
            if len(runs) <= keep:
                return
            try:
                runs[0].wait()
            except BaseException:
                for run in runs:
                    run.abort()
                raise

    def _ended(self, number: int, run: PoolRun) -> None:
        with self._lock:
            if not run.failed():
                del self._runs[number]
            self._release()

    def _release(self) -> None:
        """Emit the held STATEs whose writes are all done, in order (the caller holds the lock)."""
        first = min(self._runs, default=None)
        while self._held and (first is None or self._held[0][0] < first):
            _, state = self._held.pop(0)
            self._emit(state)
