"""Entra ID client-credentials authentication for the Dataverse Web API, via MSAL."""

from __future__ import annotations

import threading
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import msal
from sync_support.bearer import RenewingBearerAuthenticator

from dataverse_client.session import VerifyingSession

#: Authority hosts MSAL knows; any other host (a sovereign cloud proxy, the sandbox) must be
#: marked as "known to the developer" so MSAL never calls login.microsoftonline.com about it.
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login-us.microsoftonline.com",
    }
)


class AuthenticationError(Exception):
    """Entra ID refused to issue a token; the message carries Entra's error, never the secret."""


@dataclass(frozen=True)
class ClientCertificate:
    """A certificate credential: PEM file with the private key (and certificate) + thumbprint."""

    path: str
    thumbprint: str
    password: str | None = field(default=None, repr=False)

    def as_msal_credential(self) -> dict[str, str]:
        """Return the `client_credential` dict MSAL expects for certificate credentials."""
        credential = {
            "private_key": Path(self.path).read_text(encoding="utf-8"),
            "thumbprint": self.thumbprint,
        }
        if self.password:
            credential["passphrase"] = self.password
        return credential


class DataverseAuthenticator(RenewingBearerAuthenticator):
    """Bearer tokens from `msal.ConfidentialClientApplication.acquire_token_for_client`.

    MSAL's token cache reuses a token until it has less than five minutes left, so every
    request simply asks MSAL. A request answered with 401 is re-sent once with a new token:
    the cached token is dropped first (MSAL has no `force_refresh` for client credentials).
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        resource_url: str,
        authority_host: str,
        verify: str | bool = True,
        client_secret: str | None = None,
        certificate: ClientCertificate | None = None,
    ) -> None:
        """Prepare (but do not yet call) the MSAL application; `verify` is a CA bundle path."""
        super().__init__()
        self._client_id = client_id
        self._authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._scopes = [f"{resource_url.rstrip('/')}/.default"]
        # MSAL gets its own session: the API session authenticates through this class.
        self._http_client = VerifyingSession(verify)
        self._credential: str | dict[str, str] | None = (
            certificate.as_msal_credential() if certificate else client_secret
        )
        host = authority_host.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        self._microsoft_authority = host in MICROSOFT_AUTHORITY_HOSTS
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def _new_app(self) -> msal.ConfidentialClientApplication:
        if self._microsoft_authority:
            return msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._credential,
                authority=self._authority,
                http_client=self._http_client,
            )
        return msal.ConfidentialClientApplication(
            self._client_id,
            client_credential=self._credential,
            authority=self._authority,
            validate_authority=False,
            instance_discovery=False,
            http_client=self._http_client,
        )

    def access_token(self) -> str:
        """Return a valid access token, from MSAL's cache when it has one."""
        return t.cast("str", self._acquire()["access_token"])

    def expires_in(self) -> int | None:
        """Acquire a token (from the cache when valid) and return its seconds left, if known."""
        seconds = self._acquire().get("expires_in")
        return int(seconds) if seconds is not None else None

    def _acquire(self) -> dict[str, t.Any]:
        """MSAL's result for a successful acquisition; raise `AuthenticationError` otherwise."""
        with self._lock:
            if self._app is None:
                try:
                    self._app = self._new_app()
                except ValueError as exc:  # authority discovery failed
                    msg = f"Cannot use authority {self._authority}: {exc}"
                    raise AuthenticationError(msg) from exc
            result = self._app.acquire_token_for_client(scopes=self._scopes)
        if "access_token" not in result:
            msg = (
                f"Entra ID refused the client credentials for client_id {self._client_id} "
                f"at {self._authority}: {result.get('error')}: {result.get('error_description')}"
            )
            raise AuthenticationError(msg)
        return t.cast("dict[str, t.Any]", result)

    def invalidate(self) -> None:
        """Drop cached access tokens so the next request fetches a new one."""
        with self._lock:
            if self._app is None:
                return
            cache = self._app.token_cache
            for token in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(token)

    def drop_token(self, used: str) -> None:
        """Forget every cached access token (msal fetches a new one)."""
        self.invalidate()
