"""Adobe IMS OAuth server-to-server (client credentials) behind the SDK's authenticator API."""

from __future__ import annotations

import threading
import time
import typing as t
from http import HTTPStatus

import requests
from sync_support.bearer import RenewingBearerAuthenticator

DEFAULT_IMS_URL = "https://ims-na1.adobelogin.com"
TOKEN_PATH = "/ims/token/v3"
#: Scopes seen in public Campaign Standard integrations; copy the exact list from the
#: Adobe Developer Console project (IMS only grants what the credential has).
DEFAULT_SCOPES = (
    "openid,AdobeID,campaign_sdk,additional_info.projectedProductContext,"
    "campaign_config_server_general,deliverability_service_general"
)
#: A token is renewed once less than this share of its lifetime is left (10 % of Adobe's
#: 24 h = 2.4 h, within Adobe's "generate a new token every 23 hours" advice) ...
REFRESH_SHARE = 0.10
#: ... but never later than this many seconds before it expires.
MIN_REFRESH_MARGIN = 300.0


class AuthenticationError(Exception):
    """IMS refused to issue a token; the message carries IMS's error, never the secret."""


class IMSAuthenticator(RenewingBearerAuthenticator):
    """Bearer tokens from `POST <ims_url>/ims/token/v3` (grant_type=client_credentials).

    The token is cached and renewed before it expires; a request answered with 401 is
    re-sent once with a new token. Thread-safe: sinks write from a thread pool.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        scopes: str = DEFAULT_SCOPES,
        ims_url: str = DEFAULT_IMS_URL,
        verify: str | bool = True,
        timeout: float = 60,
        clock: t.Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare (but do not yet call) the token endpoint; `verify` is a CA bundle path."""
        super().__init__()
        self.token_url = ims_url.rstrip("/") + TOKEN_PATH
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scopes,
        }
        self._client_id = client_id
        # IMS gets its own session: the API session authenticates through this class.
        self._http = requests.Session()
        self._verify = verify
        self._timeout = timeout
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def _fetch(self) -> tuple[str, float, float]:
        try:
            # explicit `verify`: REQUESTS_CA_BUNDLE would override a session's (psf/requests#3829)
            response = self._http.post(
                self.token_url, data=self._form, timeout=self._timeout, verify=self._verify
            )
        except requests.RequestException as exc:
            msg = f"Cannot reach Adobe IMS at {self.token_url}: {exc}"
            raise AuthenticationError(msg) from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != HTTPStatus.OK or "access_token" not in body:
            msg = (
                f"Adobe IMS refused the client credentials for client_id {self._client_id} "
                f"({response.status_code}): {body.get('error', response.reason)}: "
                f"{body.get('error_description', '')}"
            )
            raise AuthenticationError(msg)
        lifetime = float(body.get("expires_in", 86399))
        margin = max(MIN_REFRESH_MARGIN, lifetime * REFRESH_SHARE)
        now = self._clock()
        return body["access_token"], now + max(0.0, lifetime - margin), now + lifetime

    def access_token(self) -> str:
        """Return the cached token, fetching a new one when none is left or it is due."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, self._renew_at, self._expires_at = self._fetch()
            return self._token

    def expires_in(self) -> int:
        """Seconds the current token (fetched now if there is none) is still valid."""
        self.access_token()
        with self._lock:
            return max(0, round(self._expires_at - self._clock()))

    def invalidate(self, token: str | None = None) -> None:
        """Drop the cached token (only if it is still `token`, when given)."""
        with self._lock:
            if token is None or token == self._token:
                self._token = None

    def drop_token(self, used: str) -> None:
        """Forget `used` if it is still the cached token (another thread may have renewed it)."""
        self.invalidate(used)
