"""`opt_out_sync` against the Dataverse sandbox: modes, the bidirectional rule, `opt_outs` rows."""

from __future__ import annotations

import datetime
import typing as t

import pytest
from sync_support.settings_check import ConfigError
from target_dynamics365.target import TargetDynamics365

from .conftest import CONNECTION
from .helpers import client, config, contact, contacts, run_target, writes

ALL_ALLOWED = {"donotemail": False, "donotbulkemail": False, "donotphone": False}
DAY1 = "optouts_20261120T020000000Z.csv"
DAY2 = "optouts_20261121T020000000Z.csv"


def set_contact(contact_id: str, **values: bool) -> datetime.datetime:
    """Change a contact in D365 (as a user would); return its new `modifiedon`."""
    client().patch(f"contacts({contact_id})", values)
    stamp = client().get_json(f"contacts({contact_id})?$select=modifiedon")["modifiedon"]
    return datetime.datetime.fromisoformat(stamp)


def campaign_time(moment: datetime.datetime) -> str:
    """A date-time as tap-adobe-campaign emits the export's times."""
    return moment.astimezone(datetime.UTC).isoformat(timespec="milliseconds")


def export_row(file: str, row: int, contact_id: str, **flags: t.Any) -> dict[str, t.Any]:
    """An `opt_outs` record: one row of Campaign's opt-out export."""
    return {
        "export_position": f"{file}:{row:07d}",
        "export_file": file,
        "PKey": f"@pkey-{contact_id[:8]}",
        "externalId": contact_id,
        "email": f"{contact_id[:8]}@example.com",
        "lastModified": "2026-11-20T01:00:00.000+00:00",
        **flags,
    }


def test_bidirectional_applies_the_rule_per_flag_with_modifiedon(admin, tmp_path) -> None:
    opted_in, kept, twice = (r["contactid"] for r in contacts(3, **ALL_ALLOWED))
    td = set_contact(opted_in, donotemail=True, donotbulkemail=True)
    td_kept = set_contact(kept, donotphone=True)
    hour = datetime.timedelta(hours=1)
    records = [
        # Campaign opted in after the contact's last change: Campaign wins, opt-out cleared
        export_row(
            DAY1,
            1,
            opted_in,
            blackListEmail=False,
            blackListEmailLastModified=campaign_time(td + hour),
        ),
        # the contact opted out of phone after Campaign's change: True wins, D365 holds it and
        # re-asserts it (written as it is, so that d365-to-campaign raises it in Campaign)
        export_row(
            DAY1,
            2,
            kept,
            blackListPhone=False,
            blackListPhoneLastModified=campaign_time(td_kept - hour),
        ),
        # the same profile in two exports, the later one first: the later export wins
        export_row(DAY2, 1, twice, blackListEmail=True, blackListEmailLastModified=None),
        export_row(DAY1, 3, twice, blackListEmail=False, blackListEmailLastModified=None),
    ]
    settings = config(tmp_path, opt_out_sync="bidirectional")
    admin.clear_requests()
    target = run_target(settings, records, "opt_outs")

    assert (contact(opted_in)["donotemail"], contact(opted_in)["donotbulkemail"]) == (False, False)
    assert contact(kept)["donotphone"] is True
    assert (contact(twice)["donotemail"], contact(twice)["donotbulkemail"]) == (True, True)
    counts = target.summary.streams()["opt_outs"]
    assert (counts["updated"], counts["opt_outs_reasserted"], counts["unchanged"]) == (3, 1, 0)
    log = admin.requests()
    assert len(writes(log)) == 1  # one UpdateMultiple
    (read,) = [r for r in log if r["method"] == "GET" and r["path"].endswith("/contacts")]
    assert "modifiedon" in read["query"]

    # The same rows again: the others agree; `kept` is re-asserted while Campaign lacks it.
    admin.clear_requests()
    rerun = run_target(settings, records, "opt_outs")
    counts = rerun.summary.streams()["opt_outs"]
    assert (counts["updated"], counts["opt_outs_reasserted"], counts["unchanged"]) == (1, 1, 2)
    # Campaign raised it (d365-to-campaign): nothing more to write.
    records[1] = export_row(DAY2, 2, kept, blackListPhone=True, blackListPhoneLastModified=None)
    admin.clear_requests()
    rerun = run_target(settings, records, "opt_outs")
    assert writes(admin.requests()) == []
    assert rerun.summary.streams()["opt_outs"]["unchanged"] == 3


def test_campaign_to_d365_makes_d365_agree_whatever_the_times(admin, tmp_path) -> None:
    (row,) = contacts(1, **ALL_ALLOWED)
    td = set_contact(row["contactid"], donotphone=True)
    record = export_row(
        DAY1,
        1,
        row["contactid"],
        blackListPhone=False,
        blackListPhoneLastModified=campaign_time(td - datetime.timedelta(days=1)),
    )
    run_target(config(tmp_path), [record], "opt_outs")  # the default mode
    assert contact(row["contactid"])["donotphone"] is False


@pytest.mark.parametrize("mode", ["disabled", "d365_to_campaign"])
def test_modes_without_this_direction_read_and_write_nothing(admin, tmp_path, mode) -> None:
    rows = contacts(2, **ALL_ALLOWED)
    records = [{"externalId": r["contactid"], "blackListEmail": True} for r in rows]
    admin.clear_requests()
    target = run_target(config(tmp_path, opt_out_sync=mode), records)

    assert [r for r in admin.requests() if "/api/data/" in r["path"]] == []
    assert target.summary.streams()["profiles"]["skipped_mode"] == 2
    assert all(contact(r["contactid"])["donotemail"] is False for r in rows)


def test_an_unknown_mode_is_a_config_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as info:
        TargetDynamics365(config={**CONNECTION, "opt_out_sync": "both"})
    assert info.value.errors == [
        "'both' is not one of ['disabled', 'd365_to_campaign', 'campaign_to_d365', "
        "'bidirectional'] in config['opt_out_sync']"
    ]
