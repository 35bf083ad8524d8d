"""What a plugin does on SIGTERM or SIGINT: stop where it is, emit no further STATE, exit non-zero.

Targets: singer-sdk 0.54's handler drains every sink again, even the one whose batch the signal
interrupted (`start_drain` hands it an empty batch, so nothing more is written), and then
emits the latest STATE: records not yet written would be checkpointed and never read again.
Taps: the SDK's handler exits 0, telling Meltano and the orchestrator the read completed.
Stopping at once loses nothing: every STATE already emitted covers written (or, for a tap,
emitted) records only, the next run resumes from the last one, and writes are idempotent
upserts.
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
