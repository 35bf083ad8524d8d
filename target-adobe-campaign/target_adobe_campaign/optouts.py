"""Which Campaign opt-out fields this target writes, per `opt_out_sync` mode.

- `d365_to_campaign`: the mapped opt-out fields are written like any other field.
- `disabled`, `campaign_to_d365`: they are never written (left out of creates, updates and
  the no-op comparison); Campaign's own values stand.
- `bidirectional`: written on create; on update only raised (false → true), never cleared.
  Adobe's rule lets the more recent side win, but Campaign's REST API exposes no change
  time per attribute, so this side keeps the safe half: an opt-out is never lost here, and
  target-dynamics365 (which has Campaign's change times from the export) applies the rest.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from campaign_client.optouts import FLAGS
from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from collections.abc import Mapping

DISABLED = "disabled"
D365_TO_CAMPAIGN = "d365_to_campaign"
CAMPAIGN_TO_D365 = "campaign_to_d365"
BIDIRECTIONAL = "bidirectional"
MODES = (DISABLED, D365_TO_CAMPAIGN, CAMPAIGN_TO_D365, BIDIRECTIONAL)
DEFAULT_MODE = D365_TO_CAMPAIGN
DEFAULT_FIELDS = FLAGS  # every Campaign opt-out attribute

OPT_OUT_SETTINGS = (
    th.Property(
        "opt_out_sync",
        th.StringType,
        default=DEFAULT_MODE,
        allowed_values=list(MODES),
        description="Opt-out direction: disabled | d365_to_campaign (write the mapped "
        "opt-out fields) | campaign_to_d365 (never write them) | bidirectional (write them on "
        "create; on update only raise an opt-out, never clear one)",
    ),
    th.Property(
        "opt_out_fields",
        th.ArrayType(th.StringType),
        default=list(DEFAULT_FIELDS),
        description="The Campaign opt-out fields opt_out_sync governs",
    ),
)


@dataclass(frozen=True)
class OptOutPolicy:
    """Applies `opt_out_sync` to the bodies a record's create or update would send."""

    mode: str = DEFAULT_MODE
    fields: frozenset[str] = frozenset(DEFAULT_FIELDS)

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> OptOutPolicy:
        """Read `opt_out_sync` and `opt_out_fields` (validated beforehand)."""
        fields = config.get("opt_out_fields")
        return cls(
            mode=config.get("opt_out_sync") or DEFAULT_MODE,
            fields=frozenset(DEFAULT_FIELDS if fields is None else fields),
        )

    @property
    def writes_opt_outs(self) -> bool:
        """Whether this target writes opt-out fields at all."""
        return self.mode in (D365_TO_CAMPAIGN, BIDIRECTIONAL)

    def for_create(self, body: dict[str, t.Any]) -> dict[str, t.Any]:
        """Return the create body: without the opt-out fields unless this side writes them."""
        if self.writes_opt_outs:
            return body
        return {name: value for name, value in body.items() if name not in self.fields}

    def for_update(self, changes: dict[str, t.Any]) -> tuple[dict[str, t.Any], int]:
        """Return the changed fields this side may write, and how many clears were refused.

        `changes` holds only the fields that differ from Campaign's values, so in
        bidirectional mode an opt-out field in it is either raised (written) or would be
        cleared (refused: Campaign's opt-out stays).
        """
        if self.mode == D365_TO_CAMPAIGN:
            return changes, 0
        kept = 0
        allowed: dict[str, t.Any] = {}
        for name, value in changes.items():
            if name not in self.fields:
                allowed[name] = value
            elif self.mode == BIDIRECTIONAL:
                if value:
                    allowed[name] = value
                else:
                    kept += 1
        return allowed, kept
