"""The `enumerations` setting and choice conversion, with a fake SOAP client (no server)."""

from __future__ import annotations

import typing as t

import pytest
from campaign_client.classic import Enumeration, EnumValue, EnumWrite
from sync_support.settings_check import ConfigError
from target_adobe_campaign.enumerations import PENDING, OptionSet, parse_fields, slug
from target_adobe_campaign.payload import RecordRejectedError
from target_adobe_campaign.target import TargetAdobeCampaign

GENDER = Enumeration(
    "nms:recipient:gender",
    "Gender",
    "byte",
    (
        EnumValue("unknown", "Unspecified", "0"),
        EnumValue("male", "Male", "1"),
        EnumValue("female", "Female", "2"),
    ),
)
RESOURCES = {
    "contact": {"resource": "profile"},
    "new_project": {"resource": "cusProject", "key": "cusCrmId"},
}
GENDER_FIELD = {
    "table": "contact",
    "attribute": "gendercode",
    "enumeration": "nms:recipient:gender",
}


class FakeClassic:
    """Stands in for ClassicClient: stored enumerations, and the calls made."""

    def __init__(self, *stored: Enumeration) -> None:
        self.stored = {e.name: e for e in stored}
        self.reads: list[str] = []
        self.writes: list[EnumWrite] = []

    def read_enumeration(self, name: str) -> Enumeration | None:
        self.reads.append(name)
        return self.stored.get(name)

    def write(self, write: EnumWrite) -> None:
        self.writes.append(write)
        self.stored[write.name] = write.result(self.stored.get(write.name))


def make_target(enumerations: dict[str, t.Any], classic: FakeClassic, **config: t.Any):
    target = TargetAdobeCampaign(
        config={
            "organization": "org",
            "client_id": "id",
            "client_secret": "secret",
            "resources": RESOURCES,
            "enumerations": enumerations,
            **config,
        }
    )
    target.choices.__dict__["classic"] = classic  # the cached SOAP client
    return target


def option(value: int, label: str, attribute: str = "gendercode", **extra: t.Any) -> dict:
    return {"table": "contact", "attribute": attribute, "value": value, "label": label, **extra}


GENDER_OPTIONS = [option(1, "Male"), option(2, "Female"), option(3, "Non-binary / Other")]


# --- setting ------------------------------------------------------------------------------


def errors_of(enumerations: dict[str, t.Any]) -> list[str]:
    return parse_fields(enumerations, RESOURCES)[1]


def test_a_valid_setting_has_no_errors() -> None:
    fields, errors = parse_fields(
        {
            "contact": {"gender": {**GENDER_FIELD, "replace": True, "value_names": "value"}},
            "new_project": {
                "cusTags": {
                    "table": "new_project",
                    "attribute": "new_tags",
                    "multi_select": "join_labels",
                    "separator": " | ",
                }
            },
        },
        RESOURCES,
    )
    assert errors == []
    gender = fields["contact"]["gender"]
    assert (gender.replace, gender.value_names, gender.multi_select) == (True, "value", "reject")
    assert fields["new_project"]["cusTags"].separator == " | "


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"lead": {"x": GENDER_FIELD}}, "enumerations.lead: stream 'lead' is not in resources"),
        ({"contact": {"gender": {**GENDER_FIELD, "colour": 1}}}, "gender.colour: unknown option"),
        ({"contact": {"externalId": GENDER_FIELD}}, "the key and _sdc_* fields cannot be"),
        ({"contact": {"gender": {"table": "contact"}}}, "table and attribute"),
        (
            {"contact": {"gender": {**GENDER_FIELD, "enumeration": None}}},
            "gender.enumeration is required",
        ),
        (
            {"contact": {"gender": {**GENDER_FIELD, "enumeration": "bad name"}}},
            "is not a Campaign enumeration name",
        ),
        (
            {"contact": {"gender": {**GENDER_FIELD, "multi_select": "join_labels"}}},
            "join_labels writes labels into a string field",
        ),
        ({"contact": {"gender": {**GENDER_FIELD, "value_names": "code"}}}, "value_names must be"),
        (
            {
                "contact": {
                    "gender": GENDER_FIELD,
                    "title": {**GENDER_FIELD, "replace": True},
                }
            },
            "feed enumeration 'nms:recipient:gender' differently",
        ),
    ],
)
def test_setting_errors_name_the_entry(setting: dict, expected: str) -> None:
    assert any(expected in error for error in errors_of(setting)), errors_of(setting)


def test_a_field_with_both_a_replacement_and_an_enumeration_is_refused() -> None:
    resources = {"contact": {"resource": "profile", "replacements": {"gender": {"1": "male"}}}}
    errors = parse_fields({"contact": {"gender": GENDER_FIELD}}, resources)[1]
    assert errors == [
        "enumerations.contact.gender: resources.contact.replacements.gender replaces the same "
        "field; a field takes either a replacement table or an enumeration (the enumeration "
        "converts D365 choice values, which a replacement has changed)"
    ]
    with pytest.raises(ConfigError):
        TargetAdobeCampaign(
            config={
                "organization": "org",
                "client_id": "id",
                "client_secret": "secret",
                "resources": resources,
                "enumerations": {"contact": {"gender": GENDER_FIELD}},
            }
        )


def test_the_target_refuses_a_bad_setting_at_startup() -> None:
    with pytest.raises(ConfigError):
        make_target({"contact": {"gender": {"table": "contact"}}}, FakeClassic())


# --- value names --------------------------------------------------------------------------


def test_slug_and_unique_value_names() -> None:
    assert slug("Non-binary / Other") == "non_binary_other"
    assert slug("Élève  (école)") == "eleve_ecole"
    options = OptionSet(labels={"1": "Hot", "2": "hot!", "3": "***"})
    assert options.value_names("label") == {"1": "hot", "2": "hot_2", "3": "3"}
    assert options.value_names("value") == {"1": "1", "2": "2", "3": "3"}


# --- sync ---------------------------------------------------------------------------------


def test_add_missing_writes_once_and_nothing_when_unchanged() -> None:
    classic = FakeClassic(GENDER)
    target = make_target({"contact": {"gender": GENDER_FIELD}}, classic)
    for record in GENDER_OPTIONS:
        target.choices.add_option(record)
    target.choices.add_option(option(9, "Ignored", attribute="preferredcontactmethodcode"))
    target.choices.sync()
    assert classic.reads == ["nms:recipient:gender"]
    assert len(classic.writes) == 1
    assert not classic.writes[0].replace
    assert classic.writes[0].values == (EnumValue("non_binary_other", "Non-binary / Other", "3"),)
    assert target.summary.streams()["option_sets"]["updated"] == 1

    target.choices.sync()  # nothing changed since
    for record in GENDER_OPTIONS:
        target.choices.add_option(record)
    target.choices.sync()  # same options again: read cached, no write
    assert len(classic.writes) == 1
    assert classic.reads == ["nms:recipient:gender"]
    assert target.summary.streams()["option_sets"]["unchanged"] == 1


def test_replace_makes_the_values_d365s_and_creates_missing_enumerations() -> None:
    classic = FakeClassic(GENDER)
    target = make_target(
        {
            "contact": {
                "gender": {**GENDER_FIELD, "replace": True},
                "cusLead": {
                    "table": "contact",
                    "attribute": "leadsourcecode",
                    "enumeration": "cus:leadSource",
                    "value_names": "value",
                },
            }
        },
        classic,
    )
    for record in [*GENDER_OPTIONS, option(100000000, "Web", attribute="leadsourcecode")]:
        target.choices.add_option(record)
    target.choices.sync()
    by_name = {w.name: w for w in classic.writes}
    assert by_name["nms:recipient:gender"].replace
    assert [v.name for v in classic.stored["nms:recipient:gender"].values] == [
        "male",
        "female",
        "non_binary_other",
    ]
    created = classic.stored["cus:leadSource"]
    assert (created.basetype, created.values) == (
        "long",
        (EnumValue("100000000", "Web", "100000000"),),
    )
    assert target.summary.streams()["option_sets"]["created"] == 1


def test_dry_run_reads_but_never_writes() -> None:
    classic = FakeClassic(GENDER)
    target = make_target({"contact": {"gender": GENDER_FIELD}}, classic, dry_run=True)
    for record in GENDER_OPTIONS:
        target.choices.add_option(record)
    target.choices.sync()
    assert classic.reads == ["nms:recipient:gender"]
    assert classic.writes == []
    # decisions go on as if written: the new value converts
    assert (
        target.choices.convert(target.choices.fields["contact"]["gender"], 3) == "non_binary_other"
    )


def test_a_multi_select_option_set_is_not_synchronised() -> None:
    classic = FakeClassic()
    target = make_target({"contact": {"gender": GENDER_FIELD}}, classic)
    target.choices.add_option(option(1, "A", is_multi_select=True))
    target.choices.sync()
    assert classic.writes == []


# --- conversion ---------------------------------------------------------------------------


def test_convert_by_stored_value_before_the_option_sets_arrive() -> None:
    target = make_target({"contact": {"gender": GENDER_FIELD}}, FakeClassic(GENDER))
    gender = target.choices.fields["contact"]["gender"]
    assert target.choices.convert(gender, 2) == "female"
    assert target.choices.convert(gender, "1") == "male"
    assert target.choices.convert(gender, None) == "unknown"  # Campaign stores no value as 0
    assert target.choices.convert(gender, 3) is PENDING  # may arrive with option_sets
    target.choices.final = True
    with pytest.raises(RecordRejectedError, match="option set was not received") as raised:
        target.choices.convert(gender, 3)
    assert raised.value.field == "gender"


def test_convert_after_sync_and_unknown_values_are_rejected() -> None:
    target = make_target({"contact": {"gender": GENDER_FIELD}}, FakeClassic(GENDER))
    for record in GENDER_OPTIONS:
        target.choices.add_option(record)
    target.choices.sync()
    gender = target.choices.fields["contact"]["gender"]
    assert target.choices.convert(gender, 3) == "non_binary_other"
    with pytest.raises(RecordRejectedError, match=r"value 7 of contact\.gendercode matches no"):
        target.choices.convert(gender, 7)


def test_label_names_match_existing_values_by_name() -> None:
    """A D365 value stored differently in Campaign, but with the same name, is that value."""
    stage = Enumeration(
        "cus:project:cusStage", "Stage", "byte", (EnumValue("planned", "Planned", "0"),)
    )
    classic = FakeClassic(stage)
    field = {"table": "contact", "attribute": "stage", "enumeration": "cus:project:cusStage"}
    target = make_target({"contact": {"cusStage": field}}, classic)
    target.choices.add_option(option(100000000, "Planned", attribute="stage"))
    target.choices.sync()
    assert classic.writes == []  # "planned" is not missing
    choice = target.choices.fields["contact"]["cusStage"]
    assert target.choices.convert(choice, 100000000) == "planned"
    assert target.choices.convert(choice, None) == "planned"  # stored as 0


def test_null_is_null_without_an_empty_value() -> None:
    lead = Enumeration("cus:lead", "Lead", "long", (EnumValue("web", "Web", "100000000"),))
    field = {"table": "contact", "attribute": "lead", "enumeration": "cus:lead"}
    target = make_target({"contact": {"cusLead": field}}, FakeClassic(lead))
    assert target.choices.convert(target.choices.fields["contact"]["cusLead"], None) is None


@pytest.mark.parametrize("value", [[1, 2], "1,2", [1]])
def test_multi_select_is_rejected_by_default_naming_the_values(value: t.Any) -> None:
    target = make_target({"contact": {"gender": GENDER_FIELD}}, FakeClassic(GENDER))
    gender = target.choices.fields["contact"]["gender"]
    with pytest.raises(RecordRejectedError, match=r"gender: multi-select choice \[1") as raised:
        target.choices.convert(gender, value)
    assert "multi_select: join_labels" in raised.value.reason
    assert raised.value.field == "gender"


def test_join_labels_waits_for_the_labels_then_joins_them() -> None:
    tags = {
        "table": "contact",
        "attribute": "tags",
        "multi_select": "join_labels",
        "separator": " | ",
    }
    target = make_target({"contact": {"cusTags": tags}}, FakeClassic())
    choice = target.choices.fields["contact"]["cusTags"]
    assert target.choices.convert(choice, [1, 2]) is PENDING
    for value, label in ((1, "Red"), (2, "Blue"), (3, "Green")):
        target.choices.add_option(option(value, label, attribute="tags", is_multi_select=True))
    assert target.choices.convert(choice, [2, 1]) == "Blue | Red"
    assert target.choices.convert(choice, "3") == "Green"
    assert target.choices.convert(choice, []) is None  # nothing chosen
    with pytest.raises(RecordRejectedError, match=r"value\(s\) 9 of contact\.tags"):
        target.choices.convert(choice, [1, 9])
