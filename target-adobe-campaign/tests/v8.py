"""Run the target with `backend: v8` against the sandbox's SOAP router, and see what it sent."""

from __future__ import annotations

import typing as t
import xml.etree.ElementTree as ET
from collections import Counter

from campaign_client.soap_session import SoapSession
from target_adobe_campaign.target import TargetAdobeCampaign
from target_adobe_campaign.v8_backend import V8Backend

from .helpers import ROUTES, TargetRun, connection

if t.TYPE_CHECKING:
    from pathlib import Path

    import requests
    from crm_sandbox.campaign.inprocess import RunningCampaign

WRITE_COLLECTION = "xtk:session#WriteCollection"
EXECUTE_QUERY = "xtk:queryDef#ExecuteQuery"
#: The attribute each schema's records are keyed on in the tests.
KEYS = {"recipient": "externalId", "project": "cusCrmId", "projectTask": "cusCrmId"}


def v8_config(campaign: RunningCampaign, **overrides: t.Any) -> dict[str, t.Any]:
    """Connection settings for the sandbox's v8 instance (operator login)."""
    info = campaign.info
    return {
        **connection(campaign),
        "backend": "v8",
        "soap_url": info["soap_url"],
        "soap_auth": "login_password",
        "soap_login": info["operator_login"],
        "soap_password": info["operator_password"],
        **overrides,
    }


def soap_session(campaign: RunningCampaign) -> SoapSession:
    """A SOAP session of its own (to prepare or read Campaign outside the target)."""
    return SoapSession.from_config(v8_config(campaign))


def soap_calls(campaign: RunningCampaign) -> Counter[str]:
    """SOAP calls the sandbox logged since its logs were cleared, by SOAPAction."""
    return Counter(r["soap_action"] for r in campaign.admin.requests() if r.get("soap_action"))


class V8Run(TargetRun):
    """One v8 target run; every record of every WriteCollection is recorded by key."""

    def __init__(self, campaign: RunningCampaign, tmp_path: Path, **config: t.Any) -> None:
        self.rejects_path = tmp_path / "rejects.jsonl"
        self.target = TargetAdobeCampaign(
            config={
                **v8_config(campaign),
                "resources": ROUTES,
                "rejects_file": str(self.rejects_path),
                **config,
            }
        )
        backend = self.target.backend
        assert isinstance(backend, V8Backend)
        backend.session.transport.http.hooks["response"].append(self._seen)
        #: (schema element, key) of each record in a WriteCollection that Campaign accepted
        self.written: Counter[tuple[str, str]] = Counter()
        #: the same, in every WriteCollection sent (accepted or refused)
        self.sent: Counter[tuple[str, str]] = Counter()
        self.collections: list[int] = []  # records per WriteCollection sent
        self.states: list[dict[str, t.Any]] = []

    def _seen(self, response: requests.Response, **kwargs: t.Any) -> None:
        request = response.request
        if request.headers.get("SoapAction") != WRITE_COLLECTION:
            return
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        method = next(e for e in ET.fromstring(body).iter() if e.tag.endswith("WriteCollection"))
        root = next(iter(next(e for e in method if e.tag == "doc")))
        keys = [
            (child.tag, child.get(KEYS.get(child.tag, ""), "") or f"id={child.get('id')}")
            for child in root
        ]
        self.collections.append(len(keys))
        self.sent.update(keys)
        if response.status_code == 200:
            self.written.update(keys)
