"""SIGTERM or SIGINT during a read: the tap stops with 128 + the signal, not 0 (the SDK's exit).

The signal is sent to the tap's own process from inside the response of a page of profiles,
as an orchestrator stopping the task would. Every STATE already emitted covers the pages read.
"""

from __future__ import annotations

import json
import os
import signal
import typing as t

import pytest
import requests
from tap_adobe_campaign.tap import TapAdobeCampaign

from .conftest import connection, profiles_only

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
def test_a_signal_mid_read_exits_non_zero_after_the_pages_read(
    campaign, capsys, signum: int
) -> None:
    settings = connection(campaign, page_size=PAGE)
    tap = TapAdobeCampaign(config=settings, catalog=profiles_only(settings))
    responses = 0

    def signal_on_third_page(response: requests.Response, *args: t.Any, **kwargs: t.Any) -> None:
        nonlocal responses
        responses += 1
        if responses == 3:
            os.kill(os.getpid(), signum)

    tap.client.session.hooks["response"].append(signal_on_third_page)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        tap.sync_all()

    assert stopped.value.code == 128 + signum
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert states, "the pages read before the signal were checkpointed"
    bookmark = states[-1]["bookmarks"]["profiles"]["replication_key_value"]
    assert bookmark == max(r["lastModified"] for r in records)
