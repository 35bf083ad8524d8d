"""Run the tap in-process and collect what it writes."""

from __future__ import annotations

import contextlib
import json
import threading
import typing as t
from collections import defaultdict

import msgspec
import requests
from requests.adapters import HTTPAdapter
from singer_sdk.contrib.msgspec import MsgSpecWriter
from tap_dynamics365.tap import TapDynamics365

from .conftest import CONFIG, SANDBOX

Event = tuple[str, int]  # ("request", page number), ("record", record number), ("state", n)
BAD_REQUEST = json.dumps({"error": {"code": "0x80040203", "message": "Invalid argument"}}).encode()


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
    collector: Collector | None = None,
    **settings: t.Any,
) -> Collector:
    """Sync `streams` only; the collector holds the output even when the run was interrupted.

    `prepare` gets the tap before the sync (e.g. to mount a transport adapter on its session).
    After an `Interrupted` run, a page still being prefetched is waited for, so that its
    request does not land in the next test's request log.
    """
    collector = collector or Collector(stop_after_states)
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
    wait_for_prefetch()
    return collector


def wait_for_prefetch() -> None:
    """Wait for the page prefetch threads still running (a read stopped part-way leaves one)."""
    for thread in threading.enumerate():
        if thread.name.endswith("page prefetch"):
            thread.join(timeout=60)


def bookmark(collector: Collector, stream: str) -> dict[str, t.Any]:
    return collector.states[-1]["bookmarks"][stream]


def answer(request: requests.PreparedRequest, status: int, body: bytes) -> requests.Response:
    """A response made here, as the Web API would send it, without a request to the sandbox."""
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers["Content-Type"] = "application/json"
    response.url, response.request = t.cast("str", request.url), request
    return response


class PageSpy(HTTPAdapter):
    """Forwards to the sandbox; notes each contacts page request, and can answer one itself."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events
        self.started: defaultdict[int, threading.Event] = defaultdict(threading.Event)
        self.answers: dict[int, t.Callable[[requests.PreparedRequest], requests.Response]] = {}
        self.bodies: list[dict[str, t.Any]] = []  # pages the sandbox answered, in order
        self.requests = 0
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()

    def mount_on(self, tap: TapDynamics365) -> None:
        tap.client.session.mount(SANDBOX.dataverse.url, self)

    def send(self, request, **kwargs):
        if not request.path_url.split("?")[0].endswith("/contacts"):
            return super().send(request, **kwargs)
        with self._lock:
            self.requests += 1
            number = self.requests
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.events.append(("request", number))
        self.started[number].set()
        try:
            own = self.answers.get(number)
            response = own(request) if own else super().send(request, **kwargs)
        finally:
            with self._lock:
                self.in_flight -= 1
        if response.status_code == 200:
            self.bodies.append(response.json())
        return response


class Recorder(Collector):
    """Keeps the messages and notes each RECORD and STATE in the event list."""

    def __init__(
        self,
        events: list[Event],
        on_record: t.Callable[[int], None] | None = None,
        stop_after_states: int | None = None,
    ) -> None:
        super().__init__(stop_after_states)
        self.events = events
        self.on_record = on_record
        self.written = self.checkpoints = 0

    def write_message(self, message) -> None:
        super().write_message(message)
        kind = self.messages[-1]["type"]
        if kind == "RECORD":
            self.written += 1
            self.events.append(("record", self.written))
            if self.on_record is not None:
                self.on_record(self.written)
        elif kind == "STATE":
            self.checkpoints += 1
            self.events.append(("state", self.checkpoints))
