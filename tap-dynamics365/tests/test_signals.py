"""SIGTERM or SIGINT during a read: the tap stops with 128 + the signal, not 0 (the SDK's exit).

The signal is sent to the tap's own process from inside the response of a page, as an
orchestrator stopping the task would. Every STATE already emitted covers the pages read before.
"""

from __future__ import annotations

import os
import signal
import typing as t

import pytest
import requests
from tap_dynamics365.tap import TapDynamics365

from .helpers import Collector, run_tap

if t.TYPE_CHECKING:
    from collections.abc import Iterator

PAGE = 10


@pytest.fixture(autouse=True)
def signal_handlers() -> Iterator[None]:
    """Put back pytest's handlers: the tap installs its own in this (main) thread."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_read_exits_non_zero_after_the_pages_read(admin, signum: int) -> None:
    responses = 0
    collected: list[Collector] = []

    def signal_on_third_page(response: requests.Response, *args: t.Any, **kwargs: t.Any) -> None:
        nonlocal responses
        responses += 1
        if responses == 3:
            os.kill(os.getpid(), signum)

    def prepare(tap: TapDynamics365) -> None:
        tap.client.session.hooks["response"].append(signal_on_third_page)
        collected.append(t.cast("Collector", tap.message_writer))

    with pytest.raises(SystemExit) as stopped:
        run_tap(["contact"], page_size=PAGE, prepare=prepare)

    assert stopped.value.code == 128 + signum
    (output,) = collected
    assert len(output.records("contact")) == 2 * PAGE  # the pages before the signal
    bookmark = output.states[-1]["bookmarks"]["contact"]
    assert "next_link" in bookmark  # the resumed run reads on from page 3
