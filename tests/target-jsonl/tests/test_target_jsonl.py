"""Standard singer-sdk target tests plus the two behaviours this loader exists for."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner
from target_jsonl_lite.target import TargetJsonl

StandardTests = get_target_test_class(target_class=TargetJsonl, config={"output_dir": "unused"})


class TestTargetJsonlStandard(StandardTests):
    @pytest.fixture(scope="class")
    @classmethod
    def resource(cls, tmp_path_factory):
        return tmp_path_factory.mktemp("out")

    @pytest.fixture
    def runner(self, resource):
        # A fresh runner per test (as the SDK's own fixture does), writing to the class's temp dir.
        return TargetTestRunner(target_class=TargetJsonl, config={"output_dir": str(resource)})


SCHEMA = {
    "type": "SCHEMA",
    "stream": "contact",
    "key_properties": ["contactid"],
    "schema": {
        "type": "object",
        "properties": {
            "contactid": {"type": "string"},
            "modifiedon": {"type": ["string", "null"], "format": "date-time"},
            "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
}


def _record(contact_id: str, **extra: object) -> dict:
    return {"type": "RECORD", "stream": "contact", "record": {"contactid": contact_id, **extra}}


def _state(n: int) -> dict:
    return {"type": "STATE", "value": {"bookmarks": {"contact": {"page": n}}}}


class _Probe(io.StringIO):
    """stdin that checks, whenever the target asks for the next line, what is on disk."""

    def __init__(self, messages: list[dict], out_dir: Path, seen: list[tuple[int, int]]) -> None:
        super().__init__("".join(json.dumps(m) + "\n" for m in messages))
        self.out_dir = out_dir
        self.seen = seen
        self.stdout_states: io.StringIO | None = None

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        rows = sum(len(p.read_text().splitlines()) for p in self.out_dir.glob("*.jsonl"))
        written = "" if self.stdout_states is None else self.stdout_states.getvalue()
        states = len(written.splitlines())
        self.seen.append((rows, states))
        return super().readline(size)

    def __iter__(self):
        while line := self.readline():
            yield line


def test_state_is_forwarded_only_after_rows_are_written(tmp_path):
    messages = [SCHEMA, _record("a"), _record("b"), _state(1), _record("c"), _state(2)]
    seen: list[tuple[int, int]] = []
    probe = _Probe(messages, tmp_path, seen)
    out = io.StringIO()
    probe.stdout_states = out
    target = TargetJsonl(config={"output_dir": str(tmp_path)})
    with redirect_stdout(out):
        target.listen(probe)
    emitted = [json.loads(line) for line in out.getvalue().splitlines()]
    # Each state once, in order (the end-of-input drain does not repeat the last one).
    assert emitted == [
        {"bookmarks": {"contact": {"page": 1}}},
        {"bookmarks": {"contact": {"page": 2}}},
    ]
    # Right after the first STATE was read, both earlier rows are on disk and the state is out.
    assert (2, 1) in seen
    # Whenever a state had been forwarded, at least the rows before it were already written.
    for rows, states in seen:
        assert rows >= {0: 0, 1: 2, 2: 3}[states]
    files = list(tmp_path.glob("contact-*.jsonl"))
    assert len(files) == 1
    ids = [json.loads(x)["contactid"] for x in files[0].read_text().splitlines()]
    assert ids == ["a", "b", "c"]


def test_delete_marker_is_kept_without_record_metadata(tmp_path, caplog):
    messages = [
        SCHEMA,
        _record("a", modifiedon="2026-11-01T10:00:00Z"),
        _record("b", _sdc_deleted_at="2026-11-02T10:00:00+00:00"),
        _state(1),
    ]
    target = TargetJsonl(config={"output_dir": str(tmp_path), "timestamp_files": False})
    with redirect_stdout(io.StringIO()):
        target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    rows = [json.loads(x) for x in (tmp_path / "contact.jsonl").read_text().splitlines()]
    assert rows[0]["contactid"] == "a"
    assert "_sdc_deleted_at" not in rows[0]
    assert rows[0]["modifiedon"].startswith("2026-11-01T10:00:00")
    assert rows[1]["contactid"] == "b"
    assert rows[1]["_sdc_deleted_at"].startswith("2026-11-02T10:00:00")
    # The marker stays in the sink's schema too, so the SDK parses it instead of warning.
    assert "No schema for record field" not in caplog.text
