"""One page request on a worker thread, while the caller turns the previous page into records."""

from __future__ import annotations

import threading
import typing as t
from concurrent.futures import Future, wait

if t.TYPE_CHECKING:
    from collections.abc import Callable

T = t.TypeVar("T")
#: The longest a wait for a page goes without the main thread running pending signal handlers.
SIGNAL_CHECK_SECONDS = 0.5


def in_background(fetch: Callable[[], T], *, name: str) -> Future[T]:
    """Start `fetch` on a new daemon thread; `result()` returns its value or raises its error.

    A daemon thread rather than a `ThreadPoolExecutor`: the interpreter joins executor threads
    when it exits, so a tap stopped by a signal would wait for the request in flight (up to the
    request timeout, or a whole retry budget) before exiting.
    """
    future: Future[T] = Future()

    def run() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fetch())
        except BaseException as exc:  # handed to whoever calls result()
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def result_of(future: Future[T]) -> T:
    """Wait for `future` and return its result (or raise its error), handling signals meanwhile.

    Waits in slices: a signal delivered to another thread does not interrupt the main thread's
    lock wait, and Python runs signal handlers only in the main thread, between two steps.
    """
    while not wait([future], timeout=SIGNAL_CHECK_SECONDS).done:
        pass
    return future.result()
