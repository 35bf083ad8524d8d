"""A Campaign v8 SOAP router and Adobe IMS answering recorded envelopes (`responses` mocks).

Each SOAP call is answered from a queue per action (`urn#Method`), so a test states what
Campaign answers and then reads back what the client sent.
"""

from __future__ import annotations

import time
import typing as t
import xml.etree.ElementTree as ET
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from string import Template
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from campaign_client.soap import SOAP_ENV
from campaign_client.soap_session import SoapSession

if t.TYPE_CHECKING:
    from collections.abc import Iterator

ENVELOPES = Path(__file__).parent / "envelopes"
SOAP_URL = "https://acme-mkt-prod1.campaign.adobe.com/nl/jsp/soaprouter.jsp"
IMS_URL = "https://ims.test/ims/token/v3"
CONFIG = {
    "client_id": "my-client-id",
    "client_secret": "my-client-secret",
    "ims_url": "https://ims.test",
    "soap_url": SOAP_URL,
    "max_retries": 3,
}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

Reply = tuple[int, dict[str, str], bytes]


def envelope(name: str, **values: str) -> bytes:
    """A recorded envelope with its `${placeholders}` filled in."""
    return Template((ENVELOPES / name).read_text()).substitute(values).encode()


def ok(urn: str, method: str, outputs: str = "") -> Reply:
    """HTTP 200 with `<MethodResponse>` holding `outputs`."""
    return 200, {}, envelope("response.xml", urn=urn, method=method, outputs=outputs)


def element_output(name: str, xml: str) -> str:
    """A literal XML output parameter, as Campaign writes it."""
    return (
        f"<{name} xsi:type='ns:Element' "
        f"SOAP-ENV:encodingStyle='http://xml.apache.org/xml-soap/literalxml'>{xml}</{name}>"
    )


def query_reply(xml: str) -> Reply:
    """An ExecuteQuery answer whose output document is `xml`."""
    return ok("xtk:queryDef", "ExecuteQuery", element_output("pdomOutput", xml))


def logon_reply(method: str, session: str, security: str) -> Reply:
    return (
        200,
        {},
        envelope("logon_response.xml", method=method, session=session, security=security),
    )


def fault(
    faultstring: str, detail: str, status: int = 500, faultcode: str = "SOAP-ENV:Server"
) -> Reply:
    body = envelope("fault.xml", faultcode=faultcode, faultstring=faultstring, detail=detail)
    return status, {}, body


EXPIRED_500: Reply = (500, {}, envelope("session_expired.xml"))


@dataclass
class Sent:
    """One SOAP call the client made."""

    request: requests.PreparedRequest

    @property
    def action(self) -> str:
        return self.request.headers["SoapAction"]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.request.url or "").query)

    @property
    def root(self) -> ET.Element:
        body = self.request.body
        return ET.fromstring(body if isinstance(body, bytes) else (body or "").encode())

    @property
    def method(self) -> ET.Element:
        body = self.root.find(f"{{{SOAP_ENV}}}Body")
        assert body is not None
        return body[0]

    @property
    def params(self) -> list[ET.Element]:
        return list(self.method)

    def param(self, name: str) -> ET.Element:
        found = [p for p in self.params if p.tag == name]
        assert len(found) == 1, f"parameter {name} sent {len(found)} times"
        return found[0]

    def literal(self, name: str) -> ET.Element:
        """The XML document or element passed as parameter `name`."""
        return self.param(name)[0]


class FakeCampaign:
    """Answers SOAP calls from per-action queues (the last reply repeats) and IMS with tokens."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.replies: dict[str, deque[Reply]] = defaultdict(deque)
        self.sent: list[Sent] = []
        self.ims_tokens = 0
        mock.add_callback(responses.POST, SOAP_URL, callback=self._answer)
        mock.add_callback(responses.POST, IMS_URL, callback=self._token)

    def on(self, action: str, *replies: Reply) -> None:
        self.replies[action].extend(replies)

    def calls(self, action: str | None = None) -> list[Sent]:
        return [s for s in self.sent if action is None or s.action == action]

    def _answer(self, request: requests.PreparedRequest) -> Reply:
        sent = Sent(request)
        self.sent.append(sent)
        queue = self.replies.get(sent.action)
        if not queue:
            return 599, {}, f"no reply for {sent.action}".encode()
        return queue.popleft() if len(queue) > 1 else queue[0]

    def _token(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.ims_tokens += 1
        body = f'{{"access_token": "ims-token-{self.ims_tokens}", "expires_in": 86399}}'
        return 200, {}, body


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry waits, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    return waits


@pytest.fixture
def campaign(sleeps: list[float]) -> Iterator[FakeCampaign]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeCampaign(mock)


def make_session(**settings: t.Any) -> SoapSession:
    return SoapSession.from_config({**CONFIG, **settings})
