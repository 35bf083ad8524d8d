"""The backend protocol: what executes a batch's planned writes on one kind of Campaign.

A sink plans (`plan.Planner`) against the `CampaignState` its backend reads for the batch, then
hands the writes back to the backend. Two backends: `rest_backend.RestBackend` (Campaign
Standard's REST API; with `bulk`, creates through import files) and `v8_backend.V8Backend` (a
v8 / Classic instance's SOAP API). A backend counts each write's outcome and writes each
refusal to the run's `Report`; any other failure (retries exhausted, authentication) is raised
once every write of the batch has settled, and stops the run before STATE is emitted.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from target_adobe_campaign.enumerations import EnumStore
    from target_adobe_campaign.plan import Write
    from target_adobe_campaign.routing import Route
    from target_adobe_campaign.state import CampaignState


class Backend(t.Protocol):
    """Reads Campaign's state for a batch and executes the writes planned against it."""

    def state(self, route: Route, records: Sequence[dict[str, t.Any]]) -> CampaignState:
        """Return Campaign's records for the batch `records` of `route` (valid keys only)."""

    def execute(self, route: Route, writes: Sequence[Write]) -> None:
        """Make the writes; count outcomes and rejects; raise a fatal error at the end."""

    def pretend(self, route: Route, writes: Sequence[Write]) -> None:
        """Dry run: count the writes as made and remember their effect, calling nothing."""

    def enum_store(self) -> EnumStore:
        """Return where enumerations are read and written (SOAP on both backends)."""

    def staged(self) -> int:
        """How many records wait in import files not imported yet (STATE must wait too)."""

    def import_due(self) -> bool:
        """Whether staged records have waited long enough to be imported at this STATE."""

    def flush(self) -> None:
        """Import every staged file (end of input), parents first; raise if one failed."""

    def settle(self) -> None:
        """End of a successful run, after the last STATE: bring what it keeps up to date."""

    def stop(self) -> None:
        """Skip calls not started yet (safe from a signal handler)."""

    def close(self) -> None:
        """Wait for calls in flight and release the backend's resources."""
