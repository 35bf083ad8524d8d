"""opt_outs on backend v8 (nms:recipient over SOAP) against the sandbox."""

from __future__ import annotations

import typing as t

from campaign_client.optouts import FLAGS
from tap_adobe_campaign.tap import TapAdobeCampaign

from .test_opt_outs import linked_ids, opt_out, sftp_config
from .v8_helpers import run, v8_config

if t.TYPE_CHECKING:
    from crm_sandbox.campaign.inprocess import RunningCampaign


def opt_outs(campaign: RunningCampaign, capsys, state: dict | None = None, **config: t.Any):
    return run(capsys, v8_config(campaign, **config), "opt_outs", state=state)


def test_the_records_have_the_export_streams_shape_and_values(campaign, capsys) -> None:
    first, second = linked_ids(campaign, 2)
    opt_out(campaign, first, blackListEmail=True)
    opt_out(campaign, second, blackListPhone=True, ccpaOptOut=True)
    campaign.admin.run_opt_out_export(full=True)
    exported = run(capsys, sftp_config(campaign), "opt_outs").records["opt_outs"]
    v8 = opt_outs(campaign, capsys).records["opt_outs"]

    schema = TapAdobeCampaign(config=v8_config(campaign)).streams["opt_outs"].schema
    export_schema = TapAdobeCampaign(config=sftp_config(campaign)).streams["opt_outs"].schema
    assert {k: v["type"] for k, v in schema["properties"].items()} == {
        k: v["type"] for k, v in export_schema["properties"].items()
    }
    assert schema["required"] == export_schema["required"]
    by_id = {r["externalId"]: r for r in v8}
    assert len(by_id) == len(v8) == len(linked_ids(campaign, 1000))  # every linked profile
    for record in exported:
        if record["externalId"] is None:
            continue
        mine = by_id[record["externalId"]]
        assert mine.keys() == record.keys()
        for name in (*FLAGS, "email", "lastModified"):
            assert mine[name] == record[name], name
    assert by_id[first]["blackListEmail"] is True
    assert by_id[second]["ccpaOptOut"] is True
    # v8 keeps no change time per flag: unknown, so the bidirectional rule lets opt-outs win
    assert all(r[f"{flag}LastModified"] is None for r in v8 for flag in FLAGS)
    positions = [r["export_position"] for r in v8]
    assert positions == sorted(positions)
    assert {r["export_file"] for r in v8} == {"nms:recipient"}


def test_an_incremental_run_reads_only_changed_profiles_page_by_page(campaign, capsys) -> None:
    full = opt_outs(campaign, capsys)
    records = full.records["opt_outs"]
    bookmarks = [s["bookmarks"]["opt_outs"]["replication_key_value"] for s in full.states]
    pages = [r["export_position"] for r in records][9::10]  # each page's last record
    assert list(dict.fromkeys(bookmarks))[: len(pages)] == pages
    resumed = opt_outs(campaign, capsys, state=full.states[1]).records["opt_outs"]
    assert resumed == records[20:]

    assert opt_outs(campaign, capsys, state=full.states[-1]).records == {}
    (changed,) = linked_ids(campaign, 1)
    opt_out(campaign, changed, blackListEmail=True)
    again = opt_outs(campaign, capsys, state=full.states[-1]).records["opt_outs"]
    assert [(r["externalId"], r["blackListEmail"]) for r in again] == [(changed, True)]
    assert (
        again[0]["export_position"]
        > full.states[-1]["bookmarks"]["opt_outs"]["replication_key_value"]
    )


def test_d365_to_campaign_mode_reads_nothing(campaign, capsys) -> None:
    assert opt_outs(campaign, capsys, opt_out_sync="d365_to_campaign").records == {}
