"""Campaign Classic / v8 SOAP router: envelopes, responses, faults and the HTTP transport.

The wire format is Adobe's own JS SDK's (adobe/acc-js-sdk `src/soap.js`):

- `POST <instance>/nl/jsp/soaprouter.jsp?soapAction=<urlencoded urn#Method>` with
  `Content-Type: application/soap+xml;charset=UTF-8` and an unquoted `SoapAction: urn#Method`;
- a `SOAP-ENV:Header` holding the `__sessiontoken` cookie and the security token, and a
  `<m:Method xmlns:m="urn:<urn>">` body whose first parameter is always `sessiontoken` (Campaign
  reads the first parameter as the authentication mode);
- scalar parameters typed with `xsi:type`, XML parameters as literal XML (`ns:Element`, or an
  empty `xsi:type` for a DOM document).

Responses: `SOAP-ENV:Body` holds either a `SOAP-ENV:Fault` (`faultcode`, `faultstring`, `detail`;
real v8 instances answer it with HTTP 500) or `<MethodResponse>` whose children are the output
parameters in order (their XML is returned with plain tags: Campaign's `xmlns='urn:…'` on the
response element would otherwise qualify every one of them). Campaign's error code is read from
the fault; a session that expired (`XSV-350008`, also seen in plain HTTP 500 bodies: acc-js-sdk
issues #108/#112) raises `SessionExpiredError`, which `soap_session` answers by logging on again.

XML is parsed with the standard library; a document declaring a DTD or entities is refused.
Error messages carry Campaign's texts with every known secret (password, tokens) masked.
"""

from __future__ import annotations

import re
import typing as t
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape, quoteattr

import requests
from singer_sdk.exceptions import RetriableAPIError

from campaign_client.client import (
    RETRIED_STATUSES,
    AccessDeniedError,
    AmbiguousWriteError,
    CampaignAPIError,
    RetriableCampaignError,
    RetryPolicy,
    parse_error,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from backoff.types import Details
    from sync_support.retry import TimeBudgetRetry

SOAP_PATH = "/nl/jsp/soaprouter.jsp"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"
LITERAL_XML = "http://xml.apache.org/xml-soap/literalxml"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
APACHE_SOAP = "http://xml.apache.org/xml-soap"
#: What every call sends besides its `SoapAction` (acc-js-sdk, charset UTF-8 since 1.1.1).
SOAP_HEADERS: Mapping[str, str] = {"Content-Type": "application/soap+xml;charset=UTF-8"}
SESSION_EXPIRED = "XSV-350008"
#: Campaign error codes: three letters or digits, a dash, six digits (`XSV-350008`).
_CAMPAIGN_CODE = re.compile(r"\b\w{3}-\d{6}\b")
#: An expired session or IMS token: Campaign's session error, or (acc-js-sdk #108, PR #114) an
#: IMS 401 wrapped into a 500 fault by the instance.
_EXPIRED = re.compile(r"XSV-350008|IMS call, HTTP response code is 401")
#: Scalar `xsi:type`s and how their text is read.
_INTEGER_TYPES = frozenset({"byte", "short", "int", "long"})
_DECIMAL_TYPES = frozenset({"float", "double"})

Scalar = str | int | float | bool


# --- errors ---------------------------------------------------------------------------------


class SoapFaultError(CampaignAPIError):
    """Campaign answered with a SOAP fault.

    `code` is Campaign's error code (`XSV-350008`) when the fault names one, else the SOAP
    `faultcode` (`SOAP-ENV:Server`); `faultstring` and `detail` are Campaign's texts.
    """

    def __init__(
        self, status: int, faultcode: str, faultstring: str, detail: str, request: str
    ) -> None:
        """Keep the fault's parts; the message is the fault string followed by the detail."""
        found = _CAMPAIGN_CODE.search(faultstring) or _CAMPAIGN_CODE.search(detail)
        message = f"{faultstring} {detail}".strip()
        super().__init__(status, found.group(0) if found else faultcode, message, request)
        self.faultcode = faultcode
        self.faultstring = faultstring
        self.detail = detail


class SessionExpiredError(SoapFaultError):
    """The session (or IMS token) is no longer accepted: log on again and replay the call."""


# --- parameters and envelopes ---------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One input parameter: its name, `xsi:type` and value (text, or an element for XML)."""

    name: str
    xsi_type: str
    value: str | ET.Element | None

    @classmethod
    def string(cls, name: str, value: str) -> Param:
        """Return an `xsd:string` parameter."""
        return cls(name, "xsd:string", value)

    @classmethod
    def boolean(cls, name: str, value: bool) -> Param:
        """Return an `xsd:boolean` parameter (`true` / `false`, as the SDK writes it)."""
        return cls(name, "xsd:boolean", "true" if value else "false")

    @classmethod
    def long(cls, name: str, value: int) -> Param:
        """Return a 32-bit integer parameter (XTK `long` is `xsd:int` on the wire)."""
        return cls(name, "xsd:int", str(value))

    @classmethod
    def element(cls, name: str, value: ET.Element | None) -> Param:
        """Return a DOM element parameter (literal XML, `ns:Element`)."""
        return cls(name, "ns:Element", value)

    @classmethod
    def document(cls, name: str, value: ET.Element) -> Param:
        """Return a DOM document parameter (literal XML with an empty `xsi:type`, as the SDK)."""
        return cls(name, "", value)

    def to_xml(self) -> str:
        """Serialize as the SDK's `_addNode` does (literal XML declares its encoding style)."""
        if isinstance(self.value, str):
            text = escape(self.value)
            return f"<{self.name} xsi:type={quoteattr(self.xsi_type)}>{text}</{self.name}>"
        inner = "" if self.value is None else ET.tostring(self.value, encoding="unicode")
        return (
            f"<{self.name} xsi:type={quoteattr(self.xsi_type)} "
            f"SOAP-ENV:encodingStyle={quoteattr(LITERAL_XML)}>{inner}</{self.name}>"
        )


@dataclass(frozen=True)
class Tokens:
    """What authenticates one call: session and security tokens, or an IMS bearer token."""

    session_token: str = field(default="", repr=False)
    security_token: str = field(default="", repr=False)
    bearer: str | None = field(default=None, repr=False)

    def headers(self) -> dict[str, str]:
        """HTTP headers as the SDK sends them (the bearer goes in through the session's auth)."""
        if self.bearer is not None:
            return {}
        headers = {"X-Security-Token": self.security_token, "X-Session-Token": self.session_token}
        if self.session_token:
            headers["Cookie"] = f"__sessiontoken={self.session_token}"
        return headers

    def secrets(self) -> tuple[str, ...]:
        """Return the token values, to mask in error messages."""
        return tuple(s for s in (self.session_token, self.security_token, self.bearer) if s)


NO_TOKENS = Tokens()


def build_envelope(urn: str, method: str, params: Sequence[Param], tokens: Tokens) -> bytes:
    """Return the SOAP envelope calling `urn#method`, as acc-js-sdk builds it."""
    header = ""
    if tokens.session_token:
        header += f"<Cookie>{escape('__sessiontoken=' + tokens.session_token)}</Cookie>"
    header += f"<X-Security-Token>{escape(tokens.security_token)}</X-Security-Token>"
    body = Param.string("sessiontoken", tokens.session_token).to_xml()
    body += "".join(param.to_xml() for param in params)
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<SOAP-ENV:Envelope xmlns:xsd={quoteattr(XSD)} xmlns:xsi={quoteattr(XSI)} "
        f"xmlns:SOAP-ENV={quoteattr(SOAP_ENV)} xmlns:ns={quoteattr(APACHE_SOAP)}>"
        f"<SOAP-ENV:Header>{header}</SOAP-ENV:Header><SOAP-ENV:Body>"
        f"<m:{method} xmlns:m={quoteattr('urn:' + urn)} "
        f"SOAP-ENV:encodingStyle={quoteattr(SOAP_ENCODING)}>{body}</m:{method}>"
        "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


# --- responses ------------------------------------------------------------------------------


def parse_xml(content: bytes) -> ET.Element:
    """Parse a response; refuse a DTD (no entity declarations are ever expanded)."""
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        msg = "Refusing a SOAP response that declares a DTD or entities"
        raise ValueError(msg)
    return ET.fromstring(content)  # DTDs refused above; expat fetches nothing


def local_name(tag: str) -> str:
    """Return a tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def _child(parent: ET.Element | None, name: str) -> ET.Element | None:
    if parent is None:
        return None
    return next((c for c in parent if local_name(c.tag) == name), None)


@dataclass(frozen=True)
class SoapResult:
    """The output parameters of a call, in order (a non-static method's `entity` set apart)."""

    action: str
    values: tuple[ET.Element, ...]
    entity: ET.Element | None = None

    def _param(self, index: int) -> ET.Element:
        if index >= len(self.values):
            msg = f"no output parameter {index + 1} in the response"
            raise CampaignAPIError(HTTPStatus.OK, "", msg, self.action)
        return self.values[index]

    def element(self, index: int) -> ET.Element | None:
        """Return the XML held by output parameter `index` (an element or document), or None."""
        return next(iter(self._param(index)), None)

    def value(self, index: int) -> Scalar:
        """Return scalar output parameter `index`, cast by its `xsi:type`."""
        param = self._param(index)
        kind = param.get(f"{{{XSI}}}type", "xsd:string").rpartition(":")[2]
        text = param.text or ""
        if kind in _INTEGER_TYPES:
            return int(text or 0)
        if kind in _DECIMAL_TYPES:
            return float(text or 0)
        if kind == "boolean":
            return text.strip().lower() in {"true", "1"}
        return text


def redact(text: str, secrets: Iterable[str]) -> str:
    """Mask every secret in `text` (where it stands as a whole word, so "S" spares "SOAP")."""
    for secret in secrets:
        if secret:
            text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", text)
    return text


def _fault(
    status: int, faultcode: str, faultstring: str, detail: str, request: str
) -> SoapFaultError:
    """Return the fault's error: `SessionExpiredError` when its texts say so."""
    expired = _EXPIRED.search(f"{faultstring} {detail}")
    kind = SessionExpiredError if expired else SoapFaultError
    return kind(status, faultcode, faultstring, detail, request)


def read_response(
    response: requests.Response, action: str, secrets: Iterable[str] = ()
) -> SoapResult:
    """Return a response's output parameters, or raise the matching error.

    Faults raise `SoapFaultError` (`SessionExpiredError` for an expired session, whatever the
    HTTP status); a gateway's 401/403 raises `AccessDeniedError`; a body that is not SOAP,
    or an HTTP error without a fault, raises `CampaignAPIError`.
    """
    secrets = tuple(secrets)
    status = response.status_code
    request = f"POST {urlsplit(response.url).path} ({action})"
    try:
        root = parse_xml(response.content)
    except (ET.ParseError, ValueError) as exc:
        text = redact(response.text[:300], secrets)
        if _EXPIRED.search(text):
            raise _fault(status, "", "", text, request) from None
        if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
            code, message = parse_error(response)
            raise AccessDeniedError(status, code, redact(message, secrets), request) from None
        what = f"not a SOAP response: {exc}: {text}" if status < HTTPStatus.BAD_REQUEST else text
        raise CampaignAPIError(status, "", what, request) from None
    body = _child(root, "Body")
    fault = _child(body, "Fault")
    if fault is not None:
        parts = {local_name(c.tag): redact((c.text or "").strip(), secrets) for c in fault}
        raise _fault(
            status,
            parts.get("faultcode", ""),
            parts.get("faultstring", ""),
            parts.get("detail", ""),
            request,
        )
    if status >= HTTPStatus.BAD_REQUEST:
        text = redact(response.text[:300], secrets)
        if _EXPIRED.search(text):
            raise _fault(status, "", "", text, request)
        raise CampaignAPIError(status, "", text or response.reason, request)
    method = action.rpartition("#")[2]
    answer = _child(body, f"{method}Response")
    values = tuple(answer) if answer is not None else ()
    for value in values:  # `<MethodResponse xmlns='urn:…'>` puts every tag in its namespace
        for node in value.iter():
            node.tag = local_name(node.tag)
    if values and local_name(values[0].tag) in {"entity", "this"}:
        return SoapResult(action, values[1:], next(iter(values[0]), None))
    return SoapResult(action, values)


# --- transport ------------------------------------------------------------------------------


class SoapTransport:
    """POSTs envelopes to the SOAP router with the time-budget retry policy.

    429 and 502-504 (and connection errors) are retried as the REST client retries them,
    `Retry-After` honoured. A call that is not idempotent (an `insert`) is re-sent only when
    Campaign surely did not run it; after an ambiguous failure `AmbiguousWriteError` is raised.
    """

    def __init__(
        self,
        http: requests.Session,
        url: str,
        *,
        retry: TimeBudgetRetry,
        timeout: float,
        on_backoff: Callable[[Details], None] | None = None,
        headers: Mapping[str, str] = SOAP_HEADERS,
        method_in_url: bool = True,
    ) -> None:
        """Send to `url` through `http`; `method_in_url` adds the SDK's `?soapAction=`."""
        self.http = http
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers)
        self.method_in_url = method_in_url
        self._send = retry.wrap(self._send_once, on_backoff=on_backoff)
        self._send_write = retry.wrap(
            self._send_once,
            giveup=lambda exc: not RetryPolicy.safe_to_repeat_post(exc),
            on_backoff=on_backoff,
        )

    def _send_once(self, url: str, body: bytes, headers: Mapping[str, str]) -> requests.Response:
        # explicit `verify`: REQUESTS_CA_BUNDLE would override a session's (psf/requests#3829)
        response = self.http.post(
            url, data=body, headers=headers, timeout=self.timeout, verify=self.http.verify
        )
        if response.status_code in RETRIED_STATUSES:
            request = f"POST {urlsplit(response.url).path} ({headers['SoapAction']})"
            message = f"{response.status_code}: {response.reason} ({request})"
            raise RetriableCampaignError(message, response)
        return response

    def post(
        self,
        action: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        idempotent: bool = True,
        secrets: Iterable[str] = (),
    ) -> SoapResult:
        """Send one envelope calling `action` (`urn#Method`) and return its output parameters."""
        url = self.url
        if self.method_in_url:
            url += "?soapAction=" + quote(action, safe="")
        sent = {**self.headers, "SoapAction": action, **(headers or {})}
        if idempotent:
            return read_response(self._send(url, body, sent), action, secrets)
        try:
            response = self._send_write(url, body, sent)
        except Exception as exc:
            if RetryPolicy.safe_to_repeat_post(exc):
                raise  # throttled until the budget ran out: certainly not run
            if isinstance(exc, RetriableAPIError | requests.RequestException):
                msg = f"{action}: outcome unknown ({exc})"
                raise AmbiguousWriteError(msg) from exc
            raise
        return read_response(response, action, secrets)
