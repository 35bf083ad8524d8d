"""What Campaign holds for a key, as a batch is planned against it (either backend)."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from target_adobe_campaign.routing import Link


@dataclass
class Entry:
    """One Campaign record: how to address it and its values as last read or written.

    REST: `pkey` and `href` (as Campaign returned it, else <resource path>/<PKey>). v8: `pkey`
    is the record's `@id` when it was read (adoption), else empty; records are addressed by key.
    """

    pkey: str
    href: str
    values: dict[str, t.Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: dict[str, t.Any], path: str) -> Entry:
        """Index a REST record as Campaign returned it (`path`: its resource under the API root)."""
        pkey = record["PKey"]
        return cls(pkey=pkey, href=record.get("href") or f"{path}/{pkey}", values=record)


#: A link's PKey while its parent's PKey is unknown (the parent is in an import file): the
#: REST backend resolves it before the call; an import file links by the parent's key.
PENDING_PARENT = "pending-import:"


class DuplicateKeyError(Exception):
    """Several Campaign records carry the same key: none of them is written."""


class AmbiguousAdoptionError(Exception):
    """Several records without a key hold the value a new record would be adopted by."""


def adoption_value(value: t.Any) -> str | None:
    """Return the form values are matched in for adoption: trimmed, case-folded (emails)."""
    if value is None:
        return None
    text = str(value).strip().casefold()
    return text or None


class CampaignState(t.Protocol):
    """Campaign's records for one batch of one route, as the planner asks about them."""

    def get(self, key: str) -> Entry | None:
        """Return the record holding `key`; raise `DuplicateKeyError` if several do."""

    def adopt(self, field: str, value: t.Any) -> Entry | None:
        """Claim the one record without a key whose `field` holds `value` (`adopt_by`).

        Raises `AmbiguousAdoptionError` when several hold it.
        """

    def parent(self, link: Link, parent_key: str) -> str | None:
        """Return the reference a link to this parent is written with, None if it is absent.

        REST: the parent's PKey. v8: the parent's CRM id itself (links are reconciled by key).
        """
