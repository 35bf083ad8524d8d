"""The shared Dataverse Web API client: session, TLS, auth, errors and the retry policy.

The tap's streams and `target-dynamics365` both use this module, so the vendor's auth,
session and retry behaviour exist once. Streams hand `RetryPolicy.wrap` to the SDK as their
request decorator and `RetryPolicy.validate` as their response check; direct calls
(`get_json`, `iter_values`, `post`, `patch`) go through the same two.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
import threading
import time
import typing as t
from collections import deque
from http import HTTPStatus
from http.cookiejar import Cookie, DefaultCookiePolicy
from urllib.parse import urlsplit
from urllib.request import Request

import msgspec
import requests
from requests.adapters import HTTPAdapter
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from sync_support.http_settings import ca_bundle_errors
from sync_support.progress import CallCounts
from sync_support.retry import (
    DEFAULT_MAX_RETRY_SECONDS,
    TimeBudgetRetry,
)

from dataverse_client.auth import ClientCertificate, DataverseAuthenticator
from dataverse_client.session import VerifyingSession

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from backoff.types import Details

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_API_VERSION = "v9.2"
#: Default time budget of one request's retries: Dataverse's throttling windows are 5 minutes.
EXPIRED_VERSION_STAMP = "0x80044352"  # delta token older than ExpireChangeTrackingInDays

#: A tenant id (GUID) or one tenant's domain name (not `common` or `organizations`).
_TENANT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
#: Sent with every request, as Microsoft's Web API samples do.
ODATA_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "If-None-Match": "null",
}


class DataverseAPIError(FatalAPIError):
    """A non-retriable Web API error, carrying Dataverse's `{"error":{"code","message"}}`."""

    def __init__(self, status: int, code: str, message: str, request: str) -> None:
        """Keep the HTTP status, Dataverse's hex code and message, and `METHOD path`."""
        super().__init__(f"{status} {code or '-'}: {message} ({request})")
        self.status = status
        self.code = code
        self.error_message = message


class ForbiddenError(DataverseAPIError):
    """403: the application user lacks a privilege on the table."""


class DeltaTokenExpiredError(DataverseAPIError):
    """The change-tracking token is older than the org keeps changes; a full sync is needed."""


class RetriableDataverseError(RetriableAPIError):
    """429, 503 or another transient 5xx; `retry_after` holds the server's hint in seconds."""

    def __init__(self, message: str, response: requests.Response) -> None:
        """Read `Retry-After` (seconds) from the response, when present."""
        super().__init__(message, response)
        self.retry_after = _retry_after_seconds(response)


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP-date; Dataverse sends seconds, so back off normally instead
        return None


class _ErrorBody(msgspec.Struct):
    code: str = ""
    message: str = ""


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody | None = None


_error_decoder = msgspec.json.Decoder(_ErrorEnvelope)


def parse_error(response: requests.Response) -> tuple[str, str]:
    """Return Dataverse's (code, message) for an error response, or ("", reason/text)."""
    try:
        body = _error_decoder.decode(response.content).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        body = None
    if body is None:
        return "", (response.text[:500] or response.reason or "")
    return body.code, body.message


def is_throttled(exception: Exception) -> bool:
    """Whether `exception` is a service protection refusal (429: the user is over a limit)."""
    return (
        isinstance(exception, RetriableDataverseError)
        and exception.response is not None
        and exception.response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    )


@dataclasses.dataclass(frozen=True)
class RetryPolicy(TimeBudgetRetry):
    """`TimeBudgetRetry` for Dataverse: 429 and 5xx are retried, the rest raise typed errors.

    `hand_back_throttling`: a 429 is raised at once instead of waited out, for a caller that
    can send the request as another application user (`pool.ClientPool`).
    """

    hand_back_throttling: bool = False

    def is_permanent(self, exception: Exception) -> bool:  # type: ignore[override]
        """TLS errors; and 429s when they are handed back."""
        return TimeBudgetRetry.is_permanent(exception) or (
            self.hand_back_throttling and is_throttled(exception)
        )

    def validate(self, response: requests.Response) -> None:
        """Raise the matching error for a failed response; return for 1xx-3xx."""
        status = response.status_code
        if status < HTTPStatus.BAD_REQUEST:
            return
        code, message = parse_error(response)
        request = f"{response.request.method} {urlsplit(response.url).path}"
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            msg = f"{status} {code or '-'}: {message} ({request})"
            raise RetriableDataverseError(msg, response)
        if code == EXPIRED_VERSION_STAMP:
            raise DeltaTokenExpiredError(status, code, message, request)
        if status == HTTPStatus.FORBIDDEN:
            raise ForbiddenError(status, code, message, request)
        raise DataverseAPIError(status, code, message, request)


def connection_errors(config: Mapping[str, t.Any]) -> list[str]:
    """List errors JSON Schema cannot express: tenant, https endpoints, CA file, one credential.

    The tap and target-dynamics365 both validate their settings with this.
    """
    errors = []
    tenant = config.get("tenant_id")
    if tenant is not None and not _TENANT.fullmatch(tenant):
        errors.append(
            "tenant_id must be the directory (tenant) id, a GUID, or one tenant's domain "
            f"such as contoso.onmicrosoft.com, got '{tenant}'"
        )
    for key in ("resource_url", "authority_host"):
        value = config.get(key)
        if value is not None and not value.startswith("https://"):
            errors.append(f"{key} must be an https:// URL, got '{value}'")
    errors += ca_bundle_errors(config)
    if config.get("client_certificate_path"):
        if not config.get("client_certificate_thumbprint"):
            errors.append("client_certificate_thumbprint is required with a certificate")
    elif not config.get("client_secret"):
        errors.append(
            "client_secret is required and must not be empty (or set client_certificate_path "
            "+ client_certificate_thumbprint)"
        )
    return errors


class NoAffinityCookies(DefaultCookiePolicy):
    """Refuses the web servers' affinity cookies (`ARRAffinity*`).

    Without them requests spread over the environment's web servers, each of which keeps its
    own service protection limits (Microsoft's advice for parallel requests).
    """

    def set_ok(self, cookie: Cookie, request: Request) -> bool:
        """Accept any cookie but an affinity one."""
        return not cookie.name.startswith("ARRAffinity") and super().set_ok(cookie, request)


#: Microsoft's execution time limit per user: 1200 s per 300 s sliding window, 4 s a second.
EXECUTION_SECONDS_PER_WINDOW_SECOND = 1200 / 300
TIME_REMAINING = "x-ms-ratelimit-time-remaining-xrm-requests"


class ExecutionBudget:
    """A client's view of its user's execution time budget (service protection).

    Dataverse refuses a request (429) when the execution time of the user's requests that ended
    in the last window (300 s) reaches the budget (1200 s), and says in every answer how much is
    left (`x-ms-ratelimit-time-remaining-xrm-requests`). From the answers this keeps the budget
    (the most left plus the answer's own time: the first answer's), the window (the budget at
    4 s a second, Microsoft's ratio) and the time of each answer; `free_at` tells when the
    server will take the next request, so that a caller can wait for it instead of sending a
    request that would be refused. The client measures each request's time from its side
    (`response.elapsed`, a little more than the server counts), so it waits rather too long
    than too short. Without the header (or before the first answer) nothing is ever waited for.
    """

    def __init__(self) -> None:
        """Know nothing yet."""
        self.budget_ms = 0.0
        self.remaining_ms: float | None = None  # as the last answer said
        self._charges: deque[tuple[float, float]] = deque()  # (answered at, ms), oldest first
        self._lock = threading.Lock()

    @property
    def window_seconds(self) -> float:
        """The service protection window the budget is for (0 until it is known)."""
        return self.budget_ms / 1000 / EXECUTION_SECONDS_PER_WINDOW_SECOND

    def record(self, remaining_ms: float, elapsed_ms: float, now: float) -> None:
        """Count an answered request's time (not a 429's: a refused request costs nothing)."""
        with self._lock:
            self.remaining_ms = remaining_ms
            self.budget_ms = max(self.budget_ms, remaining_ms + elapsed_ms)
            self._charges.append((now, elapsed_ms))
            horizon = now - self.window_seconds
            while self._charges and self._charges[0][0] <= horizon:
                self._charges.popleft()

    def free_at(self, now: float) -> float:
        """Return when the server takes a request: `now`, or once enough time left the window."""
        with self._lock:
            if not self.budget_ms:
                return now
            window = self.window_seconds
            live = [(at, ms) for at, ms in self._charges if at > now - window]
        used = sum(ms for _, ms in live)
        for at, ms in live:
            if used < self.budget_ms:
                break
            used -= ms
            now = at + window
        return now


@dataclasses.dataclass
class ServerHints:
    """What the server last said about how to call it."""

    dop_hint: int | None = None  # `x-ms-dop-hint`: the degree of parallelism it recommends
    #: The user's execution time budget as the answers' `x-ms-ratelimit-time-remaining-…` tell.
    budget: ExecutionBudget = dataclasses.field(default_factory=ExecutionBudget)

    def read(self, response: requests.Response, *args: t.Any, **kwargs: t.Any) -> None:
        """Keep the hints of a response (a `requests` response hook)."""
        value = response.headers.get("x-ms-dop-hint")
        if value is not None and value.isdigit() and int(value) > 0:
            self.dop_hint = int(value)
        remaining = _milliseconds(response.headers.get(TIME_REMAINING))
        if remaining is not None and response.status_code != HTTPStatus.TOO_MANY_REQUESTS:
            elapsed = response.elapsed.total_seconds() * 1000
            self.budget.record(remaining, elapsed, time.monotonic())


def _milliseconds(value: str | None) -> float | None:
    """`1,199,523.00` (as Dataverse writes it) → 1199523.0; None when absent or unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value.replace(",", "")))
    except ValueError:
        return None


class DataverseClient:
    """One authenticated `requests.Session` for one Dataverse environment's Web API."""

    def __init__(
        self,
        *,
        resource_url: str,
        tenant_id: str,
        client_id: str,
        client_secret: str | None = None,
        certificate: ClientCertificate | None = None,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        api_version: str = DEFAULT_API_VERSION,
        ca_bundle: str | None = None,
        timeout: float = 300,
        max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS,
        max_retries: int | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """Build the session (OData headers, CA bundle) and the MSAL authenticator."""
        self.client_id = client_id
        self.resource_url = resource_url.rstrip("/")
        self.api_url = f"{self.resource_url}/api/data/{api_version}/"
        self.timeout = timeout
        self.retry = RetryPolicy(max_retry_seconds=max_retry_seconds, max_retries=max_retries)
        self.logger = logger or logging.getLogger(__name__)
        self.session = VerifyingSession(ca_bundle or True)
        self.session.headers.update(ODATA_HEADERS)
        self.calls = CallCounts()  # responses and retry waits, for the taps' progress lines
        self.calls.count_responses(self.session)
        self.hints = ServerHints()
        self.session.hooks["response"].append(self.hints.read)
        self.authenticator = DataverseAuthenticator(
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            certificate=certificate,
            resource_url=self.resource_url,
            authority_host=authority_host,
            verify=ca_bundle or True,
        )
        self.session.auth = self.authenticator
        self._send = self.retry.wrap(self._send_once, on_backoff=self.log_backoff)

    def for_pool(self, connections: int) -> DataverseClient:
        """Return this client as one user of a `ClientPool`: same session, token and hints.

        The copy hands 429s back (`RetryPolicy.hand_back_throttling`); the session keeps up to
        `connections` connections open and refuses affinity cookies (`NoAffinityCookies`).
        """
        self.session.mount("https://", HTTPAdapter(pool_maxsize=max(connections, 10)))
        self.session.cookies.set_policy(NoAffinityCookies())
        pooled = copy.copy(self)
        pooled.retry = dataclasses.replace(self.retry, hand_back_throttling=True)
        pooled._send = pooled.retry.wrap(pooled._send_once, on_backoff=pooled.log_backoff)
        return pooled

    @classmethod
    def from_config(
        cls, config: Mapping[str, t.Any], logger: logging.Logger | None = None
    ) -> DataverseClient:
        """Build a client from the tap's (or target's) settings."""
        certificate = None
        if config.get("client_certificate_path"):
            certificate = ClientCertificate(
                path=config["client_certificate_path"],
                thumbprint=config["client_certificate_thumbprint"],
                password=config.get("client_certificate_password"),
            )
        return cls(
            resource_url=config["resource_url"],
            tenant_id=config["tenant_id"],
            client_id=config["client_id"],
            client_secret=config.get("client_secret"),
            certificate=certificate,
            authority_host=config.get("authority_host") or DEFAULT_AUTHORITY_HOST,
            api_version=config.get("api_version") or DEFAULT_API_VERSION,
            ca_bundle=config.get("ca_bundle"),
            timeout=config.get("request_timeout", 300),
            max_retry_seconds=config.get("max_retry_seconds", DEFAULT_MAX_RETRY_SECONDS),
            max_retries=config.get("max_retries"),
            logger=logger,
        )

    def url(self, path_or_url: str) -> str:
        """Resolve a Web API path (`contacts`, `EntityDefinitions`) or pass a full URL through."""
        if path_or_url.startswith(("https://", "http://")):
            return path_or_url
        return self.api_url + path_or_url.lstrip("/")

    def log_backoff(self, details: Details) -> None:
        """Log a retry with its wait, its reason and the budget used (and count it)."""
        self.calls.retries += 1
        self.retry.log_wait(self.logger, details)

    def _send_once(
        self, method: str, url: str, headers: Mapping[str, str] | None, body: bytes | None
    ) -> requests.Response:
        request_headers = dict(headers or {})
        if body is not None:
            request_headers["Content-Type"] = "application/json"
        response = self.session.request(
            method, url, headers=request_headers, data=body, timeout=self.timeout
        )
        self.retry.validate(response)
        return response

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        json: t.Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one request with the retry policy; raise `DataverseAPIError` when it fails."""
        body = msgspec.json.encode(json) if json is not None else None
        return self._send(method, self.url(path_or_url), headers, body)

    def get_json(self, path_or_url: str, *, headers: Mapping[str, str] | None = None) -> t.Any:
        """GET a resource and decode its JSON body."""
        return msgspec.json.decode(self.request("GET", path_or_url, headers=headers).content)

    def iter_values(
        self, path_or_url: str, *, headers: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, t.Any]]:
        """Yield the items of a collection, following `@odata.nextLink` (metadata, small sets)."""
        url: str | None = path_or_url
        while url:
            page = self.get_json(url, headers=headers)
            yield from page.get("value", ())
            url = page.get("@odata.nextLink")

    def post(
        self, path: str, json: t.Any, *, headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        """POST a JSON body, e.g. create a row (204 + `OData-EntityId`) or call an action.

        Pass `Prefer: return=representation` in `headers` to get the created row back (201).
        """
        return self.request("POST", path, json=json, headers=headers)

    def patch(
        self,
        path: str,
        json: t.Any,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """PATCH a row. Without conditions this is an *upsert* (it creates missing rows).

        `if_match="*"` makes it update-only (404 when absent); `if_none_match="*"` makes it
        create-only (412 when present); an ETag in `if_match` enforces optimistic concurrency.
        """
        request_headers = dict(headers or {})
        if if_match is not None:
            request_headers["If-Match"] = if_match
        if if_none_match is not None:
            request_headers["If-None-Match"] = if_none_match
        return self.request("PATCH", path, json=json, headers=request_headers)
