"""Run the target on Singer messages against the Campaign sandbox, and read what it did."""

from __future__ import annotations

import io
import json
import typing as t

from target_adobe_campaign.target import TargetAdobeCampaign

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import requests
    from crm_sandbox.campaign.inprocess import RunningCampaign

PROFILES = "profileAndServicesExt/profile"
WRITES = frozenset({"POST", "PATCH", "DELETE"})

ROUTES = {
    "contact": {
        "resource": "profile",
        "key_filter": {"name": "byExternalId", "param": "externalId_parameter"},
    },
    "new_project": {
        "resource": "cusProject",
        "key": "cusCrmId",
        "links": {"profile": {"stream": "contact", "field": "contactId"}},
    },
}


def connection(campaign: RunningCampaign, **overrides: t.Any) -> dict[str, t.Any]:
    """Connection settings pointing at the sandbox."""
    info = campaign.info
    return {
        "organization": info["organization"],
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "scopes": info["scopes"],
        "ims_url": info["ims_url"],
        "api_base_url": info["api_base_url"],
        "ca_bundle": info["ca_file"],
        **overrides,
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
        "externalId": {"type": ["string", "null"]},
        "firstName": {"type": ["string", "null"]},
        "lastName": {"type": ["string", "null"]},
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
        "cusCrmId": {"type": "string"},
        "cusName": {"type": ["string", "null"]},
        "contactId": {"type": ["string", "null"]},
    },
    "cusCrmId",
)


def record(stream: str, **values: t.Any) -> dict[str, t.Any]:
    return {"type": "RECORD", "stream": stream, "record": values}


def state(value: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "STATE", "value": value}


def writes(campaign: RunningCampaign) -> list[dict[str, t.Any]]:
    """Write requests (POST/PATCH/DELETE) the sandbox received."""
    return [r for r in campaign.admin.requests() if r["app"] == "gateway" and r["method"] in WRITES]


def rows(campaign: RunningCampaign, resource: str, key: str) -> dict[str, dict[str, t.Any]]:
    """Campaign's records of `resource` that carry `key`, by key."""
    return {r[key]: r for r in campaign.admin.find_rows(resource) if r.get(key)}


#: A message, or a callable run when the target has read every message before it.
Message = dict[str, t.Any] | t.Callable[[], object]


class TargetRun:
    """What every test run of the target shares: feeding it messages, its rejects and summary."""

    target: TargetAdobeCampaign
    rejects_path: Path
    states: list[dict[str, t.Any]]

    def listen(self, messages: list[Message], capsys: t.Any) -> list[dict]:
        def lines() -> Iterator[str]:
            for message in messages:
                if callable(message):
                    message()
                else:
                    yield json.dumps(message) + "\n"

        capsys.readouterr()
        try:
            self.target.listen(t.cast("io.TextIOBase", lines()))
        finally:
            out = capsys.readouterr().out
            # the SDK writes each STATE's value as one JSON line
            self.states = [json.loads(line) for line in out.splitlines() if line.strip()]
        return self.states

    @property
    def rejects(self) -> list[dict[str, t.Any]]:
        return [json.loads(line) for line in self.rejects_path.read_text().splitlines()]

    @property
    def summary(self) -> dict[str, t.Any]:
        return t.cast(
            "dict[str, t.Any]",
            json.loads(self.rejects_path.with_suffix(".summary.json").read_text()),
        )


class Run(TargetRun):
    """One target run against the sandbox: the target, what it sent, what it printed."""

    def __init__(self, campaign: RunningCampaign, tmp_path: Path, **config: t.Any) -> None:
        self.rejects_path = tmp_path / "rejects.jsonl"
        settings = {
            **connection(campaign),
            "resources": ROUTES,
            "rejects_file": str(self.rejects_path),
            **config,
        }
        self.target = TargetAdobeCampaign(config=settings)
        self.sent: list[tuple[str, str, t.Any]] = []
        self.target.client.session.hooks["response"].append(self._record_request)
        self.states: list[dict[str, t.Any]] = []

    def _record_request(self, response: requests.Response, **kwargs: t.Any) -> None:
        request = response.request
        body = json.loads(request.body) if request.body else None
        self.sent.append((request.method or "", request.url or "", body))

    def writes_sent(self) -> list[tuple[str, str, t.Any]]:
        return [w for w in self.sent if w[0] in WRITES]
