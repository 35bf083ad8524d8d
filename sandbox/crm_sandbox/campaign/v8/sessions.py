"""Authentication of the v8 router: the three logons of Adobe's JS SDK, sessions and expiry.

- `xtk:session#Logon` (login, password, parameters) with the sandbox's operator
  (`config.OPERATOR_LOGIN` / `OPERATOR_PASSWORD`);
- `xtk:session#BearerTokenLogon` (an IMS access token of the sandbox credential): both answer
  `pstrSessionToken`, `pSessionInfo` and `pstrSecurityToken`. Later calls send the session token
  (`X-Session-Token` header, `__sessiontoken` cookie, a SOAP header `Cookie` or the first
  parameter) and the security token (`X-Security-Token` header or SOAP header); both must belong
  to one live session [inference: v8 checks the security token with the session].
- `Authorization: Bearer <IMS access token>` on every call (v8.5+ technical accounts), the
  session token ignored.

Sessions last `Settings.session_lifetime` seconds on the sandbox clock (Campaign's default
`sessionTimeOut` is 86400, as its session info shows); an unknown, expired or mismatched session
or token answers `XSV-350008`, after which a client logs on again.
"""

from __future__ import annotations

import secrets
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING

from starlette.requests import Request

from crm_sandbox.campaign.config import (
    GATEWAY_SCOPES,
    OPERATOR_ID,
    OPERATOR_LOGIN,
    OPERATOR_PASSWORD,
    SERVED_ORGANIZATIONS,
)
from crm_sandbox.campaign.dates import stamp
from crm_sandbox.campaign.tokens import Grant

from .envelope import Call, Out, SoapFault

if TYPE_CHECKING:
    from crm_sandbox.campaign.runtime import Runtime

SESSION_INVALID = "XSV-350008 Session has expired or is invalid. Please reconnect."
# [design] Adobe does not publish the logon failure text; the code is ours.
LOGON_FAILED = "XSV-350022 The login or password is incorrect."
BUILD = "9383"  # [design] a Campaign v8.5 build number


@dataclass
class Session:
    """A logged-on session."""

    token: str
    security_token: str
    login: str
    login_id: int
    caller: str  # who the request log names (operator login or IMS client id)
    expires_at: float


class Sessions:
    """Live sessions of the instance (in memory: a restart logs everyone off)."""

    def __init__(self) -> None:
        """No session."""
        self.live: dict[str, Session] = {}

    def open(self, rt: Runtime, login: str, login_id: int, caller: str) -> Session:
        """Create a session valid `session_lifetime` seconds from now."""
        session = Session(
            token=f"___{str(uuid.uuid4()).upper()}",
            security_token="@" + secrets.token_urlsafe(48),
            login=login,
            login_id=login_id,
            caller=caller,
            expires_at=rt.clock.time() + rt.settings.session_lifetime,
        )
        self.live[session.token] = session
        return session

    def find(self, rt: Runtime, token: str, security_token: str) -> Session | None:
        """Return the live session of both tokens (expired sessions are forgotten)."""
        session = self.live.get(token)
        if session is not None and session.expires_at <= rt.clock.time():
            del self.live[token]
            return None
        if session is None or not secrets.compare_digest(session.security_token, security_token):
            return None
        return session

    def close(self, token: str) -> None:
        """Log a session off."""
        self.live.pop(token, None)

    def clear(self) -> None:
        """Drop every session (admin: expire them all)."""
        self.live.clear()


def _ims_grant(rt: Runtime, token: str) -> Grant:
    """Return the grant of a valid IMS token of the served organization, else XSV-350008."""
    grant = rt.tokens.validate(token)
    if (
        grant is None
        or grant.credential.organization not in SERVED_ORGANIZATIONS
        or not grant.scopes >= GATEWAY_SCOPES
    ):
        raise SoapFault(SESSION_INVALID)
    return grant


def _cookie(value: str) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(value)
    morsel = cookie.get("__sessiontoken")
    return morsel.value if morsel is not None else ""


def authenticate(rt: Runtime, request: Request, call: Call) -> str:
    """Check the caller of a call (not a logon); return who the request log names."""
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return _ims_grant(rt, bearer.strip()).credential.client_id
    token = (
        request.headers.get("x-session-token")
        or request.cookies.get("__sessiontoken")
        or _cookie(call.header.get("Cookie", ""))
        or call.session_token
    )
    security = request.headers.get("x-security-token") or call.header.get("X-Security-Token", "")
    session = rt.sessions.find(rt, token, security) if token and security else None
    if session is None:
        raise SoapFault(SESSION_INVALID)
    return session.caller


def user_info(session: Session) -> ET.Element:
    """`<userInfo>` of a session's operator."""
    info = ET.Element(
        "userInfo",
        {
            "datakitInDatabase": "true",
            "homeDir": "",
            "instanceLocale": "en",
            "locale": "en",
            "login": session.login,
            "loginCS": session.login,
            "loginId": str(session.login_id),
            "noConsoleCnx": "true",
            "orgUnitId": "0",
            "theme": "",
            "timezone": "UTC",
        },
    )
    ET.SubElement(info, "login-group", {"id": "1060"})
    ET.SubElement(info, "login-right", {"right": "admin"})
    for name in ("campaign", "core", "crm"):
        ET.SubElement(info, "installed-package", {"name": name, "namespace": "nms"})
    return info


def session_info(rt: Runtime, session: Session) -> ET.Element:
    """`<sessionInfo>` as Logon answers it (`serverInfo` + `userInfo`)."""
    info = ET.Element("sessionInfo")
    lifetime = str(rt.settings.session_lifetime)
    ET.SubElement(
        info,
        "serverInfo",
        {
            "buildNumber": BUILD,
            "defaultNameSpace": "cus",
            "instanceName": "sandbox-org-mkt-prod1",
            "majNumber": "8",
            "minNumber": "5",
            "servicePack": "0",
            "releaseName": "8.5",
            "serverDate": stamp(rt.clock.time()),
            "sessionTimeOut": lifetime,
            "securityTimeOut": lifetime,
        },
    )
    info.append(user_info(session))
    return info


def _logon_outputs(rt: Runtime, session: Session) -> list[Out]:
    return [
        Out("pstrSessionToken", "xsd:string", session.token),
        Out("pSessionInfo", "ns:Element", element=session_info(rt, session)),
        Out("pstrSecurityToken", "xsd:string", session.security_token),
    ]


def logon(rt: Runtime, request: Request, call: Call) -> list[Out]:
    """`xtk:session#Logon`: login, password (and parameters, ignored)."""
    login, password = call.text(0, "strLogin"), call.text(1, "strPassword")
    if login != OPERATOR_LOGIN or not secrets.compare_digest(password, OPERATOR_PASSWORD):
        raise SoapFault(LOGON_FAILED)
    request.scope["state"]["client_id"] = login
    return _logon_outputs(rt, rt.sessions.open(rt, login, OPERATOR_ID, login))


def bearer_token_logon(rt: Runtime, request: Request, call: Call) -> list[Out]:
    """`xtk:session#BearerTokenLogon`: an IMS access token for a session."""
    cred = _ims_grant(rt, call.text(0, "bearerToken")).credential
    request.scope["state"]["client_id"] = cred.client_id
    session = rt.sessions.open(rt, cred.technical_account, OPERATOR_ID + 1, cred.client_id)
    return _logon_outputs(rt, session)


def logoff(rt: Runtime, request: Request, call: Call) -> list[Out]:
    """`xtk:session#Logoff`: end the caller's session (IMS bearer callers have none)."""
    token = request.headers.get("x-session-token") or call.session_token
    rt.sessions.close(token)
    return []


def get_user_info(rt: Runtime, request: Request, call: Call) -> list[Out]:
    """`xtk:session#GetUserInfo`: the operator behind the call."""
    token = request.headers.get("x-session-token") or call.session_token
    session = rt.sessions.live.get(token)
    if session is None:  # an IMS technical account: no session
        caller = request.scope["state"]["client_id"]
        session = Session("", "", caller, OPERATOR_ID + 1, caller, 0.0)
    return [Out("pUserInfo", "ns:Element", element=user_info(session))]
