"""Service protection per application user: execution time (with a cost per row), concurrency,
the `x-ms-dop-hint` header, and the tenant's several application users.

Every test sets small limits and puts Microsoft's defaults back (conftest forgets the usage).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from crm_sandbox.testing import Sandbox

from tests.conftest import http_session, msal_app

EXECUTION_LIMIT = "0x80072321"
CONCURRENCY_LIMIT = "0x80072326"
DEFAULTS = {
    "window_seconds": 300,
    "requests": 6000,
    "execution_ms": 1_200_000,
    "concurrent": 52,
    "dop_hint": 4,
    "row_cost_ms": 0,
}


def u(sandbox: Sandbox, path: str) -> str:
    return sandbox.dataverse.api_url + path


@pytest.fixture
def limits(sandbox: Sandbox) -> Iterator[None]:
    """Usage forgotten before; Microsoft's defaults back after."""
    sandbox.admin.reset_limit_usage()
    yield
    sandbox.admin.set_limits(**DEFAULTS)


def credentials(sandbox: Sandbox) -> list[tuple[str, str]]:
    """(client id, secret) of every application user of the sandbox tenant, the main one first."""
    d = sandbox.dataverse
    others = [(a["client_id"], a["client_secret"]) for a in sandbox.info["app_users"]]
    return [(d.client_id, d.client_secret), *others]


def session_of(sandbox: Sandbox, client_id: str, secret: str) -> requests.Session:
    """A Web API session with a token of that app registration."""
    result = msal_app(sandbox, client_id, secret).acquire_token_for_client(
        scopes=[f"{sandbox.dataverse.url}/.default"]
    )
    session = http_session(sandbox)
    session.headers.update(
        {"Authorization": f"Bearer {result['access_token']}", "Accept": "application/json"}
    )
    return session


def upsert_sends(sandbox: Sandbox, session: requests.Session, count: int) -> requests.Response:
    """One UpsertMultiple of `count` new email send activities."""
    targets = [
        {
            "@odata.type": "Microsoft.Dynamics.CRM.acs_emailsend",
            "@odata.id": f"acs_emailsends(acs_eventid='sp-{uuid.uuid4().hex}')",
            "subject": "service protection",
        }
        for _ in range(count)
    ]
    return session.post(
        u(sandbox, "acs_emailsends/Microsoft.Dynamics.CRM.UpsertMultiple"),
        json={"Targets": targets},
    )


def get_batch(sandbox: Sandbox, session: requests.Session, parts: int) -> requests.Response:
    """One `$batch` of `parts` stand-alone `GET WhoAmI`."""
    lines = []
    for _ in range(parts):
        lines += [
            "--batch_sp",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "",
            "GET WhoAmI HTTP/1.1",
            "",
            "",
        ]
    body = "\r\n".join([*lines, "--batch_sp--", ""])
    return session.post(
        u(sandbox, "$batch"),
        data=body,
        headers={"Content-Type": "multipart/mixed; boundary=batch_sp"},
    )


def time_left(response: requests.Response) -> float:
    return float(response.headers["x-ms-ratelimit-time-remaining-xrm-requests"].replace(",", ""))


def test_the_tenant_has_several_application_users(sandbox: Sandbox) -> None:
    users = {}
    for client_id, secret in credentials(sandbox):
        who = session_of(sandbox, client_id, secret).get(u(sandbox, "WhoAmI"))
        assert who.status_code == 200, who.text
        users[client_id] = who.json()["UserId"]
    assert len(users) == len(set(users.values())) >= 4
    api = session_of(sandbox, *credentials(sandbox)[0])
    for client_id, user_id in users.items():
        row = api.get(u(sandbox, f"systemusers({user_id})?$select=applicationid")).json()
        assert row["applicationid"] == client_id


def test_rows_of_a_bulk_request_cost_execution_time_per_user(sandbox: Sandbox, limits) -> None:
    (main, main_secret), (other, other_secret) = credentials(sandbox)[:2]
    first, second = session_of(sandbox, main, main_secret), session_of(sandbox, other, other_secret)
    sandbox.admin.set_limits(row_cost_ms=20, execution_ms=1000)

    written = upsert_sends(sandbox, first, 60)  # 60 rows x 20 ms: past the 1000 ms budget
    assert written.status_code == 204, written.text
    assert time_left(written) == 0

    throttled = first.get(u(sandbox, "WhoAmI"))
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 300
    assert throttled.json()["error"] == {
        "code": EXECUTION_LIMIT,
        "message": "Combined execution time of incoming requests exceeded limit of 1,000 "
        "milliseconds over time window of 300 seconds. Decrease number of concurrent requests "
        "or reduce the duration of requests and try again later.",
    }
    # The budget is the user's: another application user carries on.
    assert second.get(u(sandbox, "WhoAmI")).status_code == 200


def test_every_part_of_a_batch_costs_execution_time(sandbox: Sandbox, limits) -> None:
    session = session_of(sandbox, *credentials(sandbox)[0])
    sandbox.admin.set_limits(row_cost_ms=5)
    small = get_batch(sandbox, session, 1)
    assert small.status_code == 200, small.text
    before = time_left(small)
    large = get_batch(sandbox, session, 40)
    assert large.status_code == 200, large.text
    assert before - time_left(large) >= 40 * 5  # at least the 40 parts' cost


def test_bulk_rows_cost_nothing_by_default(sandbox: Sandbox, limits) -> None:
    session = session_of(sandbox, *credentials(sandbox)[0])
    written = upsert_sends(sandbox, session, 200)
    assert written.status_code == 204, written.text
    assert time_left(written) > 1_200_000 - 60_000  # its real handling time only


def test_concurrent_requests_past_the_limit_are_refused_at_once(sandbox: Sandbox, limits) -> None:
    (main, main_secret), (other, other_secret) = credentials(sandbox)[:2]
    first, second = session_of(sandbox, main, main_secret), session_of(sandbox, other, other_secret)
    sandbox.admin.set_limits(concurrent=1, row_cost_ms=3000)
    slow: list[requests.Response] = []
    worker = threading.Thread(target=lambda: slow.append(upsert_sends(sandbox, first, 1)))
    worker.start()
    try:
        time.sleep(1)  # the slow request is being handled (3 s)
        concurrent = first.get(u(sandbox, "WhoAmI"))
        assert concurrent.status_code == 429
        assert concurrent.headers["Retry-After"] == "1"
        assert concurrent.json()["error"] == {
            "code": CONCURRENCY_LIMIT,
            "message": "Number of concurrent requests exceeded the limit of 1.",
        }
        assert second.get(u(sandbox, "WhoAmI")).status_code == 200  # another user's own limit
    finally:
        worker.join()
    assert slow[0].status_code == 204


def test_dop_hint_header_is_configurable(sandbox: Sandbox, limits) -> None:
    session = session_of(sandbox, *credentials(sandbox)[0])
    assert session.get(u(sandbox, "WhoAmI")).headers["x-ms-dop-hint"] == "4"
    sandbox.admin.set_limits(dop_hint=7)
    assert session.get(u(sandbox, "WhoAmI")).headers["x-ms-dop-hint"] == "7"
    assert sandbox.admin.limits()["dop_hint"] == 7


def test_unknown_limit_is_refused(sandbox: Sandbox) -> None:
    resp = http_session(sandbox).patch(f"{sandbox.dataverse.admin_url}/limits", json={"rows": 1})
    assert resp.status_code == 400
