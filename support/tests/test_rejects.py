"""The rejects file and the run's counts, as both targets' sinks report into them."""

from __future__ import annotations

import json
import typing as t

import pytest
from sync_support.rejects import RejectsFile, Report, RunSummary

if t.TYPE_CHECKING:
    from pathlib import Path


class WithoutMetadata(Report):
    def kept(self, name: str, value: t.Any) -> bool:
        return not name.startswith("_sdc_")


@pytest.mark.parametrize("report_class", [Report, WithoutMetadata])
def test_a_reject_is_counted_logged_and_written_with_its_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, report_class: type[Report]
) -> None:
    summary = RunSummary(("upserted", "rejected"))
    rejects = RejectsFile(tmp_path / "rejects.jsonl")
    report = report_class(summary, rejects)
    report.add("events", "upserted", 2)
    record = {"id": "e1", "kind": "bounce", "_sdc_extracted_at": "2026-12-07T00:00:00Z"}

    report.reject("events", record, "e1", "contact not found", field="contact", status=404)
    rejects.close()

    assert summary.streams() == {"events": {"upserted": 2, "rejected": 1}}
    assert "Rejected events record e1: contact not found" in caplog.text
    (line,) = [json.loads(text) for text in rejects.path.read_text().splitlines()]
    assert (line["key"], line["reason"], line["field"], line["status"]) == (
        "e1",
        "contact not found",
        "contact",
        404,
    )
    assert ("_sdc_extracted_at" in line["record"]) is (report_class is Report)
    assert line["record"]["kind"] == "bounce"
