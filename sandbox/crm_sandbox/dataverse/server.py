"""The Dataverse half of the sandbox process: its apps, seeding and client-facing endpoints.

`crm_sandbox.server.serve` runs these apps next to the Campaign ones in one loop.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from crm_sandbox.tls import TlsFiles

from .admin import PREFIX, build_admin_routes
from .api import build_dataverse_app
from .config import CLIENT_ID, CLIENT_SECRET, POOL_CLIENTS, TENANT_ID
from .entra import build_entra_app
from .runtime import Runtime
from .seed import SeedSizes, seed, seed_signature


def build_apps(rt: Runtime) -> tuple[Starlette, Starlette]:
    """(Entra app, Dataverse app with the admin API) for a runtime."""
    return build_entra_app(rt), build_dataverse_app(rt, build_admin_routes(rt))


def ensure_seeded(rt: Runtime, sizes: SeedSizes, seed_value: int, *, force: bool = False) -> None:
    """Seed unless the database already holds exactly this seed and these sizes."""
    if force or rt.store.meta("seed") != seed_signature(sizes, seed_value):
        seed(rt.store, sizes, seed_value)


def endpoints(rt: Runtime, tls: TlsFiles) -> dict[str, Any]:
    """URLs, credentials and CA file for clients (the top level of endpoints.json).

    `app_users`: the other app registrations of the tenant, each its own application user.
    """
    return {
        "ca_file": str(tls.ca_file),
        "authority_host": rt.entra_url,
        "tenant_id": TENANT_ID,
        "authority": f"{rt.entra_url}/{TENANT_ID}",
        "resource_url": rt.resource_url,
        "api_url": rt.service_root,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "app_users": [
            {"client_id": client_id, "client_secret": secret} for client_id, secret in POOL_CLIENTS
        ],
        "admin_url": f"{rt.resource_url}{PREFIX}",
    }
