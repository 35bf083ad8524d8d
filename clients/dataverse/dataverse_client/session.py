"""The HTTP session type for Dataverse and Entra ID calls."""

from __future__ import annotations

import typing as t

import requests


class VerifyingSession(requests.Session):
    """A session whose `verify` (e.g. the `ca_bundle` setting) is always used.

    `requests` lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override `Session.verify` in
    `Session.request`; passing `verify` per request keeps the configured CA in force while
    other environment settings (proxies) still apply.
    """

    def __init__(self, verify: str | bool = True) -> None:
        """Verify TLS with `verify`: a CA bundle path, or True for the system CAs."""
        super().__init__()
        self.verify = verify

    def request(self, method: str | bytes, url: str | bytes, **kwargs: t.Any) -> requests.Response:  # type: ignore[override]
        """Send with this session's `verify` unless the call sets its own."""
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, **kwargs)
