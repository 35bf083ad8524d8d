"""CampaignSink: plans each batch of a stream and hands the writes to the backend.

The sink is given what it needs (`SinkServices`): the routes, the backend that reads Campaign's
state and executes writes, the write order (parents first, held-back records, checkpoints), the
run's report and the opt-out policy. singer-sdk creates sinks itself (`Target.add_sink` is
final), so they are passed in on the class: `CampaignSink.serving(services)`.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from singer_sdk.sinks import BatchSink
from typing_extensions import override

from target_adobe_campaign.options import (
    StreamOptionsError,
    prepare_record,
    prepare_schema,
    schema_errors,
)
from target_adobe_campaign.payload import RecordRejectedError, key_of
from target_adobe_campaign.plan import Planner

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from singer_sdk.target_base import Target

    from target_adobe_campaign.backend import Backend
    from target_adobe_campaign.optouts import OptOutPolicy
    from target_adobe_campaign.ordering import WriteOrder
    from target_adobe_campaign.report import Report
    from target_adobe_campaign.routing import Route

DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class SinkServices:
    """What every CampaignSink of a run shares."""

    routes: Mapping[str, Route]
    backend: Backend
    order: WriteOrder
    report: Report
    policy: OptOutPolicy
    apply_deletes: bool = False
    dry_run: bool = False


class CampaignSink(BatchSink):
    """Writes one stream to its routed resource.

    Per batch: parents are written first, records waiting for option sets are held back
    (`WriteOrder`), each record is planned against Campaign's state for the batch, and the
    backend makes the writes. A record Campaign refuses goes to the rejects file and the batch
    goes on; any other failure stops the run before STATE is emitted.
    """

    services: t.ClassVar[SinkServices]

    @classmethod
    def serving(cls, services: SinkServices) -> type[CampaignSink]:
        """Return the sink class whose sinks use `services` (one per run)."""
        return type(cls.__name__, (cls,), {"services": services})

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """Check the route's options against the schema, widened for replacement values."""
        services = self.services
        route = services.routes[stream_name]  # unrouted streams never get this far
        self.route = route
        self.options = route.options
        errors = schema_errors(
            stream_name,
            self.options,
            schema.get("properties") or {},
            (link.name for link in route.links),
        )
        if errors:
            raise StreamOptionsError("; ".join(errors))
        super().__init__(target, stream_name, prepare_schema(schema, self.options), key_properties)
        self.planner = Planner(
            route,
            services.report,
            services.policy,
            services.order.filtered_out,
            apply_deletes=services.apply_deletes,
        )

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """Always read the metadata: `_sdc_deleted_at` marks deletes (nothing `_sdc_*` is sent)."""
        return True

    @override
    def _validate_and_parse(self, record: dict) -> dict:
        """Apply the value replacements (after the stream maps), then validate and parse."""
        prepare_record(record, self.options)
        return super()._validate_and_parse(record)

    @property
    def max_size(self) -> int:
        """`batch_size_rows`, else 1000 records per batch."""
        return self.batch_size_rows or DEFAULT_BATCH_SIZE

    def process_batch(self, context: dict) -> None:
        """Write the batch after its parents; parents drained from here belong to it."""
        order = self.services.order
        with order.batch(self.route):  # first: a parent may then wait (option sets)
            records = order.ready(
                self.route, self.schema.get("properties") or {}, context.get("records", [])
            )
            self._write(self._latest_per_key(records))

    def mark_drained(self) -> None:
        """Once the batch is written, let the order checkpoint (`WriteOrder.drained`)."""
        super().mark_drained()
        self.services.order.drained()

    def _write(self, records: list[dict[str, t.Any]]) -> None:
        """Plan against Campaign's state for the batch, then execute (or pretend, dry run)."""
        backend = self.services.backend
        state = backend.state(self.route, records)
        writes = [w for w in (self.planner.plan(record, state) for record in records) if w]
        if self.services.dry_run:
            backend.pretend(self.route, writes)
        else:
            backend.execute(self.route, writes)

    def _latest_per_key(self, records: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        """Keep the last record of each key; reject records without a key."""
        latest: dict[str, dict[str, t.Any]] = {}
        for record in records:
            try:
                key = key_of(record, self.route.key)
            except RecordRejectedError as exc:
                self.services.report.reject(
                    self.stream_name, record, None, exc.reason, field=exc.field
                )
                continue
            if key in latest:
                self.tally_duplicate_merged()
                del latest[key]  # re-insert: keep input order of the surviving record
            latest[key] = record
        return list(latest.values())
