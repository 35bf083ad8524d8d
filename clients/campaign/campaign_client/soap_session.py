"""A SOAP session on a Campaign Classic / v8 instance: the three ways to log on, and re-logon.

As Adobe's JS SDK (`src/client.js`) authenticates:

- `ims_bearer` (v8.5+): no logon call; `Authorization: Bearer <IMS token>` on every call, the
  `sessiontoken` parameter empty;
- `bearer_logon`: `xtk:session#BearerTokenLogon(bearerToken)` trades the IMS token for a
  session token and a security token;
- `login_password`: `xtk:session#Logon(login, password, parameters)` does the same for an
  operator's login.

With tokens, each call sends `X-Session-Token`, `X-Security-Token` and the `__sessiontoken`
cookie. When Campaign says the session expired (`SessionExpiredError`), the session logs on
again (or drops the IMS token) once and replays the call: a call refused for its session was
not run, so even an insert is replayed safely. Thread-safe: one logon serves every thread.
"""

from __future__ import annotations

import abc
import logging
import threading
import typing as t
from http.cookiejar import DefaultCookiePolicy

import requests
from requests.adapters import HTTPAdapter
from sync_support.progress import CallCounts
from sync_support.retry import DEFAULT_MAX_RETRY_SECONDS, TimeBudgetRetry

from campaign_client.auth import DEFAULT_IMS_URL, DEFAULT_SCOPES, IMSAuthenticator
from campaign_client.client import CampaignAPIError
from campaign_client.settings import SOAP_AUTH_MODES, soap_url
from campaign_client.soap import (
    NO_TOKENS,
    Param,
    SessionExpiredError,
    SoapResult,
    SoapTransport,
    Tokens,
    build_envelope,
)

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from backoff.types import Details

SESSION_URN = "xtk:session"


class SoapAuth(abc.ABC):
    """How a session obtains the tokens its calls carry."""

    @abc.abstractmethod
    def log_on(self, session: SoapSession) -> Tokens:
        """Return fresh tokens (calling a logon method of `session` if the mode has one)."""

    def expired(self, used: Tokens) -> None:  # noqa: B027  # most modes have nothing to drop
        """Forget what Campaign refused, beyond the tokens the session drops itself."""

    def secrets(self) -> tuple[str, ...]:
        """Credentials to mask in error messages (tokens are masked anyway)."""
        return ()


class ImsBearerAuth(SoapAuth):
    """IMS bearer token on every call (set by the HTTP session's `IMSAuthenticator`)."""

    def __init__(self, authenticator: IMSAuthenticator) -> None:
        """Use `authenticator`, which must also be the HTTP session's `auth`."""
        self.authenticator = authenticator

    def log_on(self, session: SoapSession) -> Tokens:
        """Return the current IMS token (no call: v8.5+ accepts it on every call)."""
        return Tokens(bearer=self.authenticator.access_token())

    def expired(self, used: Tokens) -> None:
        """Drop the IMS token Campaign refused, unless another thread already renewed it."""
        if used.bearer:
            self.authenticator.drop_token(used.bearer)


class BearerTokenLogonAuth(SoapAuth):
    """`xtk:session#BearerTokenLogon`: an IMS token traded for session and security tokens."""

    def __init__(self, authenticator: IMSAuthenticator) -> None:
        """Fetch IMS tokens with `authenticator` (not set on the HTTP session)."""
        self.authenticator = authenticator

    def log_on(self, session: SoapSession) -> Tokens:
        """Call BearerTokenLogon with the current IMS token."""
        token = self.authenticator.access_token()
        return session.logon_call("BearerTokenLogon", [Param.string("bearerToken", token)])


class PasswordLogonAuth(SoapAuth):
    """`xtk:session#Logon` with an operator's login and password."""

    def __init__(self, login: str, password: str) -> None:
        """Keep the credentials (never shown in a repr, a message or a log line)."""
        self._login = login
        self._password = password

    def __repr__(self) -> str:
        """Name the login only."""
        return f"PasswordLogonAuth(login={self._login!r})"

    def log_on(self, session: SoapSession) -> Tokens:
        """Call Logon with the login, the password and no parameters."""
        params = [
            Param.string("login", self._login),
            Param.string("password", self._password),
            Param.element("parameters", None),
        ]
        return session.logon_call("Logon", params)

    def secrets(self) -> tuple[str, ...]:
        """Return the password."""
        return (self._password,)


class SoapSession:
    """SOAP calls on one instance, authenticated by `auth`, logged on again when needed."""

    def __init__(
        self,
        transport: SoapTransport,
        auth: SoapAuth,
        *,
        calls: CallCounts | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """Call through `transport`; `calls` counts responses and retries (progress lines)."""
        self.transport = transport
        self.auth = auth
        self.calls = calls or CallCounts()
        self.logger = logger or logging.getLogger(__name__)
        self._tokens: Tokens | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, t.Any],
        *,
        authenticator: IMSAuthenticator | None = None,
        logger: logging.Logger | None = None,
    ) -> SoapSession:
        """Build a session from the plugins' settings (see `settings.SOAP_SETTINGS`).

        `authenticator` shares the REST client's IMS tokens; by default a new one is made
        from `client_id` / `client_secret` for the IMS modes.
        """
        mode = config.get("soap_auth") or "ims_bearer"
        if mode not in SOAP_AUTH_MODES:
            msg = f"soap_auth must be one of {', '.join(SOAP_AUTH_MODES)}, got '{mode}'"
            raise ValueError(msg)
        ca_bundle = config.get("ca_bundle")
        http = requests.Session()
        http.mount("https://", HTTPAdapter(pool_maxsize=max(10, config.get("max_concurrency", 4))))
        # tokens travel in explicit headers: a server's cookie must not outlive a logon
        http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        if ca_bundle:
            http.verify = ca_bundle
        auth: SoapAuth
        if mode == "login_password":
            auth = PasswordLogonAuth(config["soap_login"], config["soap_password"])
        else:
            ims = authenticator or IMSAuthenticator(
                client_id=config["client_id"],
                client_secret=config["client_secret"],
                scopes=config.get("scopes") or DEFAULT_SCOPES,
                ims_url=config.get("ims_url") or DEFAULT_IMS_URL,
                verify=ca_bundle or True,
            )
            if mode == "ims_bearer":
                http.auth = ims
                auth = ImsBearerAuth(ims)
            else:
                auth = BearerTokenLogonAuth(ims)
        retry = TimeBudgetRetry(
            max_retry_seconds=config.get("max_retry_seconds", DEFAULT_MAX_RETRY_SECONDS),
            max_retries=config.get("max_retries"),
        )
        calls = CallCounts()
        calls.count_responses(http)
        logger = logger or logging.getLogger(__name__)

        def log_backoff(details: Details) -> None:
            calls.retries += 1
            retry.log_wait(logger, details)

        transport = SoapTransport(
            http,
            soap_url(config),
            retry=retry,
            timeout=config.get("request_timeout", 300),
            on_backoff=log_backoff,
        )
        return cls(transport, auth, calls=calls, logger=logger)

    def _current(self) -> Tokens:
        with self._lock:
            if self._tokens is None:
                self._tokens = self.auth.log_on(self)
            return self._tokens

    def _expire(self, used: Tokens) -> None:
        with self._lock:
            if self._tokens is used:
                self._tokens = None
                self.auth.expired(used)

    def _post(
        self, urn: str, method: str, params: Sequence[Param], tokens: Tokens, *, idempotent: bool
    ) -> SoapResult:
        return self.transport.post(
            f"{urn}#{method}",
            build_envelope(urn, method, params, tokens),
            tokens.headers(),
            idempotent=idempotent,
            secrets=(*tokens.secrets(), *self.auth.secrets()),
        )

    def call(
        self, urn: str, method: str, params: Sequence[Param] = (), *, idempotent: bool = True
    ) -> SoapResult:
        """Call `urn#method` (logging on first if needed) and return its output parameters.

        `idempotent=False` (an insert) forbids re-sending after an ambiguous failure.
        """
        tokens = self._current()
        try:
            return self._post(urn, method, params, tokens, idempotent=idempotent)
        except SessionExpiredError as exc:
            self.logger.info("Campaign session expired (%s): logging on again", exc.code)
            self._expire(tokens)
        return self._post(urn, method, params, self._current(), idempotent=idempotent)

    def logon_call(self, method: str, params: Sequence[Param]) -> Tokens:
        """Call a logon method of `xtk:session` and return the tokens it answers.

        Logon, like BearerTokenLogon, answers the session token, the session info and the
        security token, in that order; a logon is never replayed on a session error.
        """
        result = self._post(SESSION_URN, method, params, NO_TOKENS, idempotent=True)
        session_token, security_token = result.value(0), result.value(2)
        if not session_token or not security_token:
            msg = f"{method} answered no session or security token"
            raise CampaignAPIError(200, "", msg, f"{SESSION_URN}#{method}")
        return Tokens(str(session_token), str(security_token))
