"""`optouts.decide`: what one Campaign record writes, and when it re-asserts a D365 opt-out.

Bidirectional, a flag False in Campaign and True in D365, Campaign's change not the newer one
(or of unknown time, as on Campaign v8): True wins, D365 already holds it, Campaign must be
raised. The decision re-writes the flag's true columns, so the contact's `modifiedon` moves and
d365-to-campaign's next incremental read raises the flag.
"""

from __future__ import annotations

import datetime
import io
import itertools
import typing as t

import pytest
from dataverse_client.client import DataverseClient
from target_dynamics365.optouts import (
    DEFAULT_OPT_OUT_MAPPING,
    OPT_OUT_SYNC_MODES,
    Decision,
    changes,
    contact_fields,
    decide,
)
from target_dynamics365.target import RecordsRejectedError, TargetDynamics365

from .helpers import config, contacts, run_target, singer_input, writes

TD = "2026-11-20T10:00:00Z"  # the contact's modifiedon
LATER = "2026-11-20T10:05:00Z"  # modifiedon after a write
BEFORE = "2026-11-20 09:59:59.999Z"
SAME_SECOND = "2026-11-20 10:00:00.400Z"
AFTER = "2026-11-20 10:00:01.000Z"
NOTHING_SET = dict.fromkeys(contact_fields(DEFAULT_OPT_OUT_MAPPING), False)
EMAIL_ON = {"donotemail": True, "donotbulkemail": True}
EMAIL_OFF = {"donotemail": False, "donotbulkemail": False}


def contact(modified_on: str = TD, **values: bool) -> dict[str, t.Any]:
    """A contact as read: every mapped column (false unless given) and `modifiedon`."""
    return {**NOTHING_SET, **values, "modifiedon": modified_on}


def email(value: bool, change_time: str | None = None) -> dict[str, t.Any]:
    """A Campaign record's blackListEmail and its change time (None: unknown, as on v8)."""
    return {"blackListEmail": value, "blackListEmailLastModified": change_time}


def test_an_opt_in_of_unknown_time_against_a_d365_opt_out_is_reasserted() -> None:
    """Campaign v8 (no change time per flag): True wins, D365 keeps it and is re-written."""
    decision = decide(email(False), DEFAULT_OPT_OUT_MAPPING, contact(**EMAIL_ON), "bidirectional")
    assert decision == Decision(EMAIL_ON, ("blackListEmail",))
    assert decision.is_reassertion


@pytest.mark.parametrize("change_time", [BEFORE, SAME_SECOND], ids=["older", "same-second"])
def test_an_older_or_tied_opt_in_against_a_d365_opt_out_is_reasserted(change_time: str) -> None:
    """Campaign Standard with D365 the newer (or tied): the same as an unknown time."""
    record = email(False, change_time)
    decision = decide(record, DEFAULT_OPT_OUT_MAPPING, contact(**EMAIL_ON), "bidirectional")
    assert decision == Decision(EMAIL_ON, ("blackListEmail",))


def test_only_the_columns_that_are_true_are_rewritten_as_they_are() -> None:
    """A flag is True in D365 if any of its columns is: the others stay as they are."""
    current = contact(donotbulkemail=True)
    decision = decide(email(False), DEFAULT_OPT_OUT_MAPPING, current, "bidirectional")
    assert decision == Decision({"donotbulkemail": True}, ("blackListEmail",))


def test_a_newer_opt_in_wins_and_clears_d365_without_reassertion() -> None:
    record = email(False, AFTER)
    decision = decide(record, DEFAULT_OPT_OUT_MAPPING, contact(**EMAIL_ON), "bidirectional")
    assert decision == Decision(EMAIL_OFF, ())
    assert not decision.is_reassertion


@pytest.mark.parametrize("change_time", [None, BEFORE, AFTER])
def test_both_true_writes_nothing(change_time: str | None) -> None:
    record = email(True, change_time)
    decision = decide(record, DEFAULT_OPT_OUT_MAPPING, contact(**EMAIL_ON), "bidirectional")
    assert decision == Decision({}, ())


@pytest.mark.parametrize("change_time", [None, BEFORE, AFTER])
def test_both_false_writes_nothing(change_time: str | None) -> None:
    record = email(False, change_time)
    decision = decide(record, DEFAULT_OPT_OUT_MAPPING, contact(), "bidirectional")
    assert decision == Decision({}, ())


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("campaign_to_d365", EMAIL_OFF),  # Campaign's value, whatever the time: D365 cleared
        ("d365_to_campaign", {}),  # this target writes nothing
        ("disabled", {}),
    ],
)
@pytest.mark.parametrize("change_time", [None, BEFORE])
def test_other_modes_never_reassert(
    mode: str, expected: dict[str, bool], change_time: str | None
) -> None:
    record = email(False, change_time)
    decision = decide(record, DEFAULT_OPT_OUT_MAPPING, contact(**EMAIL_ON), mode)
    assert decision == Decision(expected, ())
    assert not decision.is_reassertion


def test_a_reassertion_rides_along_with_other_changes_per_flag() -> None:
    """Email opted in later in Campaign (cleared), phone kept by D365 (re-asserted)."""
    record = {**email(False, AFTER), "blackListPhone": False, "blackListPhoneLastModified": None}
    current = contact(**EMAIL_ON, donotphone=True)
    decision = decide(record, DEFAULT_OPT_OUT_MAPPING, current, "bidirectional")
    assert decision == Decision({**EMAIL_OFF, "donotphone": True}, ("blackListPhone",))


def test_a_reassertion_never_clears_a_column_a_sibling_flag_keeps() -> None:
    """blackList (all channels) re-asserted, blackListEmail's newer opt-in: donotemail stays."""
    shared = {"blackList": ["donotemail"], "blackListEmail": ["donotemail", "donotbulkemail"]}
    record = {"blackList": False, **email(False, AFTER)}
    current = {"donotemail": True, "donotbulkemail": True, "modifiedon": TD}
    decision = decide(record, shared, current, "bidirectional")
    assert decision == Decision({"donotbulkemail": False, "donotemail": True}, ("blackList",))


def test_a_reassertion_does_not_loop() -> None:
    """Once d365-to-campaign has raised the flag, Campaign's next record writes nothing."""
    first = decide(email(False), DEFAULT_OPT_OUT_MAPPING, contact(**EMAIL_ON), "bidirectional")
    assert first.is_reassertion
    written = contact(LATER, **{**EMAIL_ON, **first.values})
    # d365-to-campaign raised blackListEmail; v8 exports it again with no change time
    for change_time in (None, AFTER):
        again = decide(email(True, change_time), DEFAULT_OPT_OUT_MAPPING, written, "bidirectional")
        assert again == Decision({}, ())


FLAG_STATES: list[dict[str, t.Any]] = [
    {},
    *[email(value, tc) for value in (True, False, None) for tc in (None, BEFORE, AFTER)],
]
COLUMN_STATES = [
    dict(zip(("donotemail", "donotbulkemail", "donotphone"), values, strict=True))
    for values in itertools.product((True, False), repeat=3)
]


@pytest.mark.parametrize("mode", OPT_OUT_SYNC_MODES)
def test_decide_is_changes_plus_the_reasserted_columns(mode: str) -> None:
    """Every combination: the values that differ, plus reasserted flags' true columns only."""
    for flags, columns in itertools.product(FLAG_STATES, COLUMN_STATES):
        current = contact(**columns)
        decision = decide(flags, DEFAULT_OPT_OUT_MAPPING, current, mode)
        differing = changes(flags, DEFAULT_OPT_OUT_MAPPING, current, mode)
        extra = {k: v for k, v in decision.values.items() if k not in differing}
        assert {k: decision.values[k] for k in differing} == differing, (flags, columns)
        assert all(v is True and current[k] is True for k, v in extra.items()), (flags, columns)
        if extra:
            assert decision.is_reassertion, (flags, columns)
        if decision.is_reassertion:
            assert mode == "bidirectional"
            assert flags["blackListEmail"] is False
            assert current["donotemail"] or current["donotbulkemail"]
            assert flags.get("blackListEmailLastModified") != AFTER


def v8_row(position: int, contact_id: str, **flags: t.Any) -> dict[str, t.Any]:
    """An `opt_outs` record as tap-adobe-campaign's v8 backend reads it from `nms:recipient`."""
    return {
        "export_position": f"nms:recipient:2026-11-20T10:00:00+00:00,{position:012d}",
        "export_file": "nms:recipient",
        "externalId": contact_id,
        **flags,
    }


def test_the_sink_reasserts_in_its_one_bulk_write_moves_modifiedon_and_counts_it(
    admin, tmp_path
) -> None:
    """v8-style `opt_outs` rows (no change time per flag) against the Dataverse sandbox.

    The reasserted contact keeps its values but its `modifiedon` moves (Dataverse stamps an
    update even when the values are equal; so does the sandbox): that is what brings it to
    d365-to-campaign's next incremental read.
    """
    allowed = {"donotemail": False, "donotbulkemail": False, "donotphone": False}
    kept, cleared, agreeing = (r["contactid"] for r in contacts(3, **allowed))
    admin.update_row("contacts", kept, {"donotphone": True})
    admin.update_row("contacts", cleared, {"donotemail": True, "donotbulkemail": True})
    admin.update_row("contacts", agreeing, {"donotfax": True})
    before = admin.get_row("contacts", kept)
    assert before is not None
    td = datetime.datetime.fromisoformat(before["modifiedon"])
    admin.shift_clock(2)  # modifiedon is kept to the second
    newer = (td + datetime.timedelta(hours=1)).isoformat(timespec="milliseconds")
    records = [
        v8_row(1, kept, blackListPhone=False, blackListPhoneLastModified=None),
        v8_row(2, cleared, blackListEmail=False, blackListEmailLastModified=newer),  # Standard
        v8_row(3, agreeing, blackListFax=True, blackListFaxLastModified=None),
    ]
    settings = config(tmp_path, opt_out_sync="bidirectional")
    admin.clear_requests()
    target = run_target(settings, records, "opt_outs")

    assert len(writes(admin.requests())) == 1  # one UpdateMultiple for both contacts
    counts = target.summary.streams()["opt_outs"]
    assert (counts["updated"], counts["opt_outs_reasserted"], counts["unchanged"]) == (2, 1, 1)
    after = admin.get_row("contacts", kept)
    assert after is not None
    assert after["donotphone"] is True
    assert after["modifiedon"] > before["modifiedon"]
    assert after["versionnumber"] > before["versionnumber"]
    cleared_row = admin.get_row("contacts", cleared)
    assert cleared_row is not None
    assert (cleared_row["donotemail"], cleared_row["donotbulkemail"]) == (False, False)

    # d365-to-campaign raised blackListPhone in Campaign: the next record agrees, no write.
    admin.clear_requests()
    raised = v8_row(4, kept, blackListPhone=True, blackListPhoneLastModified=None)
    again = run_target(settings, [raised], "opt_outs")
    assert writes(admin.requests()) == []
    counts = again.summary.streams()["opt_outs"]
    assert (counts["updated"], counts["opt_outs_reasserted"], counts["unchanged"]) == (0, 0, 1)


def test_a_reassertion_refused_in_the_write_is_not_counted(
    admin, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted once written: a contact deleted between the read and the write is rejected."""
    kept, gone = (r["contactid"] for r in contacts(2, donotphone=True))
    post = DataverseClient.post

    def delete_then_post(self, path, json, **kwargs):  # the contact vanishes after the read
        if admin.get_row("contacts", gone) is not None:
            admin.delete_row("contacts", gone)
        return post(self, path, json, **kwargs)

    monkeypatch.setattr(DataverseClient, "post", delete_then_post)
    records = [v8_row(1, kept, blackListPhone=False), v8_row(2, gone, blackListPhone=False)]
    target = TargetDynamics365(config=config(tmp_path, opt_out_sync="bidirectional"))
    with pytest.raises(RecordsRejectedError):
        target.listen(file_input=io.StringIO(singer_input(records, "opt_outs")))
    counts = target.summary.streams()["opt_outs"]
    assert (counts["updated"], counts["opt_outs_reasserted"], counts["rejected"]) == (1, 1, 1)
