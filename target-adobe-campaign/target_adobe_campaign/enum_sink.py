"""EnumerationSink: tap-dynamics365's `option_sets` stream → Campaign enumerations (SOAP)."""

from __future__ import annotations

import typing as t

from singer_sdk.sinks import BatchSink

if t.TYPE_CHECKING:
    from target_adobe_campaign.enumerations import Choices

#: Option sets are registered as they arrive and synchronised when a choice field needs them
#: or the sinks drain, so the batch never has to fill up.
MAX_OPTIONS = 1_000_000


class EnumerationSink(BatchSink):
    """Registers each option (table, attribute, value, label) and synchronises enumerations.

    Options of choice columns no `enumerations` entry uses are ignored. A drain makes every
    enumeration fed by a changed option set agree with D365 (see `Choices.sync`); a dry run
    reads but writes nothing.
    """

    choices: t.ClassVar[Choices]

    @classmethod
    def serving(cls, choices: Choices) -> type[EnumerationSink]:
        """Return the sink class registering options into `choices` (one per run)."""
        return type(cls.__name__, (cls,), {"choices": choices})

    @property
    def max_size(self) -> int:
        """Never full: option records are small and synchronised on demand."""
        return MAX_OPTIONS

    def process_record(self, record: dict, context: dict) -> None:
        """Register the option at once: choice fields of other streams may need it."""
        self.choices.add_option(record)

    def process_batch(self, context: dict) -> None:
        """Synchronise the enumerations whose option sets changed."""
        if not self.choices.fields:
            self.logger.info(
                "Stream %s: no 'enumerations' configured, options ignored", self.stream_name
            )
            return
        self.choices.sync()
