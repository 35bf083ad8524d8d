"""Fixed sandbox identities and the runtime settings tests can change through the admin API."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

TENANT_ID = "d365d365-0000-4000-8000-000000000001"
OTHER_TENANT_ID = "d365d365-0000-4000-8000-000000000002"
CLIENT_ID = "c11e0000-0000-4000-8000-000000000001"
CLIENT_SECRET = "sandbox-dataverse-secret"
OTHER_CLIENT_ID = "c11e0000-0000-4000-8000-000000000002"
OTHER_CLIENT_SECRET = "sandbox-other-secret"
#: More app registrations of the sandbox tenant, each bound to its own application user: a pool
#: of users for bulk loads (Microsoft: service protection limits apply per user).
POOL_CLIENTS = tuple(
    (f"c11e0000-0000-4000-8000-00000000000{n}", f"sandbox-dataverse-secret-{n}") for n in (3, 4, 5)
)

ORGANIZATION_ID = "0e6a0000-0000-4000-8000-00000000d365"
BUSINESS_UNIT_ID = "b0000000-0000-4000-8000-00000000d365"
DEFAULT_TEAM_ID = "7ea30000-0000-4000-8000-00000000d365"

_NAMESPACE = uuid.UUID("9b0c6b7e-2f0c-4a43-9a52-5d1f0b3c0d65")


def stable_id(*parts: str) -> str:
    """Return a deterministic GUID for metadata ids and fixed records."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


@dataclass(frozen=True)
class RegisteredApp:
    """An Entra app registration; `user_name` is its Dataverse application user."""

    client_id: str
    secret: str
    tenant_id: str
    user_name: str

    @property
    def user_id(self) -> str:
        """The systemuserid of the application user bound to this app."""
        return stable_id("systemuser", self.client_id)


APPS: tuple[RegisteredApp, ...] = (
    RegisteredApp(CLIENT_ID, CLIENT_SECRET, TENANT_ID, "# CRM Sandbox Integration"),
    *(
        RegisteredApp(client_id, secret, TENANT_ID, f"# CRM Sandbox Integration {n}")
        for n, (client_id, secret) in enumerate(POOL_CLIENTS, start=2)
    ),
    # Registered in another tenant: its tokens are "foreign" to the sandbox organisation.
    RegisteredApp(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, OTHER_TENANT_ID, "# Other Tenant App"),
)
TENANTS = frozenset(app.tenant_id for app in APPS)

# Customization prefixes of the sandbox's solution publishers: `new` (the default publisher)
# and `acs` (ours for the Adobe Campaign email event tables). Custom tables, columns and keys
# created through the Web API must start with one of them followed by `_`.
PUBLISHER_PREFIXES = ("new", "acs")


def app_by_client_id(client_id: str) -> RegisteredApp | None:
    """Find a registered app by its application (client) id."""
    return next((a for a in APPS if a.client_id == client_id), None)


@dataclass
class Limits:
    """Service protection limits, per user, over a sliding window (Microsoft's defaults).

    `row_cost_ms` is the sandbox's stand-in for the server work a request does (0: off): each
    operation it carries (a target of Create/Update/UpsertMultiple, a part of a `$batch`, else
    the request itself) makes it take that much longer, which counts toward `execution_ms` like
    any execution time. [inference: Dataverse publishes no cost per row; its execution time
    grows with the rows a request writes, "larger sized batches increase the chance you will
    encounter execution time limits".]
    """

    window_seconds: int = 300
    requests: int = 6000
    execution_ms: int = 1_200_000
    concurrent: int = 52
    dop_hint: int = 4
    row_cost_ms: float = 0.0

    def update(self, values: dict[str, Any]) -> None:
        """Set the given fields, keeping each one's type (unknown names raise KeyError)."""
        current = asdict(self)
        for key, value in values.items():
            if key not in current:
                raise KeyError(key)
            setattr(self, key, type(current[key])(value))


@dataclass
class Settings:
    """Everything switchable at runtime."""

    token_lifetime: int = 3599  # expires_in of issued access tokens
    expire_change_tracking_in_days: int = 7  # Organization.ExpireChangeTrackingInDays
    # Seconds (sandbox clock) an alternate key created through the Web API stays Pending
    # before its index job makes it Active.
    key_index_delay_seconds: float = 2.0
    # Tables whose CreateMultiple/UpdateMultiple/UpsertMultiple messages are unavailable
    # (logical names), on top of the tables that never support them.
    bulk_messages_disabled: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the admin API."""
        return asdict(self)
