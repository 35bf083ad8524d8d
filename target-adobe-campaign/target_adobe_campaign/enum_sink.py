"""EnumerationSink: tap-dynamics365's `option_sets` stream → Campaign enumerations (SOAP)."""

from __future__ import annotations

import typing as t

from singer_sdk.sinks import BatchSink

if t.TYPE_CHECKING:
    from singer_sdk.target_base import Target

    from target_adobe_campaign.target import TargetAdobeCampaign

#: Option sets are registered as they arrive and synchronised when a choice field needs them
#: or the sinks drain, so the batch never has to fill up.
MAX_OPTIONS = 1_000_000


class EnumerationSink(BatchSink):
    """Registers each option (table, attribute, value, label) and synchronises enumerations.

    Options of choice columns no `enumerations` entry uses are ignored. A drain makes every
    enumeration fed by a changed option set agree with D365 (see `Choices.sync`); a dry run
    reads but writes nothing.
    """

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """Keep the target: its `choices` hold the run's option sets and enumerations."""
        self.target = t.cast("TargetAdobeCampaign", target)
        super().__init__(target, stream_name, schema, key_properties)

    @property
    def max_size(self) -> int:
        """Never full: option records are small and synchronised on demand."""
        return MAX_OPTIONS

    def process_record(self, record: dict, context: dict) -> None:
        """Register the option at once: choice fields of other streams may need it."""
        self.target.choices.add_option(record)

    def process_batch(self, context: dict) -> None:
        """Synchronise the enumerations whose option sets changed."""
        if not self.target.choices.fields:
            self.logger.info(
                "Stream %s: no 'enumerations' configured, options ignored", self.stream_name
            )
            return
        self.target.choices.sync()
