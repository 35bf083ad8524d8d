"""Error mapping and the retry policy shared by streams and direct client calls."""

from __future__ import annotations

import pytest
from dataverse_client.client import (
    DataverseAPIError,
    DeltaTokenExpiredError,
    ForbiddenError,
    RetriableDataverseError,
    RetryPolicy,
)

from .fakes import response


def _error(status: int, code: str, message: str, headers: dict | None = None):
    return response(status, {"error": {"code": code, "message": message}}, headers=headers)


def test_throttling_is_retriable_with_retry_after() -> None:
    with pytest.raises(RetriableDataverseError) as info:
        RetryPolicy().validate(
            _error(429, "0x80072322", "Number of requests exceeded", {"Retry-After": "3"})
        )
    assert info.value.retry_after == 3


def test_expired_delta_token_and_forbidden_are_recognised() -> None:
    expired = "Version stamp associated with the client has expired. Please perform a full sync."
    with pytest.raises(DeltaTokenExpiredError):
        RetryPolicy().validate(_error(400, "0x80044352", expired))
    with pytest.raises(ForbiddenError):
        RetryPolicy().validate(
            _error(403, "0x80040220", "Principal user is missing prvReadnew_project")
        )


def test_error_message_carries_code_message_and_path_only() -> None:
    with pytest.raises(
        DataverseAPIError,
        match=r"400 0x0: Could not find a property named 'Name' \(GET /api/data/v9.2/contacts\)",
    ):
        RetryPolicy().validate(_error(400, "0x0", "Could not find a property named 'Name'"))


def test_wait_generator_honours_retry_after_else_backs_off_exponentially() -> None:
    policy = RetryPolicy(base=1, cap=4)
    waits = policy.wait_generator()
    waits.send(None)
    throttled = RetriableDataverseError("429", _error(429, "", "", {"Retry-After": "0.25"}))
    assert waits.send(throttled) == 0.25
    failed = RetriableDataverseError("503", _error(503, "", ""))
    backoffs = [waits.send(failed) for _ in range(5)]
    assert 1 <= backoffs[0] <= 2  # second attempt: base * 2**1, jittered down to half
    assert all(wait <= 4 for wait in backoffs)
