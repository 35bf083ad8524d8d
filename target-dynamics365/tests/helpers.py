"""Singer input for the target, runs in-process and through the CLI, and Dataverse reads."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import typing as t

from dataverse_client.client import DataverseClient
from target_dynamics365.target import TargetDynamics365

from .conftest import CONNECTION

if t.TYPE_CHECKING:
    from pathlib import Path

OPT_OUTS = ("donotemail", "donotbulkemail", "donotphone", "donotfax", "donotpostalmail")
PROFILE_SCHEMA = {
    "type": "object",
    "properties": {
        "externalId": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
        **{
            name: {"type": ["boolean", "null"]}
            for name in ("blackListEmail", "blackListPhone", "blackListFax", "blackListPostalMail")
        },
    },
}


EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event_id": {"type": ["string", "null"]},
        "event_type": {"type": ["string", "null"]},
        "event_time": {"type": ["string", "null"], "format": "date-time"},
        **{
            name: {"type": ["string", "null"]}
            for name in (
                "profile_external_id",
                "email",
                "delivery_name",
                "delivery_label",
                "campaign_name",
                "url",
                "mirror_page_url",
                "bounce_type",
                "bounce_reason",
            )
        },
    },
}
#: tap-adobe-campaign's `opt_outs` stream (rows of Campaign's SFTP opt-out exports).
CAMPAIGN_FLAGS = (
    "blackList",
    "blackListEmail",
    "blackListFax",
    "blackListMobile",
    "blackListPhone",
    "blackListPostalMail",
    "blackListPushnotification",
    "ccpaOptOut",
)
DATE_TIME = {"type": ["string", "null"], "format": "date-time"}
OPT_OUT_SCHEMA = {
    "type": "object",
    "properties": {
        **{
            name: {"type": ["string", "null"]}
            for name in ("export_position", "export_file", "PKey", "externalId", "email")
        },
        "lastModified": DATE_TIME,
        **{flag: {"type": ["boolean", "null"]} for flag in CAMPAIGN_FLAGS},
        **{f"{flag}LastModified": DATE_TIME for flag in CAMPAIGN_FLAGS},
    },
}
SCHEMAS = {
    "profiles": (PROFILE_SCHEMA, ["externalId"]),
    "opt_outs": (OPT_OUT_SCHEMA, ["export_position"]),
    "email_events": (EVENT_SCHEMA, ["event_id"]),
}


def singer_input(records: list[dict[str, t.Any]], stream: str = "profiles") -> str:
    """SCHEMA + RECORDs of `stream` (`profiles`, `opt_outs`, `email_events`) + one STATE."""
    schema, key_properties = SCHEMAS[stream]
    messages: list[dict[str, t.Any]] = [
        {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": key_properties},
        *({"type": "RECORD", "stream": stream, "record": r} for r in records),
        {"type": "STATE", "value": {"bookmarks": {stream: {"position": len(records)}}}},
    ]
    return "".join(json.dumps(m) + "\n" for m in messages)


def config(tmp_path: Path, **extra: t.Any) -> dict[str, t.Any]:
    """The sandbox connection, a rejects file in `tmp_path`, and `extra` settings."""
    return {**CONNECTION, "rejects_file": str(tmp_path / "rejects.jsonl"), **extra}


def run_target(
    settings: dict[str, t.Any], records: list[dict[str, t.Any]], stream: str = "profiles"
) -> TargetDynamics365:
    """Run the target in-process on `records` of `stream`; return it (for its summary)."""
    target = TargetDynamics365(config=settings)
    target.listen(file_input=io.StringIO(singer_input(records, stream)))
    return target


def run_cli(
    settings: dict[str, t.Any],
    records: list[dict[str, t.Any]],
    tmp_path: Path,
    stream: str = "profiles",
):
    """Run `target-dynamics365` as Meltano does: config file, Singer on stdin."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(settings))
    return subprocess.run(
        [sys.executable, "-m", "target_dynamics365.target", "--config", str(config_file)],
        input=singer_input(records, stream),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def client() -> DataverseClient:
    """A Dataverse client on the sandbox, to read what the target wrote."""
    return DataverseClient.from_config(CONNECTION)


def contacts(n: int, **equal: bool) -> list[dict[str, t.Any]]:
    """The first `n` contacts (with their opt-outs) whose opt-outs equal `equal`."""
    condition = " and ".join(f"{k} eq {str(v).lower()}" for k, v in equal.items())
    query = f"contacts?$select=contactid,{','.join(OPT_OUTS)}&$top={n}&$orderby=contactid"
    rows = client().get_json(query + (f"&$filter={condition}" if condition else ""))["value"]
    assert len(rows) == n, "the sandbox has too few matching contacts"
    return rows


def contact(contact_id: str) -> dict[str, t.Any]:
    """One contact's opt-outs."""
    return client().get_json(f"contacts({contact_id})?$select={','.join(OPT_OUTS)}")


def writes(requests: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """The API requests of the log that can change data."""
    return [
        r
        for r in requests
        if r["method"] in {"POST", "PATCH", "PUT", "DELETE"} and "/api/data/" in r["path"]
    ]


def rejects(settings: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """The lines of the run's rejects file."""
    with open(settings["rejects_file"], encoding="utf-8") as file:
        return [json.loads(line) for line in file]
