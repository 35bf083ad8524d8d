"""What a target does on SIGTERM or SIGINT: stop where it is, emitting no further STATE.

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
