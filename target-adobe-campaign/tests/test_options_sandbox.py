"""The per-stream write options against the Campaign sandbox, fed D365 rows through stream maps.

create_only, replacements (technical values and labels), per-stream deletes, and the
`_sdc_filtered_out` filter with and without `delete_filtered_out`; reruns write nothing.
"""

from __future__ import annotations

import pytest

from .helpers import Run, record, rows, schema, writes

KEY_FILTER = {"name": "byExternalId", "param": "externalId_parameter"}
GENDERS = {"1": "male", "2": "female", "null": "unknown", "__default__": "unknown"}
CONTACT = {
    "resource": "profile",
    "key_filter": KEY_FILTER,
    "create_only": ["cusJobTitle"],
    "replacements": {"gender": GENDERS},
}
CONTACT_MAP = {
    "__filter__": "record.get('_sdc_deleted_at') is None",
    "__key_properties__": ["externalId"],
    "__else__": "__NULL__",
    "externalId": "contactid",
    "firstName": "firstname",
    "email": "emailaddress1",
    "cusJobTitle": "jobtitle",
    "gender": "gendercode",  # technical value; the replacements turn it into the enum name
    # written once: inactive contacts and contacts without an email are not for Campaign
    # (statecode is not mapped: the expression sees the source record)
    "_sdc_filtered_out": "statecode != 0 or not emailaddress1",
}
DELETES_MAP = {
    "__source__": "contact",
    "__filter__": "record.get('_sdc_deleted_at') is not None",
    "__key_properties__": ["externalId"],
    "__else__": "__NULL__",
    "externalId": "contactid",
    "_sdc_deleted_at": "_sdc_deleted_at",
}
STREAM_MAPS = {"contact": CONTACT_MAP, "contact_deletes": DELETES_MAP}
NULLABLE_STRING = {"type": ["string", "null"]}
D365_CONTACT = schema(
    "contact",
    {
        "contactid": {"type": "string"},
        "firstname": NULLABLE_STRING,
        "emailaddress1": NULLABLE_STRING,
        "jobtitle": {"type": ["string", "null"], "maxLength": 100},
        "gendercode": {"type": ["integer", "null"]},
        "gendercode_formatted": NULLABLE_STRING,
        "statecode": {"type": ["integer", "null"]},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
    "contactid",
)


def d365(contactid: str, **values) -> dict:
    row = {
        "contactid": contactid,
        "firstname": f"F{contactid}",
        "emailaddress1": f"{contactid}@example.com",
        "jobtitle": "Engineer",
        "gendercode": 2,
        "statecode": 0,
        **values,
    }
    return record("contact", **row)


def run(campaign, tmp_path, capsys, messages, *, contact=None, **config) -> Run:
    resources = {
        "contact": {**CONTACT, **(contact or {})},
        "contact_deletes": {"resource": "profile", "key_filter": KEY_FILTER},
    }
    resources["contact_deletes"].update(config.pop("deletes_entry", {}))
    settings = {"resources": resources, "stream_maps": STREAM_MAPS, **config}
    target_run = Run(campaign, tmp_path, **settings)
    target_run.listen([D365_CONTACT, *messages], capsys)
    return target_run


def ours(campaign) -> dict[str, dict]:
    return rows(campaign, "profile", "externalId")


def test_create_only_fields_are_written_on_create_and_never_updated(
    campaign, tmp_path, capsys
) -> None:
    first = run(campaign, tmp_path, capsys, [d365("c1")])
    ((method, _, body),) = first.writes_sent()
    assert (method, body["cusJobTitle"]) == ("POST", "Engineer")
    campaign.admin.clear_requests()

    # a change in a create-only field alone costs no write
    second = run(campaign, tmp_path, capsys, [d365("c1", jobtitle="CTO")])
    assert writes(campaign) == []
    assert second.summary["streams"]["contact"]["unchanged"] == 1

    # with another change, the PATCH leaves the create-only field out
    third = run(campaign, tmp_path, capsys, [d365("c1", jobtitle="CTO", firstname="Ada")])
    ((method, _, body),) = third.writes_sent()
    assert (method, body) == ("PATCH", {"firstName": "Ada"})
    profile = ours(campaign)["c1"]
    assert (profile["firstName"], profile["cusJobTitle"]) == ("Ada", "Engineer")


def test_replacements_turn_technical_values_into_enumeration_names(
    campaign, tmp_path, capsys
) -> None:
    codes = {"m": 1, "f": 2, "other": 3, "none": None}
    messages = [d365(key, gendercode=code) for key, code in codes.items()]
    first = run(campaign, tmp_path, capsys, messages)
    genders = {key: ours(campaign)[key]["gender"] for key in codes}
    assert genders == {"m": "male", "f": "female", "other": "unknown", "none": "unknown"}
    assert first.summary["streams"]["contact"]["created"] == 4
    campaign.admin.clear_requests()

    rerun = run(campaign, tmp_path, capsys, messages)
    assert writes(campaign) == []
    assert rerun.summary["streams"]["contact"]["unchanged"] == 4


def test_replacements_can_map_choice_labels(campaign, tmp_path, capsys) -> None:
    """tap-dynamics365's include_formatted_values emits `<column>_formatted` labels."""
    labels = {**CONTACT_MAP, "gender": "gendercode_formatted"}
    contact = {"replacements": {"gender": {"Male": "male", "Female": "female"}}}
    run(
        campaign,
        tmp_path,
        capsys,
        [d365("m", gendercode_formatted="Male"), d365("f", gendercode_formatted="Female")],
        contact=contact,
        stream_maps={"contact": labels, "contact_deletes": DELETES_MAP},
    )
    assert {key: ours(campaign)[key]["gender"] for key in ("m", "f")} == {
        "m": "male",
        "f": "female",
    }


@pytest.mark.parametrize(
    ("apply_deletes", "deletes", "deleted"),
    [(False, True, True), (True, False, False)],
    ids=["on-for-the-stream", "off-for-the-stream"],
)
def test_a_stream_deletes_option_overrides_apply_deletes(
    campaign, tmp_path, capsys, apply_deletes, deletes, deleted
) -> None:
    run(campaign, tmp_path, capsys, [d365("c1"), d365("c2")])
    campaign.admin.clear_requests()
    removal = record("contact", contactid="c1", _sdc_deleted_at="2024-05-02T00:00:00Z")
    second = run(
        campaign,
        tmp_path,
        capsys,
        [removal],
        apply_deletes=apply_deletes,
        deletes_entry={"deletes": deletes},
    )
    counts = second.summary["streams"]["contact_deletes"]
    if deleted:
        assert [w["method"] for w in writes(campaign)] == ["DELETE"]
        assert "c1" not in ours(campaign)
        assert counts["deleted"] == 1
    else:
        assert writes(campaign) == []
        assert "c1" in ours(campaign)
        assert counts["skipped_deletes"] == 1
    assert "c2" in ours(campaign)


@pytest.mark.parametrize("delete_filtered_out", [True, False])
def test_records_the_filter_now_excludes(campaign, tmp_path, capsys, delete_filtered_out) -> None:
    contact = {"delete_filtered_out": delete_filtered_out}
    first = run(campaign, tmp_path, capsys, [d365("c1"), d365("c2"), d365("c3")], contact=contact)
    assert first.summary["streams"]["contact"]["created"] == 3
    assert all(  # the filter is never sent
        not any(name.startswith("_sdc_") for name in body) for _, _, body in first.writes_sent()
    )
    campaign_only = {r["PKey"] for r in campaign.admin.find_rows("profile") if not r["externalId"]}
    campaign.admin.clear_requests()

    later = [
        d365("c1", statecode=1),  # deactivated in D365
        d365("c2", emailaddress1=None),  # lost its email
        d365("c3"),
        d365("c4", statecode=1),  # excluded from the start: never created
    ]
    second = run(campaign, tmp_path, capsys, later, contact=contact)
    counts = second.summary["streams"]["contact"]
    assert "c4" not in ours(campaign)
    assert counts["unchanged"] == 1
    if delete_filtered_out:
        assert sorted(w["method"] for w in writes(campaign)) == ["DELETE", "DELETE"]
        assert set(ours(campaign)) & {"c1", "c2", "c3"} == {"c3"}
        assert (counts["deleted_filtered_out"], counts["filtered_out"]) == (2, 1)
    else:
        assert writes(campaign) == []
        assert {"c1", "c2", "c3"} <= set(ours(campaign))
        assert ours(campaign)["c2"]["email"] == "c2@example.com"  # not written either
        assert (counts["deleted_filtered_out"], counts["filtered_out"]) == (0, 3)
    remaining = {r["PKey"] for r in campaign.admin.find_rows("profile") if not r["externalId"]}
    assert remaining == campaign_only  # profiles without a CRM id are never touched
    campaign.admin.clear_requests()

    rerun = run(campaign, tmp_path, capsys, later, contact=contact)
    assert writes(campaign) == []
    counts = rerun.summary["streams"]["contact"]
    assert (counts["filtered_out"], counts["unchanged"], counts["deleted_filtered_out"]) == (
        3,
        1,
        0,
    )


def test_filters_combine_conditions_with_and_or(campaign, tmp_path, capsys) -> None:
    """`__filter__` drops records before the target; `_sdc_filtered_out` lets it see them."""
    combined = {
        **CONTACT_MAP,
        "__filter__": "record.get('_sdc_deleted_at') is None and emailaddress1 is not None",
        "_sdc_filtered_out": "statecode != 0 and jobtitle != 'Board member' or firstname == 'Test'",
    }
    messages = [
        d365("c1"),
        d365("c2", statecode=1),  # inactive: filtered out
        d365("c3", statecode=1, jobtitle="Board member"),  # inactive, but board members stay
        d365("c4", firstname="Test"),  # test contact: filtered out
        d365("c5", emailaddress1=None),  # dropped by __filter__: the target never sees it
    ]
    first = run(
        campaign,
        tmp_path,
        capsys,
        messages,
        stream_maps={"contact": combined, "contact_deletes": DELETES_MAP},
    )
    assert set(ours(campaign)) & {"c1", "c2", "c3", "c4", "c5"} == {"c1", "c3"}
    counts = first.summary["streams"]["contact"]
    assert (counts["created"], counts["filtered_out"], sum(counts.values())) == (2, 2, 4)
