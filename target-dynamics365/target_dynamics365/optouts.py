"""Campaign opt-out flags → Dynamics 365 contact `donot*` values: which side wins, what changes.

Pure functions (no I/O), so every mode and timestamp case is tested without a server.

`opt_out_sync` modes: `disabled` and `d365_to_campaign` write nothing here; `campaign_to_d365`
makes Dynamics 365 agree with Campaign; `bidirectional` applies Adobe's rule per flag: if
Campaign's change time of the flag (`<flag>LastModified`) is more recent than the contact's
`modifiedon`, Campaign's value prevails; otherwise (D365 more recent, equal, or Campaign's time
unknown) opt-out = True wins. When True wins over Campaign's False, D365 already holds it and
Campaign must be raised: `decide` re-writes the flag's true columns (a reassertion), so the
contact's `modifiedon` moves and d365-to-campaign's next incremental read raises the flag.
"""

from __future__ import annotations

import datetime
import re
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: The reverse of the D365 → Campaign default (reference §8.2): Campaign field → contact fields.
DEFAULT_OPT_OUT_MAPPING: dict[str, list[str]] = {
    "blackListEmail": ["donotbulkemail", "donotemail"],
    "blackListPhone": ["donotphone"],
    "blackListFax": ["donotfax"],
    "blackListPostalMail": ["donotpostalmail"],
}
OPT_OUT_SYNC_MODES = ("disabled", "d365_to_campaign", "campaign_to_d365", "bidirectional")
#: Standalone, this target serves the Campaign → Dynamics 365 direction.
DEFAULT_OPT_OUT_SYNC = "campaign_to_d365"
#: The modes in which this target writes contacts' opt-out columns.
WRITING_MODES = frozenset({"campaign_to_d365", "bidirectional"})
#: The contact's record-level change time (Td), read with the opt-out columns.
MODIFIED_ON = "modifiedon"
#: `<flag>LastModified`: Campaign's change time of one flag (Tc), in tap-adobe-campaign's
#: `opt_outs` records (the SFTP export); absent from `profiles` records.
CHANGE_TIME_SUFFIX = "LastModified"
#: `opt_outs` records: `<file>:<row>`, ordered like the exports (file names sort by run time).
EXPORT_POSITION = "export_position"

_GUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")


def is_guid(value: str) -> bool:
    """Return True for a GUID in its usual 8-4-4-4-12 form (what `contactid` holds)."""
    return bool(_GUID.match(value))


def contact_fields(mapping: Mapping[str, Sequence[str]]) -> list[str]:
    """Return the contact columns the mapping writes, sorted and without repeats."""
    return sorted({field for fields in mapping.values() for field in fields})


def parse_time(value: t.Any) -> datetime.datetime | None:
    """Return an aware UTC datetime, or None when unknown (null, empty or unreadable).

    Reads ISO 8601 (the tap's date-times, Dataverse's `2024-01-31T12:00:00Z`) and Campaign's
    `2024-01-31 12:00:00.123Z`; a time without an offset is UTC.
    """
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def campaign_is_newer(change_time: t.Any, modified_on: t.Any) -> bool:
    """Whether Campaign's change of a flag (Tc) is known and later than the contact's (Td).

    Compared to the second: Dataverse keeps `modifiedon` to the second, so a Campaign change in
    the same second counts as equal (and equal means True wins). An unknown Td is not "older".
    """
    campaign = parse_time(change_time)
    d365 = parse_time(modified_on)
    if campaign is None or d365 is None:
        return False
    return campaign.replace(microsecond=0) > d365.replace(microsecond=0)


def resolve(
    mode: str, campaign: bool, d365: bool, change_time: t.Any = None, modified_on: t.Any = None
) -> bool:
    """Return the value a flag should have once synced, from its Campaign and D365 values.

    `campaign_to_d365`: Campaign's. `bidirectional`: Campaign's if its change is more recent
    (`campaign_is_newer`), else True if either is. Modes that do not write D365: D365's.
    """
    if campaign == d365 or mode not in WRITING_MODES:
        return d365
    if mode == "campaign_to_d365" or campaign_is_newer(change_time, modified_on):
        return campaign
    return True


def _flags(
    record: Mapping[str, t.Any],
    mapping: Mapping[str, Sequence[str]],
    current: Mapping[str, t.Any],
    mode: str,
) -> tuple[dict[str, bool], dict[str, bool]]:
    """Return each flag's D365 value (OR of its columns) and the record's flags' synced values."""
    modified_on = current.get(MODIFIED_ON)
    d365 = {name: any(current.get(c) is True for c in columns) for name, columns in mapping.items()}
    resolved = {
        name: resolve(
            mode,
            bool(record[name]),
            d365[name],
            record.get(name + CHANGE_TIME_SUFFIX),
            modified_on,
        )
        for name in mapping
        if record.get(name) is not None
    }
    return d365, resolved


def _differing(
    mapping: Mapping[str, Sequence[str]],
    current: Mapping[str, t.Any],
    d365: Mapping[str, bool],
    resolved: Mapping[str, bool],
) -> dict[str, bool]:
    kept_true = {c for name, columns in mapping.items() if resolved.get(name) for c in columns}
    out: dict[str, bool] = {}
    for name, value in resolved.items():
        if value == d365[name]:
            continue
        for column in mapping[name]:
            column_value = value or column in kept_true
            if current.get(column) is not column_value:
                out[column] = column_value
    return out


def changes(
    record: Mapping[str, t.Any],
    mapping: Mapping[str, Sequence[str]],
    current: Mapping[str, t.Any],
    mode: str = DEFAULT_OPT_OUT_SYNC,
) -> dict[str, bool]:
    """Return the contact values that differ from the synced ones (empty: none differs).

    `current` is the contact as read (its mapped columns and, for `bidirectional`,
    `modifiedon`). A flag's D365 value is the OR of its columns, which is how the D365 →
    Campaign mapping derives it (blackListEmail = donotbulkemail or donotemail), so a flag that
    agrees writes nothing and a round trip makes no write. A flag resolved to another value
    (`resolve`) sets all its columns to it, except that a column another true flag maps onto
    stays true (an opt-out is never cleared by a sibling flag). Flags absent from the record
    (or null) leave their columns alone. What the sink writes is `decide`'s (these values and
    the reassertions).
    """
    if mode not in WRITING_MODES:
        return {}
    d365, resolved = _flags(record, mapping, current, mode)
    return _differing(mapping, current, d365, resolved)


@dataclass(frozen=True)
class Decision:
    """What one Campaign record writes on its contact.

    `values`: the contact columns to write (empty: no write). `reasserted`: the flags that
    D365 holds and Campaign lacks, where the rule gives True the win (`bidirectional`, Campaign's
    change not newer or of unknown time): their true columns are in `values` unchanged, so the
    write moves the contact's `modifiedon` and d365-to-campaign's next incremental read raises
    them in Campaign.
    """

    values: dict[str, bool] = field(default_factory=dict)
    reasserted: tuple[str, ...] = ()

    @property
    def is_reassertion(self) -> bool:
        """Whether the write re-asserts a D365 opt-out that Campaign must get back."""
        return bool(self.reasserted)


def decide(
    record: Mapping[str, t.Any],
    mapping: Mapping[str, Sequence[str]],
    current: Mapping[str, t.Any],
    mode: str = DEFAULT_OPT_OUT_SYNC,
) -> Decision:
    """Return what to write on the contact for one Campaign record, and what it re-asserts.

    The values that differ (`changes`), plus, in `bidirectional`, for each flag that is False
    in Campaign and True in D365 and resolves to True (Campaign's change is not the newer one,
    or its time is unknown, as on Campaign v8): the flag's columns that are True, as they are.
    Nothing changes in D365 for that flag, but the write moves `modifiedon`, which is what
    brings the contact to d365-to-campaign (an incremental read), which raises the flag.
    Campaign then holds True, so the next record of the profile agrees and writes nothing: no
    loop. Other modes never re-assert (`campaign_to_d365` makes D365 agree with Campaign).
    """
    if mode not in WRITING_MODES:
        return Decision()
    d365, resolved = _flags(record, mapping, current, mode)
    values = _differing(mapping, current, d365, resolved)
    reasserted = tuple(
        name
        for name, value in resolved.items()
        if mode == "bidirectional" and value and d365[name] and not record[name]
    )
    for name in reasserted:
        for column in mapping[name]:
            if current.get(column) is True:
                values.setdefault(column, True)
    return Decision(values, reasserted)


def supersedes(record: Mapping[str, t.Any], previous: Mapping[str, t.Any]) -> bool:
    """Whether `record` replaces `previous` (same contact, same batch).

    Export rows (`opt_outs`): the later export position wins, whatever the arrival order (a
    profile changed on two days is in two files). Otherwise the later record in the stream.
    """
    position = record.get(EXPORT_POSITION)
    previous_position = previous.get(EXPORT_POSITION)
    if position and previous_position:
        return str(position) >= str(previous_position)
    return True
