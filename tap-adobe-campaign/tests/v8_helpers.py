"""Running the tap on `backend: v8` against the sandbox's SOAP router."""

from __future__ import annotations

import json
import typing as t
from collections import defaultdict

from tap_adobe_campaign.tap import TapAdobeCampaign

from .conftest import connection

if t.TYPE_CHECKING:
    import pytest
    from crm_sandbox.campaign.inprocess import RunningCampaign


def v8_config(campaign: RunningCampaign, **overrides: t.Any) -> dict[str, t.Any]:
    """Tap settings for the sandbox's v8 instance (IMS bearer on every call by default)."""
    defaults = {
        "backend": "v8",
        "soap_url": campaign.info["soap_url"],
        "page_size": 10,
        "opt_out_sync": "bidirectional",
    }
    return connection(campaign, **{**defaults, **overrides})


def selecting(config: dict[str, t.Any], *streams: str) -> dict[str, t.Any]:
    """A catalog selecting `streams` only."""
    catalog = TapAdobeCampaign(config=config).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if not entry["breadcrumb"]:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in streams
    return catalog


class Run(t.NamedTuple):
    """What one run wrote: records by stream, every STATE, every message."""

    records: dict[str, list[dict[str, t.Any]]]
    states: list[dict[str, t.Any]]
    messages: list[dict[str, t.Any]]

    def bookmark(self, stream: str) -> t.Any:
        """The last STATE's bookmark of `stream`."""
        return self.states[-1]["bookmarks"][stream].get("replication_key_value")


def run(
    capsys: pytest.CaptureFixture[str],
    config: dict[str, t.Any],
    *streams: str,
    state: dict[str, t.Any] | None = None,
    tap: TapAdobeCampaign | None = None,
) -> Run:
    """Sync `streams` (a tap built here, or `tap`); return what it wrote."""
    capsys.readouterr()
    tap = tap or TapAdobeCampaign(config=config, state=state, catalog=selecting(config, *streams))
    tap.sync_all()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    records: dict[str, list[dict[str, t.Any]]] = defaultdict(list)
    for message in messages:
        if message["type"] == "RECORD":
            records[message["stream"]].append(message["record"])
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return Run(records, states, messages)


def soap_actions(campaign: RunningCampaign) -> list[str]:
    """The SOAP methods called since the request log was last cleared."""
    return [r["soap_action"] for r in campaign.admin.requests() if r.get("soap_action")]
