"""SIGTERM or SIGINT during a read: the tap stops with 128 + the signal, not 0 (the SDK's exit).

The signal is sent to the tap's own process while a page is written or while the next page is
awaited, as an orchestrator stopping the task would. The stop never waits for the page being
prefetched, and every STATE already emitted covers the records written before it.
"""

from __future__ import annotations

import os
import signal
import threading
import typing as t

import pytest

from .helpers import BAD_REQUEST, PageSpy, Recorder, answer, run_tap, wait_for_prefetch

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

PAGE = 10


@pytest.fixture(autouse=True)
def signal_handlers() -> Iterator[None]:
    """Put back pytest's handlers: the tap installs its own in this (main) thread."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_waiting_for_a_prefetched_page_stops_at_once(admin, signum: int) -> None:
    """The page 3 request hangs; the signal comes once page 2 is checkpointed.

    The tap exits 128 + signum without waiting for the hung request (its thread is still held
    when the run has stopped), with the STATE of page 2 as its last word.
    """
    spy = PageSpy([])
    recorder = Recorder([])
    release = threading.Event()
    held = threading.Event()

    def hang(request: requests.PreparedRequest) -> requests.Response:
        while recorder.checkpoints < 2:  # page 2 written and checkpointed
            threading.Event().wait(0.01)
        os.kill(os.getpid(), signum)
        held.set()
        release.wait(timeout=60)
        return answer(request, 400, BAD_REQUEST)  # not retried, nothing sent to the sandbox

    spy.answers[3] = hang
    try:
        with pytest.raises(SystemExit) as stopped:
            run_tap(["contact"], page_size=PAGE, prepare=spy.mount_on, collector=recorder)
        assert held.is_set()
        assert not release.is_set()  # the stop did not wait for the page in flight
    finally:
        release.set()
        wait_for_prefetch()

    assert stopped.value.code == 128 + signum
    assert recorder.written == 2 * PAGE
    third = spy.bodies[1]["@odata.nextLink"]
    assert recorder.states[-1]["bookmarks"]["contact"]["next_link"] == third


def test_a_signal_while_a_page_is_written_leaves_a_state_the_next_run_resumes_from(
    admin,
) -> None:
    """SIGTERM halfway through page 2, page 3 already requested: the last STATE is page 1's."""
    total = admin.state()["counts"]["contacts"]
    spy = PageSpy([])

    def halfway_through_page_two(number: int) -> None:
        if number == PAGE + PAGE // 2:
            assert spy.started[3].wait(timeout=30)
            os.kill(os.getpid(), signal.SIGTERM)

    recorder = Recorder([], halfway_through_page_two)
    with pytest.raises(SystemExit) as stopped:
        run_tap(["contact"], page_size=PAGE, prepare=spy.mount_on, collector=recorder)
    wait_for_prefetch()

    assert stopped.value.code == 128 + signal.SIGTERM
    assert recorder.written == PAGE + PAGE // 2
    assert recorder.checkpoints == 1
    second = spy.bodies[0]["@odata.nextLink"]
    assert recorder.states[-1]["bookmarks"]["contact"]["next_link"] == second

    resumed = run_tap(["contact"], page_size=PAGE, state=recorder.states[-1])
    ids = [r["contactid"] for r in recorder.records("contact") + resumed.records("contact")]
    assert len(set(ids)) == total  # nothing lost; page 2's first half is sent again
