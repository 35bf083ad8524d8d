"""What the target does on SIGTERM or SIGINT: stop where it is, emitting no further STATE.

singer-sdk 0.54's handler drains every sink again, even the one whose batch the signal
interrupted (`start_drain` hands it an empty batch, so nothing more is written), and then
emits the latest STATE: records not yet written would be checkpointed and never read again.
Stopping at once loses nothing: every STATE already emitted covers written records only, the
next run resumes from the last one, and writes are idempotent upserts.
"""

from __future__ import annotations

import logging
import signal
import typing as t
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

if t.TYPE_CHECKING:
    from collections.abc import Callable

T = t.TypeVar("T")

#: Exit status of a run stopped by a signal, as a shell reports one (128 + the signal number).
SIGNAL_EXIT_BASE = 128


def stop_on_signal(logger: logging.Logger, signum: int) -> t.NoReturn:
    """Log one line and exit with 128 + `signum`; unwinds whatever write was in progress."""
    name = signal.Signals(signum).name
    logger.warning(
        "Stopped by %s before the end of the input: records after the last STATE emitted are "
        "not checkpointed; the next run resumes from that STATE",
        name,
    )
    raise SystemExit(SIGNAL_EXIT_BASE + signum)


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
