"""`opt_out_sync`: which Campaign opt-out fields the target writes, in each of the four modes."""

from __future__ import annotations

import pytest
from sync_support.settings_check import ConfigError
from target_adobe_campaign.optouts import DEFAULT_FIELDS, MODES, OptOutPolicy
from target_adobe_campaign.target import TargetAdobeCampaign

from .helpers import ROUTES, Run, record, rows, schema, writes

BODY = {"externalId": "c1", "email": "a@example.com", "blackListEmail": True, "ccpaOptOut": False}
WITHOUT_OPT_OUTS = {"externalId": "c1", "email": "a@example.com"}


@pytest.mark.parametrize(
    ("mode", "created"),
    [
        ("disabled", WITHOUT_OPT_OUTS),
        ("d365_to_campaign", BODY),
        ("campaign_to_d365", WITHOUT_OPT_OUTS),
        ("bidirectional", BODY),
    ],
)
def test_creates_carry_opt_outs_only_when_this_side_writes_them(mode, created) -> None:
    assert OptOutPolicy(mode=mode).for_create(dict(BODY)) == created


RAISE = {"firstName": "Ada", "blackListEmail": True}  # Campaign has false
CLEAR = {"firstName": "Ada", "blackListEmail": False, "blackList": None}  # Campaign has true


@pytest.mark.parametrize(
    ("mode", "changes", "written", "kept"),
    [
        ("disabled", RAISE, {"firstName": "Ada"}, 0),
        ("disabled", CLEAR, {"firstName": "Ada"}, 0),
        ("d365_to_campaign", RAISE, RAISE, 0),
        ("d365_to_campaign", CLEAR, CLEAR, 0),
        ("campaign_to_d365", RAISE, {"firstName": "Ada"}, 0),
        ("campaign_to_d365", CLEAR, {"firstName": "Ada"}, 0),
        ("bidirectional", RAISE, RAISE, 0),
        ("bidirectional", CLEAR, {"firstName": "Ada"}, 2),
    ],
)
def test_updates_per_mode(mode, changes, written, kept) -> None:
    assert OptOutPolicy(mode=mode).for_update(dict(changes)) == (written, kept)


def test_only_the_configured_fields_are_governed() -> None:
    policy = OptOutPolicy.from_config(
        {"opt_out_sync": "disabled", "opt_out_fields": ["ccpaOptOut"]}
    )
    assert policy.for_create(dict(BODY)) == {k: v for k, v in BODY.items() if k != "ccpaOptOut"}
    assert OptOutPolicy.from_config({}) == OptOutPolicy(
        "d365_to_campaign", frozenset(DEFAULT_FIELDS)
    )


def test_an_unknown_mode_is_a_config_error_naming_the_setting() -> None:
    config = {"organization": "o", "client_id": "c", "client_secret": "s", "resources": ROUTES}
    with pytest.raises(ConfigError) as info:
        TargetAdobeCampaign(config={**config, "opt_out_sync": "both"})
    assert "config['opt_out_sync']" in str(info.value.errors)


# --- against the sandbox --------------------------------------------------------------------

FLAGS = {"type": ["boolean", "null"]}
CONTACT = schema(
    "contact",
    {
        "externalId": {"type": "string"},
        "firstName": {"type": ["string", "null"]},
        "blackListEmail": FLAGS,
        "blackListPhone": FLAGS,
    },
    "externalId",
)


def contact(key: str, *, email: bool, phone: bool = False, name: str = "Ada") -> dict:
    return record(
        "contact", externalId=key, firstName=name, blackListEmail=email, blackListPhone=phone
    )


def flags(campaign) -> dict[str, tuple[bool, bool]]:
    return {
        key: (row["blackListEmail"], row["blackListPhone"])
        for key, row in rows(campaign, "profile", "externalId").items()
        if key in ("c1", "c2", "c3")
    }


#: (mode) -> Campaign's flags after each step: create; D365 clears c1 and raises c2's phone
#: while Campaign raised c3's email.
EXPECTED = {
    "disabled": [
        {"c1": (False, False), "c2": (False, False), "c3": (False, False)},
        {"c1": (False, False), "c2": (False, False), "c3": (True, False)},
    ],
    "campaign_to_d365": [
        {"c1": (False, False), "c2": (False, False), "c3": (False, False)},
        {"c1": (False, False), "c2": (False, False), "c3": (True, False)},
    ],
    "d365_to_campaign": [
        {"c1": (True, True), "c2": (False, False), "c3": (False, False)},
        {"c1": (False, False), "c2": (False, True), "c3": (False, False)},
    ],
    "bidirectional": [
        {"c1": (True, True), "c2": (False, False), "c3": (False, False)},
        {"c1": (True, True), "c2": (False, True), "c3": (True, False)},
    ],
}
#: Opt-outs a clear was refused for in the second step (bidirectional: c1's two, c3's one).
KEPT = {"disabled": 0, "campaign_to_d365": 0, "d365_to_campaign": 0, "bidirectional": 3}


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_against_campaign_and_reruns_write_nothing(
    campaign, tmp_path, capsys, mode
) -> None:
    def run(*messages: dict) -> Run:
        target_run = Run(
            campaign, tmp_path, resources={"contact": ROUTES["contact"]}, opt_out_sync=mode
        )
        target_run.listen([CONTACT, *messages], capsys)
        return target_run

    first = [
        contact("c1", email=True, phone=True),
        contact("c2", email=False),
        contact("c3", email=False),
    ]
    created = run(*first)
    assert flags(campaign) == EXPECTED[mode][0]
    sent = [set(body) for _, _, body in created.writes_sent()]
    assert len(sent) == 3
    if mode in ("disabled", "campaign_to_d365"):  # not even sent as false
        assert all(not body & {"blackListEmail", "blackListPhone"} for body in sent)

    # Campaign: c3 opts out of email; D365: c1 opts back in, c2 opts out of phone
    (c3,) = campaign.admin.find_rows("profile", externalId="c3")
    campaign.admin.update_row("profile", c3["PKey"], {"blackListEmail": True})
    second = [contact("c1", email=False), contact("c2", email=False, phone=True), first[2]]
    campaign.admin.clear_requests()
    changed = run(*second)
    assert flags(campaign) == EXPECTED[mode][1]
    assert changed.summary["totals"]["opt_outs_kept"] == KEPT[mode]

    for _ in range(2):  # converged: the same input again writes nothing
        campaign.admin.clear_requests()
        again = run(*second)
        assert writes(campaign) == []
        assert again.summary["totals"]["opt_outs_kept"] == KEPT[mode]
    assert flags(campaign) == EXPECTED[mode][1]
