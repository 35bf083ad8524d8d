"""The retry policy both vendors' clients share: a time budget per request, not a count.

A request failing with one of `retriable_exceptions` is retried for up to `max_retry_seconds`,
counted from its first attempt. A `Retry-After` the server sent (an exception's `retry_after`)
is honoured as given, never shortened; otherwise the wait grows exponentially (`base` * 2**n,
capped at `cap` seconds, with jitter). When the next wait would end past the budget, the
request fails at once with `RetryBudgetExceededError`, instead of sleeping past the budget or
retrying before the server allows (backoff's own `max_time` would shorten that last wait).
`max_retries`, when set, also caps the number of retries. Each wait is logged in one line.
A vendor's client subclasses `TimeBudgetRetry` with how its responses map to errors.
"""

from __future__ import annotations

import random
import time
import typing as t
from dataclasses import dataclass

import backoff
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Generator

    from backoff.types import Details

#: Long enough to wait out Dataverse's 5-minute service protection window.
DEFAULT_MAX_RETRY_SECONDS = 900


def wait_reason(exception: BaseException | None) -> str:
    """Why a retry waits: the server's `Retry-After`, or exponential backoff."""
    retry_after = getattr(exception, "retry_after", None)
    return f"Retry-After: {retry_after:g}" if retry_after is not None else "backoff"


class RetryBudgetExceededError(FatalAPIError):
    """Retrying a request any longer would exceed `max_retry_seconds`."""


@dataclass(frozen=True)
class TimeBudgetRetry:
    """When to retry and how long to wait (see the module's docstring)."""

    max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS
    max_retries: int | None = None
    base: float = 1.0
    cap: float = 60.0

    retriable_exceptions: t.ClassVar[tuple[type[Exception], ...]] = (
        ConnectionResetError,
        RetriableAPIError,
        requests.exceptions.Timeout,
        requests.exceptions.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.ContentDecodingError,
    )

    @staticmethod
    def is_permanent(exception: Exception) -> bool:
        """TLS verification errors are `ConnectionError`s too, but retrying cannot fix them."""
        return isinstance(exception, requests.exceptions.SSLError)

    @property
    def max_tries(self) -> int | None:
        """Return the number of attempts in total (None: only the time budget limits them)."""
        return None if self.max_retries is None else self.max_retries + 1

    def wait_generator(self) -> Generator[float, Exception | None, None]:
        """Yield waits for `backoff`, which sends in each failure (primed with None)."""
        started = time.monotonic()
        attempt = 0
        exception = yield 0.0  # primed by backoff with send(None)
        while True:
            retry_after = getattr(exception, "retry_after", None)
            if retry_after is not None:
                wait = retry_after
            else:
                wait = min(self.cap, self.base * 2**attempt) * random.uniform(0.5, 1.0)
            spent = time.monotonic() - started
            if spent + wait > self.max_retry_seconds:
                msg = (
                    f"gave up after {spent:.0f} s of retries: waiting {wait:.0f} s more "
                    f"({wait_reason(exception)}) would exceed max_retry_seconds="
                    f"{self.max_retry_seconds:g}; last error: {exception}"
                )
                raise RetryBudgetExceededError(msg) from exception
            attempt += 1
            exception = yield wait

    def log_wait(self, logger: logging.Logger, details: Details) -> None:
        """Log one line per wait: how long, why, the budget used, and the failure."""
        exception = details.get("exception")
        logger.warning(
            "Retrying in %.1f s (%s; attempt %d failed; %.0f of max_retry_seconds=%g used): %s",
            details["wait"],
            wait_reason(exception),
            details["tries"],
            details["elapsed"],
            self.max_retry_seconds,
            exception,
        )

    def wrap(
        self,
        func: Callable[..., requests.Response],
        *,
        giveup: Callable[[Exception], bool] | None = None,
        on_backoff: Callable[[Details], None] | None = None,
    ) -> Callable[..., requests.Response]:
        """Decorate `func` with this policy (what the SDK does for stream requests)."""
        return backoff.on_exception(
            self.wait_generator,
            self.retriable_exceptions,
            max_tries=self.max_tries,
            giveup=lambda exc: self.is_permanent(exc) or bool(giveup and giveup(exc)),
            jitter=None,
            on_backoff=on_backoff,
            logger=None,
        )(func)
