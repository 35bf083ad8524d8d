"""Auth, throttling and error handling against the sandbox."""

from __future__ import annotations

import json
import time

import pytest
import requests
from dataverse_client.auth import AuthenticationError
from dataverse_client.client import DataverseClient
from requests.adapters import HTTPAdapter
from sync_support.retry import RetryBudgetExceededError
from tap_dynamics365.tap import TapDynamics365

from .conftest import CONFIG
from .helpers import Collector, run_tap


def _token_requests(admin) -> list[dict]:
    return [r for r in admin.requests() if r["app"] == "entra" and r["method"] == "POST"]


def test_token_is_reused_across_requests(admin) -> None:
    run_tap(["contact"], page_size=10)
    api_calls = [r for r in admin.requests() if r["app"] == "dataverse"]
    assert len(api_calls) > 10
    assert len(_token_requests(admin)) == 1


def test_revoked_token_is_renewed_once_on_401(admin) -> None:
    client = DataverseClient.from_config(CONFIG)
    client.get_json("WhoAmI")
    admin.revoke_tokens()
    assert client.get_json("WhoAmI")["UserId"]
    statuses = [r["status"] for r in admin.requests() if r["path"].endswith("/WhoAmI")]
    assert statuses == [200, 401, 200]
    assert len(_token_requests(admin)) == 2


def test_entra_error_is_clear_and_does_not_leak_the_secret(admin) -> None:
    secret = "definitely-wrong-secret"
    client = DataverseClient.from_config({**CONFIG, "client_secret": secret})
    with pytest.raises(AuthenticationError) as info:
        client.get_json("WhoAmI")
    message = str(info.value)
    assert "invalid_client" in message
    assert "AADSTS7000215" in message
    assert secret not in message


def test_429_waits_for_retry_after_then_succeeds(admin) -> None:
    admin.inject_429(2, retry_after=1, path="contacts")
    started = time.monotonic()
    collector = run_tap(["contact"])
    assert time.monotonic() - started >= 2
    assert collector.records("contact")
    statuses = [r["status"] for r in admin.requests() if r["path"].endswith("/contacts")]
    assert statuses[:3] == [429, 429, 200]


def test_a_retry_after_longer_than_the_time_budget_fails_at_once(admin) -> None:
    admin.inject_429(1, retry_after=5, path="WhoAmI")
    client = DataverseClient.from_config({**CONFIG, "max_retry_seconds": 3})
    with pytest.raises(RetryBudgetExceededError, match=r"waiting 5 s more \(Retry-After: 5\)"):
        client.get_json("WhoAmI")
    statuses = [r["status"] for r in admin.requests() if r["path"].endswith("/WhoAmI")]
    assert statuses == [429]  # not retried before the server allows, nor slept past the budget


def test_503_is_retried_by_direct_client_calls_too(admin) -> None:
    admin.inject_503(1, path="WhoAmI")
    assert DataverseClient.from_config(CONFIG).get_json("WhoAmI")["UserId"]


FORBIDDEN = json.dumps(
    {"error": {"code": "0x80040220", "message": "Principal user is missing prvReadContact"}}
).encode()


class _ForbidContacts(HTTPAdapter):
    """Answers GET …/contacts like Dataverse does for a user without read privilege."""

    def send(self, request, **kwargs):
        if request.path_url.split("?")[0].endswith("/contacts"):
            response = requests.Response()
            response.status_code = 403
            response._content = FORBIDDEN
            response.url, response.request = request.url, request
            return response
        return super().send(request, **kwargs)


def _tap_without_contact_access(**settings) -> tuple[TapDynamics365, Collector]:
    collector = Collector()
    tap = TapDynamics365(
        config={**CONFIG, **settings}, message_writer=collector, parse_env_config=False
    )
    tap.client.session.mount(CONFIG["resource_url"], _ForbidContacts())
    for stream in tap.streams.values():
        stream.selected = stream.name in {"contact", "account"}
    return tap, collector


def test_forbidden_table_is_skipped_when_configured(admin, caplog) -> None:
    tap, collector = _tap_without_contact_access(skip_forbidden_tables=True)
    tap.sync_all()
    assert collector.records("account")
    assert collector.records("contact") == []
    assert any("Skipping table 'contact'" in r.message for r in caplog.records)


def test_forbidden_table_fails_the_run_by_default(admin) -> None:
    tap, _ = _tap_without_contact_access()
    with pytest.raises(Exception, match="403 0x80040220"):
        tap.sync_all()
