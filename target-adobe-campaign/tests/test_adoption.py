"""`adopt_by`: a CRM record new to Campaign takes over the profile created in Campaign for it.

The "Export to CRM" round trip: a profile made in Campaign (no externalId) became a D365
contact; when that contact comes back, its profile is found by email and given the CRM id
instead of a duplicate being created. Checked against the Campaign sandbox.
"""

from __future__ import annotations

import pytest
from campaign_client.client import CampaignClient
from target_adobe_campaign.target import RecordsRejectedError

from .helpers import CONTACT_SCHEMA, PROFILES, Run, connection, record, rows, writes

KEY_FILTER = {"name": "byExternalId", "param": "externalId_parameter"}
ADOPTING = {"contact": {"resource": "profile", "key_filter": KEY_FILTER, "adopt_by": "email"}}


def unlinked(campaign, email: str) -> list[dict]:
    """Campaign's profiles without an externalId holding `email` (any case)."""
    return [
        r
        for r in campaign.admin.find_rows("profile")
        if not r["externalId"] and (r["email"] or "").casefold() == email.casefold()
    ]


def make_profile(campaign, **values) -> None:
    """Create a profile as a landing page would: through the API, without an externalId."""
    client = CampaignClient.from_config(connection(campaign))
    client.post(PROFILES, values)


def contact(key: str, email: str, **values) -> dict:
    return record("contact", externalId=key, email=email, **values)


def run(campaign, tmp_path, capsys, messages, resources=ADOPTING) -> Run:
    target_run = Run(campaign, tmp_path, resources=resources)
    target_run.listen([CONTACT_SCHEMA, *messages], capsys)
    return target_run


def test_a_new_contact_adopts_the_profile_with_its_email(campaign, tmp_path, capsys) -> None:
    make_profile(campaign, email="Ada.Lovelace@Example.com", firstName="Ada")
    (profile,) = unlinked(campaign, "ada.lovelace@example.com")
    total = len(campaign.admin.find_rows("profile"))
    campaign.admin.clear_requests()

    first = run(
        campaign,
        tmp_path,
        capsys,
        [
            contact("c1", "ada.lovelace@example.com", lastName="Lovelace"),
            contact("c2", "grace@example.com", lastName="Hopper"),
        ],
    )

    adopted = rows(campaign, "profile", "externalId")["c1"]
    assert adopted["PKey"] == profile["PKey"]  # the same profile, now linked
    assert (adopted["firstName"], adopted["lastName"]) == ("Ada", "Lovelace")
    assert len(campaign.admin.find_rows("profile")) == total + 1  # c2 only
    methods = sorted(w["method"] for w in writes(campaign))
    assert methods == ["PATCH", "POST"]
    counts = first.summary["streams"]["contact"]
    assert (counts["adopted"], counts["created"]) == (1, 1)
    campaign.admin.clear_requests()

    rerun = run(campaign, tmp_path, capsys, [contact("c1", "ada.lovelace@example.com")])
    assert writes(campaign) == []
    assert rerun.summary["streams"]["contact"]["unchanged"] == 1


def test_a_profile_is_adopted_once(campaign, tmp_path, capsys) -> None:
    """Two new contacts with one email: the first adopts the profile, the second is created."""
    make_profile(campaign, email="shared@example.com")
    first = run(
        campaign,
        tmp_path,
        capsys,
        [contact("c1", "shared@example.com"), contact("c2", "shared@example.com")],
    )
    counts = first.summary["streams"]["contact"]
    assert (counts["adopted"], counts["created"]) == (1, 1)
    ours = rows(campaign, "profile", "externalId")
    assert {"c1", "c2"} <= set(ours)
    assert unlinked(campaign, "shared@example.com") == []


def test_several_candidates_reject_the_record_and_create_nothing(
    campaign, tmp_path, capsys
) -> None:
    make_profile(campaign, email="twice@example.com", firstName="One")
    make_profile(campaign, email="twice@example.com", firstName="Two")
    before = len(campaign.admin.find_rows("profile"))

    with pytest.raises(RecordsRejectedError):
        run(campaign, tmp_path, capsys, [contact("c1", "twice@example.com")])

    assert len(campaign.admin.find_rows("profile")) == before
    assert len(unlinked(campaign, "twice@example.com")) == 2
    target = Run(campaign, tmp_path)  # read the rejects file of the run above
    (reject,) = target.rejects
    assert reject["key"] == "c1"
    assert reject["field"] == "email"
    assert reject["reason"].startswith("2 Campaign profile records have no externalId and email")


def test_without_adopt_by_profiles_made_in_campaign_are_never_touched(
    campaign, tmp_path, capsys
) -> None:
    make_profile(campaign, email="landing@example.com")
    (profile,) = unlinked(campaign, "landing@example.com")
    plain = {"contact": {"resource": "profile", "key_filter": KEY_FILTER}}
    run(campaign, tmp_path, capsys, [contact("c1", "landing@example.com")], resources=plain)
    assert unlinked(campaign, "landing@example.com") == [profile]
    assert rows(campaign, "profile", "externalId")["c1"]["PKey"] != profile["PKey"]


def test_a_dry_run_counts_the_adoption_and_writes_nothing(campaign, tmp_path, capsys) -> None:
    make_profile(campaign, email="dry@example.com")
    campaign.admin.clear_requests()
    target_run = Run(campaign, tmp_path, resources=ADOPTING, dry_run=True)
    target_run.listen([CONTACT_SCHEMA, contact("c1", "dry@example.com")], capsys)
    assert writes(campaign) == []
    assert target_run.summary["streams"]["contact"]["adopted"] == 1


def test_adopt_by_must_be_a_property_of_the_stream(campaign, tmp_path, capsys) -> None:
    resources = {"contact": {**ADOPTING["contact"], "adopt_by": "cusNickname"}}
    with pytest.raises(Exception, match=r"adopt_by: 'cusNickname' is not a property"):
        run(campaign, tmp_path, capsys, [contact("c1", "x@example.com")], resources=resources)
