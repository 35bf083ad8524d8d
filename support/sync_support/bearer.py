"""A bearer-token authenticator for requests that renews the token once on a 401.

Both vendors' authenticators (msal for Entra ID, Adobe IMS) only say how to get a token and how
to drop a cached one; sending it and retrying a request once after a 401 live here.
"""

from __future__ import annotations

import abc
import typing as t
from http import HTTPStatus

from singer_sdk.authenticators import APIAuthenticatorBase

if t.TYPE_CHECKING:
    import requests


class RenewingBearerAuthenticator(APIAuthenticatorBase, abc.ABC):
    """Sends `Authorization: Bearer <token>`; a 401 drops the token, re-sends the request once."""

    @abc.abstractmethod
    def access_token(self) -> str:
        """Return a valid access token, fetching one when none is cached."""

    @abc.abstractmethod
    def drop_token(self, used: str) -> None:
        """Forget the cached token `used` (a 401 said it is no longer accepted)."""

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the bearer token and arm the one-time retry on 401.

        The base class would also rewrite the URL's query string, which must not happen to the
        vendors' opaque next-page URLs.
        """
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        if self._retry_on_401 not in request.hooks["response"]:
            request.register_hook("response", self._retry_on_401)
        return request

    def _retry_on_401(self, response: requests.Response, **kwargs: t.Any) -> requests.Response:
        """Re-send a request rejected with 401 once, with a freshly issued token.

        Same technique as `requests.auth.HTTPDigestAuth`: the retried request goes straight
        through the connection adapter, so this hook does not run for it again.
        """
        if response.status_code != HTTPStatus.UNAUTHORIZED or response.connection is None:
            return response
        self.drop_token(response.request.headers.get("Authorization", "").removeprefix("Bearer "))
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {self.access_token()}"
        response.content  # noqa: B018  # drain, so the connection can be reused
        response.close()
        new_response: requests.Response = response.connection.send(retry, **kwargs)
        new_response.history.append(response)
        new_response.request = retry
        return new_response
