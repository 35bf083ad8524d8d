"""Shared by the Dataverse tests and the whole-process tests: one `launch()`ed sandbox process.

Dataverse helpers (MSAL app, token, Web API session) live here; the Campaign tests serve their
own in-process instances (tests/campaign/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import msal
import pytest
import requests
from crm_sandbox.testing import Sandbox, launch


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with launch(contacts=1200, seed=7) as sb:
        yield sb


def http_session(sandbox: Sandbox) -> requests.Session:
    session = requests.Session()
    session.verify = sandbox.ca_file
    session.trust_env = False  # the CI image exports REQUESTS_CA_BUNDLE, which beats `verify`
    return session


def msal_app(
    sandbox: Sandbox,
    client_id: str | None = None,
    secret: str | None = None,
    tenant: str | None = None,
):
    d = sandbox.dataverse
    return msal.ConfidentialClientApplication(
        client_id or d.client_id,
        client_credential=secret or d.client_secret,
        authority=f"{d.authority_host}/{tenant or d.tenant_id}",
        validate_authority=False,
        instance_discovery=False,
        http_client=http_session(sandbox),
    )


def get_token(sandbox: Sandbox) -> str:
    result = msal_app(sandbox).acquire_token_for_client(
        scopes=[f"{sandbox.dataverse.url}/.default"]
    )
    return result["access_token"]


@pytest.fixture
def token(sandbox: Sandbox) -> str:
    return get_token(sandbox)


@pytest.fixture
def api(sandbox: Sandbox, token: str) -> requests.Session:
    session = http_session(sandbox)
    session.headers.update(
        {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "OData-Version": "4.0",
            "OData-MaxVersion": "4.0",
        }
    )
    return session
