"""Settings validation: the errors a user sees before any request is made."""

from __future__ import annotations

import pytest
from dataverse_client.auth import ClientCertificate
from sync_support.settings_check import ConfigError
from tap_dynamics365.tap import TapDynamics365

BASE = {
    "tenant_id": "d365d365-0000-4000-8000-000000000001",
    "client_id": "c11e0000-0000-4000-8000-000000000001",
    "client_secret": "s3cr3t-value",
    "resource_url": "https://org.crm.dynamics.com",
}


def _errors(**overrides) -> list[str]:
    with pytest.raises(ConfigError) as info:
        TapDynamics365(config={**BASE, **overrides}, parse_env_config=False)
    return info.value.errors


def test_http_urls_are_rejected() -> None:
    errors = _errors(
        resource_url="http://org.crm.dynamics.com", authority_host="http://localhost:8443"
    )
    assert "resource_url must be an https:// URL, got 'http://org.crm.dynamics.com'" in errors
    assert "authority_host must be an https:// URL, got 'http://localhost:8443'" in errors


def test_a_secret_or_a_certificate_is_required() -> None:
    assert any("client_secret is required" in e for e in _errors(client_secret=None))
    errors = _errors(client_secret=None, client_certificate_path="/tmp/cert.pem")
    assert any("client_certificate_thumbprint" in e for e in errors)


def test_page_size_is_capped_at_5000() -> None:
    assert any("5001" in e for e in _errors(page_size=5001))


def test_valid_config_gets_defaults() -> None:
    # setup_mapper=False: building the mapper would run discovery against the network.
    tap = TapDynamics365(config=BASE, parse_env_config=False, setup_mapper=False)
    assert tap.config["page_size"] == 5000
    assert tap.config["tables"] == ["contact", "account"]


def test_a_certificate_credential_never_shows_its_password() -> None:
    certificate = ClientCertificate(path="cert.pem", thumbprint="AB12", password="pw-123")
    assert "pw-123" not in repr(certificate)
    assert "AB12" in repr(certificate)


def test_an_empty_secret_is_refused() -> None:
    assert any(
        "client_secret is required and must not be empty" in e for e in _errors(client_secret="")
    )


@pytest.mark.parametrize("tenant", ["common", "https://login.microsoftonline.com/x", "my tenant"])
def test_a_tenant_msal_cannot_sign_in_to_is_refused(tenant: str) -> None:
    assert any(
        e.startswith("tenant_id must be the directory (tenant) id")
        for e in _errors(tenant_id=tenant)
    )


def test_unknown_settings_are_warned_about_with_a_hint(caplog) -> None:
    TapDynamics365(
        config={**BASE, "page_sise": 100, "max_concurency": 4},
        parse_env_config=False,
        setup_mapper=False,
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "Unknown setting 'max_concurency' is ignored" in warnings
    assert "Unknown setting 'page_sise' (did you mean 'page_size'?) is ignored" in warnings


def test_strict_settings_refuses_unknown_settings() -> None:
    errors = _errors(strict_settings=True, client_secrt="x")
    assert (
        "unknown setting 'client_secrt' (did you mean 'client_secret'?) (strict_settings is on)"
        in errors
    )


def test_a_missing_ca_bundle_is_refused(tmp_path) -> None:
    missing = tmp_path / "ca.pem"
    assert f"ca_bundle must be a CA bundle file, got '{missing}'" in _errors(ca_bundle=str(missing))
