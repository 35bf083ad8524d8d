"""The shared Adobe Campaign Standard REST client: session, auth, errors, retries, paging.

`tap-adobe-campaign`'s streams and `target-adobe-campaign`'s sinks both use this module, so
IMS auth, the gateway headers, error parsing and the retry policy exist once.

Retries: 429 (honouring `Retry-After`), 502/503/504 and connection errors are retried with
backoff, for at most `max_retry_seconds` per request. A POST is different, because Campaign
has no idempotent create: it is retried only when the request certainly was not executed
(429, or no connection was made). After an ambiguous failure (timeout, 5xx, connection
reset) `AmbiguousWriteError` is raised, and the caller must look the record up by its key
before creating it again.
"""

from __future__ import annotations

import logging
import re
import typing as t
from http import HTTPStatus
from urllib.parse import quote, urlencode, urlsplit

import msgspec
import requests
from requests.adapters import HTTPAdapter
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from sync_support.progress import CallCounts
from sync_support.retry import (
    DEFAULT_MAX_RETRY_SECONDS,
    TimeBudgetRetry,
)
from urllib3.exceptions import MaxRetryError, NewConnectionError

from campaign_client.auth import DEFAULT_IMS_URL, DEFAULT_SCOPES, IMSAuthenticator

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from backoff.types import Details

DEFAULT_API_BASE_URL = "https://mc.adobe.io"
#: Default time budget of one request's retries (Campaign's TPS limit answers 429 too).
#: Rows per page when a whole resource is read (Campaign's default is 25).
DEFAULT_LINE_COUNT = 1000
#: Sent with every request, as in Adobe's samples and SDK.
CAMPAIGN_HEADERS = {
    "Accept": "application/json",
    "Cache-Control": "no-cache",
}
JSON_CONTENT_TYPE = "application/json;charset=utf-8"
RETRIED_STATUSES = frozenset(
    {
        HTTPStatus.TOO_MANY_REQUESTS,
        HTTPStatus.BAD_GATEWAY,
        HTTPStatus.SERVICE_UNAVAILABLE,
        HTTPStatus.GATEWAY_TIMEOUT,
    }
)
#: The field an RST/XTK message names: `'@gender' field`, `'age' property`,
#: `field 'First name' (firstName)`, `The 'Name' (cusName) field`.
_FIELD_IN_MESSAGE = re.compile(
    r"'@?([A-Za-z_][\w-]*)' (?:field|property)|'[^']*' \(([A-Za-z_]\w*)\)"
)
#: Campaign's own error codes (RST-360011, XTK-170036, PGS-220000): the request reached
#: Campaign and Campaign refused it; a gateway or URI failure carries none.
_CAMPAIGN_CODE = re.compile(r"\b(?:RST|XTK|PGS)-\d+")
#: What a gateway 401/403 means for this integration's settings (Adobe's troubleshooting page).
_ACCESS_HINTS = {
    "401013": "the IMS token was refused even after fetching a new one",
    "403000": "no X-Api-Key header was sent",
    "403003": "client_id is not this credential's Client ID (it is also the X-Api-Key)",
    "403023": "the token carries no Campaign product context for this organization: check "
    "`organization` and that `scopes` include campaign_sdk and "
    "additional_info.projectedProductContext",
}


class CampaignAPIError(FatalAPIError):
    """A non-retriable Campaign error: HTTP status, Campaign's code and message, request."""

    def __init__(self, status: int, code: str, message: str, request: str) -> None:
        """Keep the status, code (`401013`, `500`...), message and `METHOD path`."""
        super().__init__(f"{status} {code or '-'}: {message} ({request})")
        self.status = status
        self.code = code
        self.error_message = message
        self.request = request

    @property
    def field(self) -> str | None:
        """The field Campaign's message names (an invalid enum value, a read-only field)."""
        return field_in_message(self.error_message)


def field_in_message(message: str) -> str | None:
    """Return the field a Campaign message names (`'@gender' field`, `'age' property`, …)."""
    match = _FIELD_IN_MESSAGE.search(message)
    return (match.group(1) or match.group(2)) if match else None


class NotFoundError(CampaignAPIError):
    """404: no such record (or resource)."""


class RecordRefusedError(CampaignAPIError):
    """Campaign refused the record itself (HTTP 500 with an RST-/XTK-/PGS- message).

    Invalid email, value too long, unknown enumeration value, read-only or unknown field,
    mandatory field missing, duplicate key: Campaign reports validation as HTTP 500.
    """


class AccessDeniedError(CampaignAPIError):
    """401/403 from the Adobe I/O gateway: the credential or the settings are wrong."""

    def __init__(self, status: int, code: str, message: str, request: str) -> None:
        """Add what the gateway code means for the settings."""
        hint = _ACCESS_HINTS.get(code)
        super().__init__(status, code, f"{message} ({hint})" if hint else message, request)


class RetriableCampaignError(RetriableAPIError):
    """429 or 502/503/504; `retry_after` holds the server's hint in seconds."""

    def __init__(self, message: str, response: requests.Response) -> None:
        """Read `Retry-After` (seconds) from the response, when present."""
        super().__init__(message, response)
        self.status = response.status_code
        self.retry_after = _retry_after_seconds(response)


class AmbiguousWriteError(Exception):
    """A POST failed in a way that leaves open whether Campaign created the record."""


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP-date: back off normally instead
        return None


class _ErrorBody(msgspec.Struct):
    """Gateway `{"error_code","message"}` and application `{"code","message"}` bodies."""

    error_code: str | int | None = None
    code: str | int | None = None
    message: str = ""


_error_decoder = msgspec.json.Decoder(_ErrorBody)


def parse_error(response: requests.Response) -> tuple[str, str]:
    """Return Campaign's (code, message) for an error response, or ("", reason/text)."""
    try:
        body = _error_decoder.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "", (response.text[:500] or response.reason or "")
    code = body.error_code if body.error_code is not None else body.code
    return ("" if code is None else str(code)), body.message or response.reason or ""


def never_sent(exc: BaseException) -> bool:
    """Whether a request failed before a connection existed, so it was never executed."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = exc.args[0]
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        return isinstance(reason, NewConnectionError)
    return False


class RetryPolicy(TimeBudgetRetry):
    """`TimeBudgetRetry` for Campaign: 429 and 502-504 are retried, the rest raise typed errors.

    A POST is re-sent only when Campaign surely did not run it (`safe_to_repeat_post`).
    """

    @staticmethod
    def validate(response: requests.Response) -> None:
        """Raise the matching error for a failed response; return for 1xx-3xx."""
        status = response.status_code
        if status < HTTPStatus.BAD_REQUEST:
            return
        code, message = parse_error(response)
        request = f"{response.request.method} {urlsplit(response.url).path}"
        if status in RETRIED_STATUSES:
            raise RetriableCampaignError(f"{status} {code or '-'}: {message} ({request})", response)
        if status == HTTPStatus.NOT_FOUND:
            raise NotFoundError(status, code, message, request)
        if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
            raise AccessDeniedError(status, code, message, request)
        if status == HTTPStatus.INTERNAL_SERVER_ERROR and _CAMPAIGN_CODE.search(message):
            raise RecordRefusedError(status, code, message, request)
        raise CampaignAPIError(status, code, message, request)

    @staticmethod
    def safe_to_repeat_post(exc: Exception) -> bool:
        """Tell whether a failed POST may be re-sent: only if Campaign surely did not run it."""
        if isinstance(exc, RetriableCampaignError):
            return exc.status == HTTPStatus.TOO_MANY_REQUESTS
        return never_sent(exc)


class CampaignClient:
    """One authenticated `requests.Session` for one Campaign organization's REST API."""

    def __init__(
        self,
        *,
        organization: str,
        client_id: str,
        client_secret: str,
        scopes: str = DEFAULT_SCOPES,
        ims_url: str = DEFAULT_IMS_URL,
        api_base_url: str = DEFAULT_API_BASE_URL,
        ca_bundle: str | None = None,
        timeout: float = 300,
        max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS,
        max_retries: int | None = None,
        pool_size: int = 10,
        logger: logging.Logger | None = None,
    ) -> None:
        """Build the session (gateway headers, CA bundle, pool) and the IMS authenticator."""
        self.api_url = f"{api_base_url.rstrip('/')}/{organization}/campaign/"
        self._origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.api_url))
        self._api_path = urlsplit(self.api_url).path
        self.timeout = timeout
        self.retry = RetryPolicy(max_retry_seconds=max_retry_seconds, max_retries=max_retries)
        self.logger = logger or logging.getLogger(__name__)
        self.session = requests.Session()
        self.session.headers.update(CAMPAIGN_HEADERS)
        self.session.headers["X-Api-Key"] = client_id
        self.calls = CallCounts()  # responses and retry waits, for the taps' progress lines
        self.calls.count_responses(self.session)
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self.session.mount("https://", adapter)
        if ca_bundle:
            self.session.verify = ca_bundle
        self.authenticator = IMSAuthenticator(
            client_id=client_id,
            client_secret=client_secret,
            scopes=scopes,
            ims_url=ims_url,
            verify=ca_bundle or True,
        )
        self.session.auth = self.authenticator
        self._send = self.retry.wrap(self._send_once, on_backoff=self.log_backoff)
        self._send_post = self.retry.wrap(
            self._send_once,
            giveup=lambda exc: not self.retry.safe_to_repeat_post(exc),
            on_backoff=self.log_backoff,
        )

    @classmethod
    def from_config(
        cls, config: Mapping[str, t.Any], logger: logging.Logger | None = None
    ) -> CampaignClient:
        """Build a client from the tap's (or target's) settings."""
        return cls(
            organization=config["organization"],
            client_id=config["client_id"],
            client_secret=config["client_secret"],
            scopes=config.get("scopes") or DEFAULT_SCOPES,
            ims_url=config.get("ims_url") or DEFAULT_IMS_URL,
            api_base_url=config.get("api_base_url") or DEFAULT_API_BASE_URL,
            ca_bundle=config.get("ca_bundle"),
            timeout=config.get("request_timeout", 300),
            max_retry_seconds=config.get("max_retry_seconds", DEFAULT_MAX_RETRY_SECONDS),
            max_retries=config.get("max_retries"),
            pool_size=max(10, config.get("max_concurrency", 4)),
            logger=logger,
        )

    # --- URLs -----------------------------------------------------------------------------

    def url(self, path_or_href: str, params: Mapping[str, t.Any] | None = None) -> str:
        """Resolve a path under the API root, or an href Campaign returned, plus a query.

        Hrefs may be absolute, relative to the host (`/<org>/campaign/...`) or, as in
        Adobe's older samples, relative to the API root (`/profileAndServices/...`).
        """
        if path_or_href.startswith(("https://", "http://")):
            url = path_or_href
        elif path_or_href.startswith(self._api_path):
            url = self._origin + path_or_href
        else:
            url = self.api_url + path_or_href.lstrip("/")
        if params:
            separator = "&" if "?" in url else "?"
            url += separator + urlencode(params, quote_via=quote, safe="@,")
        return url

    def log_backoff(self, details: Details) -> None:
        """Log a retry with its wait, its reason and the budget used (and count it)."""
        self.calls.retries += 1
        self.retry.log_wait(self.logger, details)

    # --- requests -------------------------------------------------------------------------

    def _send_once(self, method: str, url: str, body: bytes | None) -> requests.Response:
        headers = {"Content-Type": JSON_CONTENT_TYPE} if body is not None else None
        # `verify` is passed explicitly: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
        # override the session's CA bundle otherwise (psf/requests#3829).
        response = self.session.request(
            method,
            url,
            headers=headers,
            data=body,
            timeout=self.timeout,
            verify=self.session.verify,
        )
        self.retry.validate(response)
        return response

    def request(self, method: str, path_or_href: str, *, json: t.Any = None) -> requests.Response:
        """Send one request with the retry policy (not for POST: see `post`)."""
        body = msgspec.json.encode(json) if json is not None else None
        return self._send(method, self.url(path_or_href), body)

    def get_json(self, path_or_href: str, params: Mapping[str, t.Any] | None = None) -> t.Any:
        """GET a resource and decode its JSON body."""
        return msgspec.json.decode(self._send("GET", self.url(path_or_href, params), None).content)

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, t.Any] | None = None,
        *,
        line_count: int = DEFAULT_LINE_COUNT,
        on_response: Callable[[requests.Response], object] | None = None,
    ) -> Iterator[dict[str, t.Any]]:
        """Yield each page of a collection, following `next.href` as Campaign returns it.

        `_forcePagination=true` is always sent: above XtkBigTableThreshold rows Campaign
        omits `next` without it, and a reader would silently stop early. `on_response` sees
        each page's response first (e.g. for its `Date` header).
        """
        query = {**(params or {}), "_forcePagination": "true", "_lineCount": line_count}
        url: str | None = self.url(path, query)
        while url:
            response = self._send("GET", url, None)
            if on_response is not None:
                on_response(response)
            page = msgspec.json.decode(response.content)
            yield page
            next_link = page.get("next") or {}
            href = next_link.get("href") if isinstance(next_link, dict) else None
            url = self.url(href) if href and page.get("content") else None

    def iter_records(
        self,
        path: str,
        params: Mapping[str, t.Any] | None = None,
        *,
        line_count: int = DEFAULT_LINE_COUNT,
    ) -> Iterator[dict[str, t.Any]]:
        """Yield every record of a collection (see `iter_pages`)."""
        for page in self.iter_pages(path, params, line_count=line_count):
            yield from page.get("content", ())

    def count(self, path: str) -> int:
        """Return how many records a collection holds: `GET <path>/_count`."""
        return int(self.get_json(f"{path.rstrip('/')}/_count")["count"])

    def find(self, resource: str, filter_name: str, **params: t.Any) -> list[dict[str, t.Any]]:
        """Return the records a filter matches: `GET <resource>/<filter>?<params>`."""
        return list(self.iter_records(f"{resource.rstrip('/')}/{filter_name}", params))

    def post(self, resource: str, json: t.Any) -> dict[str, t.Any]:
        """Create a record and return it (with its PKey).

        Raises `AmbiguousWriteError` when the outcome is unknown: look the key up before
        creating again, or a duplicate may be created.
        """
        body = msgspec.json.encode(json)
        try:
            response = self._send_post("POST", self.url(resource), body)
        except Exception as exc:
            if self.retry.safe_to_repeat_post(exc) or isinstance(exc, CampaignAPIError):
                raise  # throttled until retries ran out, or refused: certainly not created
            if isinstance(exc, RetriableAPIError | requests.RequestException):
                msg = f"POST {resource}: outcome unknown ({exc})"
                raise AmbiguousWriteError(msg) from exc
            raise
        return t.cast("dict[str, t.Any]", msgspec.json.decode(response.content))

    def patch(self, href: str, json: t.Any) -> dict[str, t.Any]:
        """Update the fields in `json` of the record at `href` (or `<resource>/<PKey>`)."""
        response = self.request("PATCH", href, json=json)
        return t.cast("dict[str, t.Any]", msgspec.json.decode(response.content or b"{}"))

    def delete(self, href: str) -> None:
        """Delete the record at `href`; a record already gone counts as deleted."""
        try:
            self.request("DELETE", href)
        except NotFoundError:
            self.logger.debug("DELETE %s: already gone", href)
