"""The import workflows' API client: the 10-minute rule, a run in progress, a lost answer."""

from __future__ import annotations

import typing as t

import pytest
from campaign_client.client import CampaignAPIError
from campaign_client.import_files import ImportFileWriter, read_rejects
from campaign_client.imports import ImportTimeoutError, ImportWorkflows, WorkflowError

HREF = "https://api/wf/activities/activity/s1/trigger"
FILE = "d365_loads/imports/a.csv"


class Response:
    def __init__(self, body: t.Any, content_type: str) -> None:
        self.body, self.headers = body, {"Content-Type": content_type}
        self.text = body if isinstance(body, str) else ""

    def json(self) -> t.Any:
        return self.body


def run(id_: int, status: str, file: str = FILE, **extra: t.Any) -> dict[str, t.Any]:
    return {"id": id_, "status": status, "parameters": {"fileName": file}, **extra}


class FakeClient:
    """Answers the signal with `answers` in turn; the GET shows `runs` in turn."""

    def __init__(self, answers: list[t.Any], runs: list[dict[str, t.Any] | None]) -> None:
        self.answers, self.runs, self.posts = answers, runs, 0

    def get_json(self, path: str) -> dict[str, t.Any]:
        last = self.runs.pop(0) if len(self.runs) > 1 else self.runs[0]
        return {
            "activities": {"activity": {"signal1": {"trigger": {"href": HREF}}}},
            "lastRun": last,
        }

    def request(self, method: str, href: str, *, json: t.Any) -> Response:
        assert (method, href, json["parameters"]) == ("POST", HREF, {"fileName": FILE})
        self.posts += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def workflows(client: FakeClient) -> tuple[ImportWorkflows, list[float]]:
    slept: list[float] = []
    clock = iter(range(10_000))
    return (
        ImportWorkflows(
            client,  # type: ignore[arg-type]
            source="test",
            sleep=slept.append,
            clock=lambda: float(next(clock)),
        ),
        slept,
    )


def test_too_soon_and_busy_are_waited_out_then_the_run_is_polled() -> None:
    busy = CampaignAPIError(409, "", "still processing run 3", "POST /trigger")
    client = FakeClient(
        [
            Response("cannot be triggered more often than every 600 seconds", "text/plain"),
            busy,
            Response({"lastRun": run(4, "inProgress")}, "application/json"),
        ],
        [
            run(3, "finished", "old.csv"),
            run(3, "finished", "old.csv"),
            run(3, "finished", "old.csv"),
            run(4, "inProgress"),
            run(4, "finished", counts={"read": 2, "inserted": 2}),
        ],
    )
    wf, slept = workflows(client)
    done = wf.run("WKF", FILE, budget_seconds=1000)
    assert (done.id, done.counts.inserted, client.posts) == (4, 2, 3)
    assert slept[:2] == [0.5, 1.0]


def test_a_signal_already_taken_is_not_sent_again() -> None:
    client = FakeClient([], [run(7, "inProgress"), run(7, "finished")])
    wf, _ = workflows(client)
    assert wf.run("WKF", FILE, budget_seconds=100).id == 7
    assert client.posts == 0


def test_an_erroneous_run_and_the_budget() -> None:
    client = FakeClient([], [run(2, "erroneous", error="The file is empty")])
    with pytest.raises(WorkflowError, match="erroneous: The file is empty"):
        workflows(client)[0].run("WKF", FILE, budget_seconds=100)
    client = FakeClient([], [run(2, "inProgress")])
    with pytest.raises(ImportTimeoutError):
        workflows(client)[0].run("WKF", FILE, budget_seconds=5)


def test_files_and_rejects_round_trip() -> None:
    import io

    out = io.StringIO()
    writer = ImportFileWriter(out, ["externalId", "blackListEmail", "location.city", "age"])
    writer.write({"externalId": "a,1", "blackListEmail": True, "age": 3.0})
    assert out.getvalue() == 'externalId,blackListEmail,location.city,age\n"a,1",1,,3\n'
    [line] = read_rejects('record,reason,externalId\n2,"bad, value",x\n')
    assert (line.record, line.reason, line.cells) == (2, "bad, value", {"externalId": "x"})
