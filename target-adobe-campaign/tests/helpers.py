"""Run the target on Singer messages against the in-process fake Campaign."""

from __future__ import annotations

import io
import json
import typing as t
from pathlib import Path

from tap_adobe_campaign.testing import FakeCampaign
from target_adobe_campaign.target import TargetAdobeCampaign

PROFILES = "profileAndServicesExt/profile"
PROJECTS = "profileAndServicesExt/cusProject"

ROUTES = {
    "contact": {"resource": "profile"},
    "new_project": {
        "resource": "cusProject",
        "key": "crmId",
        "links": {"profile": {"stream": "contact", "field": "contactId"}},
    },
}


def schema(stream: str, properties: dict[str, t.Any], key: str) -> dict[str, t.Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": [key],
    }


CONTACT_SCHEMA = schema(
    "contact",
    {
        "externalId": {"type": "string"},
        "firstName": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
        "gender": {"type": ["string", "null"]},
        "birthDate": {"type": ["string", "null"], "format": "date"},
        "blackListEmail": {"type": ["boolean", "null"]},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
    "externalId",
)
PROJECT_SCHEMA = schema(
    "new_project",
    {
        "crmId": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "contactId": {"type": ["string", "null"]},
    },
    "crmId",
)


def record(stream: str, **values: t.Any) -> dict[str, t.Any]:
    return {"type": "RECORD", "stream": stream, "record": values}


def state(value: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "STATE", "value": value}


class Run:
    """One target run: its instance, and what it printed (STATE messages)."""

    def __init__(self, fake: FakeCampaign, tmp_path: Path, **config: t.Any) -> None:
        self.fake = fake
        self.rejects_path = tmp_path / "rejects.jsonl"
        settings = {
            "organization": "test-org",
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "ims_url": fake.ims_url,
            "api_base_url": fake.api_base_url,
            "resources": ROUTES,
            "rejects_file": str(self.rejects_path),
            **config,
        }
        self.target = TargetAdobeCampaign(config=settings)
        fake.install(self.target.client)
        self.target.client.retry = type(self.target.client.retry)(base=0.001, cap=0.01)
        retry = self.target.client.retry
        client = self.target.client
        client._send = retry.wrap(client._send_once)
        client._send_post = retry.wrap(
            client._send_once, giveup=lambda exc: not retry.safe_to_repeat_post(exc)
        )

    def listen(self, messages: list[dict[str, t.Any]], capsys: t.Any = None) -> list[dict]:
        text = "\n".join(json.dumps(m) for m in messages) + "\n"
        try:
            self.target.listen(io.StringIO(text))
        finally:
            out = capsys.readouterr().out if capsys else ""
            self.states = [json.loads(line) for line in out.splitlines() if line.strip()]
        return self.states

    @property
    def rejects(self) -> list[dict[str, t.Any]]:
        return [json.loads(line) for line in self.rejects_path.read_text().splitlines()]

    @property
    def summary(self) -> dict[str, t.Any]:
        return json.loads(self.rejects_path.with_suffix(".summary.json").read_text())
