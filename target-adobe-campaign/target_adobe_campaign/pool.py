"""The pool of Campaign calls a batch runs concurrently, which a signal handler can stop."""

from __future__ import annotations

import typing as t
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

if t.TYPE_CHECKING:
    from collections.abc import Callable

T = t.TypeVar("T")


class CallPool(ThreadPoolExecutor):
    """A thread pool whose queued calls are skipped once `stop` is called.

    `stop` only sets a flag, so a signal handler may call it: `shutdown` takes a lock that the
    interrupted main thread may be holding (inside `submit`).
    """

    def __init__(self, max_workers: int) -> None:
        """Start no thread yet (as `ThreadPoolExecutor`)."""
        super().__init__(max_workers=max_workers, thread_name_prefix="campaign")
        self.stopped = False

    def stop(self) -> None:
        """Skip every call not started yet (those in flight end on their own)."""
        self.stopped = True

    def submit(self, fn: Callable[..., T], /, *args: t.Any, **kwargs: t.Any) -> Future[T]:
        """Queue `fn(*args, **kwargs)`, to be skipped (`CancelledError`) after `stop`."""
        return super().submit(self._unless_stopped, fn, *args, **kwargs)

    def _unless_stopped(self, fn: Callable[..., T], /, *args: t.Any, **kwargs: t.Any) -> T:
        if self.stopped:
            raise CancelledError
        return fn(*args, **kwargs)
