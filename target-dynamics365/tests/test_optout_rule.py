"""The opt-out sync rule (`optouts`), table-driven, without a server."""

from __future__ import annotations

import datetime
import itertools
import typing as t

import pytest
from target_dynamics365.optouts import (
    DEFAULT_OPT_OUT_MAPPING,
    OPT_OUT_SYNC_MODES,
    campaign_is_newer,
    changes,
    contact_fields,
    parse_time,
    resolve,
    supersedes,
)

TD = "2026-11-20T10:00:00Z"  # the contact's modifiedon (Dataverse: to the second)
BEFORE = "2026-11-20 09:59:59.999Z"  # Campaign's format
SAME_SECOND = "2026-11-20 10:00:00.400Z"
AFTER = "2026-11-20 10:00:01.000Z"
NOTHING_SET = dict.fromkeys(contact_fields(DEFAULT_OPT_OUT_MAPPING), False)
UTC = datetime.UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20 10:00:00.123Z", datetime.datetime(2026, 11, 20, 10, 0, 0, 123000, UTC)),
        ("2026-11-20T11:00:00+01:00", datetime.datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
        ("2026-11-20T10:00:00Z", datetime.datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
        ("2026-11-20T10:00:00", datetime.datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("yesterday", None),
        (12, None),
    ],
)
def test_parse_time(value: t.Any, expected: datetime.datetime | None) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    ("change_time", "modified_on", "newer"),
    [
        (AFTER, TD, True),
        (BEFORE, TD, False),
        (SAME_SECOND, TD, False),  # same second as modifiedon = equal
        (None, TD, False),  # Tc unknown
        ("garbage", TD, False),
        (AFTER, None, False),  # Td unknown: not "older"
    ],
)
def test_campaign_is_newer(change_time: str | None, modified_on: str | None, newer: bool) -> None:
    assert campaign_is_newer(change_time, modified_on) is newer


# mode, Campaign value, D365 value, Tc, synced value
RESOLVE_CASES = [
    # agreeing values stay, in every mode and whatever the times
    *[
        (mode, v, v, tc, v)
        for mode in OPT_OUT_SYNC_MODES
        for v in (True, False)
        for tc in (None, AFTER)
    ],
    # modes that do not write D365 keep D365's value
    ("disabled", True, False, AFTER, False),
    ("disabled", False, True, AFTER, True),
    ("d365_to_campaign", True, False, AFTER, False),
    ("d365_to_campaign", False, True, AFTER, True),
    # campaign_to_d365: Campaign's value, whatever the times
    ("campaign_to_d365", True, False, BEFORE, True),
    ("campaign_to_d365", False, True, BEFORE, False),
    ("campaign_to_d365", False, True, None, False),
    # bidirectional: Campaign newer → Campaign's value (an opt-in clears D365)
    ("bidirectional", False, True, AFTER, False),
    ("bidirectional", True, False, AFTER, True),
    # bidirectional: D365 newer, a tie, or Tc unknown → True wins
    ("bidirectional", False, True, BEFORE, True),
    ("bidirectional", False, True, SAME_SECOND, True),
    ("bidirectional", False, True, None, True),
    ("bidirectional", True, False, BEFORE, True),
    ("bidirectional", True, False, SAME_SECOND, True),
    ("bidirectional", True, False, None, True),
]


@pytest.mark.parametrize(("mode", "campaign", "d365", "change_time", "expected"), RESOLVE_CASES)
def test_resolve(
    mode: str, campaign: bool, d365: bool, change_time: str | None, expected: bool
) -> None:
    assert resolve(mode, campaign, d365, change_time, TD) is expected


def contact(**values: bool) -> dict[str, t.Any]:
    """A contact as read: every mapped column (false unless given) and `modifiedon`."""
    return {**NOTHING_SET, **values, "modifiedon": TD}


OPT_IN = {"blackListEmail": False, "blackListEmailLastModified": AFTER}
OPT_IN_OLD = {"blackListEmail": False, "blackListEmailLastModified": BEFORE}
OPT_OUT_OLD = {"blackListEmail": True, "blackListEmailLastModified": BEFORE}
EMAIL_ON = {"donotemail": True, "donotbulkemail": True}
EMAIL_OFF = {"donotemail": False, "donotbulkemail": False}


@pytest.mark.parametrize(
    ("mode", "record", "current", "expected"),
    [
        # a disagreeing flag in each mode
        ("disabled", OPT_IN, contact(**EMAIL_ON), {}),
        ("d365_to_campaign", OPT_IN, contact(**EMAIL_ON), {}),
        ("campaign_to_d365", OPT_IN, contact(**EMAIL_ON), EMAIL_OFF),
        ("bidirectional", OPT_IN, contact(**EMAIL_ON), EMAIL_OFF),
        # D365's later opt-out is kept (True wins), an older Campaign opt-in does not clear it
        ("bidirectional", OPT_IN_OLD, contact(**EMAIL_ON), {}),
        ("campaign_to_d365", OPT_IN_OLD, contact(**EMAIL_ON), EMAIL_OFF),
        # D365's later opt-in loses to Campaign's opt-out: True wins
        ("bidirectional", OPT_OUT_OLD, contact(), EMAIL_ON),
        # profiles records carry no change time: True wins in bidirectional
        ("bidirectional", {"blackListEmail": False}, contact(donotemail=True), {}),
        ("bidirectional", {"blackListEmail": True}, contact(), EMAIL_ON),
        # only the columns that differ are written
        ("bidirectional", {"blackListEmail": True}, contact(donotemail=True), {}),
        ("bidirectional", OPT_IN, contact(donotbulkemail=True), {"donotbulkemail": False}),
        # absent or null flags leave their columns alone
        ("bidirectional", {"blackListPhone": None}, contact(donotphone=True), {}),
        ("campaign_to_d365", {"blackListFax": True}, contact(donotphone=True), {"donotfax": True}),
    ],
)
def test_changes_per_mode(
    mode: str, record: dict[str, t.Any], current: dict[str, t.Any], expected: dict[str, bool]
) -> None:
    assert changes(record, DEFAULT_OPT_OUT_MAPPING, current, mode) == expected


def test_concurrent_changes_on_different_flags_are_decided_per_flag() -> None:
    """Campaign opted in to email after the contact changed; D365 opted out of phone later."""
    record = {
        "blackListEmail": False,
        "blackListEmailLastModified": AFTER,
        "blackListPhone": False,
        "blackListPhoneLastModified": BEFORE,
    }
    current = contact(donotemail=True, donotbulkemail=True, donotphone=True)
    assert changes(record, DEFAULT_OPT_OUT_MAPPING, current, "bidirectional") == EMAIL_OFF
    assert changes(record, DEFAULT_OPT_OUT_MAPPING, current, "campaign_to_d365") == {
        **EMAIL_OFF,
        "donotphone": False,
    }


SHARED = {"blackList": ["donotemail"], "blackListEmail": ["donotemail", "donotbulkemail"]}


@pytest.mark.parametrize("mode", ["campaign_to_d365", "bidirectional"])
def test_a_sibling_flag_never_clears_a_column_another_true_flag_maps_onto(mode: str) -> None:
    record = {"blackList": True, "blackListEmail": False, "blackListEmailLastModified": AFTER}
    current = {"donotemail": True, "donotbulkemail": True, "modifiedon": TD}
    assert changes(record, SHARED, current, mode) == {"donotbulkemail": False}
    # blackList raised in Campaign: donotemail set, blackListEmail's false does not undo it
    record = {"blackList": True, "blackListLastModified": AFTER, "blackListEmail": False}
    current = {"donotemail": False, "donotbulkemail": False, "modifiedon": TD}
    assert changes(record, SHARED, current, mode) == {"donotemail": True}


FLAG_STATES: list[dict[str, t.Any]] = [
    {},
    {"blackListEmail": True},
    {"blackListEmail": False},
    *[
        {"blackListEmail": value, "blackListEmailLastModified": tc}
        for value in (True, False)
        for tc in (BEFORE, SAME_SECOND, AFTER)
    ],
]
PHONE_STATES: list[dict[str, t.Any]] = [
    {"blackListPhone": value, "blackListPhoneLastModified": tc}
    for value in (True, False, None)
    for tc in (BEFORE, AFTER, None)
]
COLUMN_STATES = [
    dict(zip(("donotemail", "donotbulkemail", "donotphone"), values, strict=True))
    for values in itertools.product((True, False), repeat=3)
]


@pytest.mark.parametrize("mode", OPT_OUT_SYNC_MODES)
@pytest.mark.parametrize("bump", [True, False], ids=["modifiedon-bumped", "modifiedon-kept"])
def test_applying_the_changes_again_writes_nothing(mode: str, bump: bool) -> None:
    """Every combination: once the decided values are written, the same record writes nothing.

    Dataverse bumps `modifiedon` on a write (bumped); kept covers a write that left it alone.
    """
    later = "2026-11-20T10:05:00Z"
    for email, phone, columns in itertools.product(FLAG_STATES, PHONE_STATES, COLUMN_STATES):
        record = {**email, **phone}
        current = contact(**columns)
        first = changes(record, DEFAULT_OPT_OUT_MAPPING, current, mode)
        written = {**current, **first, "modifiedon": later if first and bump else TD}
        assert changes(record, DEFAULT_OPT_OUT_MAPPING, written, mode) == {}, (record, current)


@pytest.mark.parametrize(
    ("record", "previous", "replaces"),
    [
        (
            {"export_position": "optouts_20261121T020000000Z.csv:0000001"},
            {"export_position": "optouts_20261120T020000000Z.csv:0000009"},
            True,
        ),
        (
            {"export_position": "optouts_20261120T020000000Z.csv:0000009"},
            {"export_position": "optouts_20261121T020000000Z.csv:0000001"},
            False,
        ),
        (
            {"export_position": "optouts_20261120T020000000Z.csv:0000010"},
            {"export_position": "optouts_20261120T020000000Z.csv:0000009"},
            True,
        ),
        ({"externalId": "x"}, {"externalId": "x"}, True),  # profiles: stream order
        ({"export_position": None}, {"export_position": "f.csv:0000001"}, True),
    ],
)
def test_the_latest_export_position_wins(
    record: dict[str, t.Any], previous: dict[str, t.Any], replaces: bool
) -> None:
    assert supersedes(record, previous) is replaces
