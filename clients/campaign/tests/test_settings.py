"""The v8 connection settings and their rules."""

from __future__ import annotations

from campaign_client.settings import SOAP_SETTINGS, soap_errors, soap_url


def test_definitions() -> None:
    properties = SOAP_SETTINGS.to_dict()["properties"]
    assert set(properties) == {"backend", "soap_url", "soap_auth", "soap_login", "soap_password"}
    assert properties["backend"]["default"] == "standard"
    assert properties["backend"]["enum"] == ["standard", "v8"]
    assert properties["soap_auth"]["enum"] == ["ims_bearer", "bearer_logon", "login_password"]
    assert properties["soap_password"].get("secret") is True


def test_soap_url_defaults_to_the_router_on_the_api_base_url() -> None:
    assert soap_url({}) == "https://mc.adobe.io/nl/jsp/soaprouter.jsp"
    assert soap_url({"api_base_url": "https://localhost:8446/"}) == (
        "https://localhost:8446/nl/jsp/soaprouter.jsp"
    )
    assert soap_url({"soap_url": "https://x.campaign.adobe.com/nl/jsp/soaprouter.jsp"}) == (
        "https://x.campaign.adobe.com/nl/jsp/soaprouter.jsp"
    )


def test_rules() -> None:
    assert soap_errors({"soap_auth": "ims_bearer"}) == []
    assert soap_errors({"soap_url": "http://x/nl/jsp/soaprouter.jsp"}) == [
        "soap_url must be an https:// URL, got 'http://x/nl/jsp/soaprouter.jsp'"
    ]
    assert soap_errors({"soap_auth": "login_password", "soap_login": "me"}) == [
        "soap_password is required with soap_auth=login_password"
    ]
