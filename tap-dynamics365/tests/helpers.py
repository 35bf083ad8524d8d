"""Run the tap in-process and collect what it writes."""

from __future__ import annotations

import contextlib
import typing as t

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter
from tap_dynamics365.tap import TapDynamics365

from .conftest import CONFIG


class Interrupted(Exception):
    """Raised by the collector to kill a run, like a SIGKILL between two messages."""


class Collector(MsgSpecWriter):
    """Keeps messages (as plain JSON data) instead of writing them to stdout."""

    def __init__(self, stop_after_states: int | None = None) -> None:
        super().__init__()
        self.messages: list[dict[str, t.Any]] = []
        self.stop_after_states = stop_after_states

    def write_message(self, message) -> None:
        self.messages.append(msgspec.json.decode(self.serialize_message(message)))
        if self.stop_after_states is not None and len(self.states) >= self.stop_after_states:
            raise Interrupted

    def records(self, stream: str) -> list[dict[str, t.Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]


def run_tap(
    streams: t.Iterable[str],
    *,
    state: dict | None = None,
    stop_after_states: int | None = None,
    prepare: t.Callable[[TapDynamics365], None] | None = None,
    **settings: t.Any,
) -> Collector:
    """Sync `streams` only; the collector holds the output even when the run was interrupted.

    `prepare` gets the tap before the sync (e.g. to mount a transport adapter on its session).
    """
    collector = Collector(stop_after_states)
    tap = TapDynamics365(
        config={**CONFIG, **settings},
        state=state or {},
        message_writer=collector,
        parse_env_config=False,
    )
    wanted = set(streams)
    for stream in tap.streams.values():
        stream.selected = stream.name in wanted
    if prepare is not None:
        prepare(tap)
    with contextlib.suppress(Interrupted):
        tap.sync_all()
    return collector


def bookmark(collector: Collector, stream: str) -> dict[str, t.Any]:
    return collector.states[-1]["bookmarks"][stream]
