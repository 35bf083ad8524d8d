"""Connection checks on a v8 instance: logon, the `nms:recipient` schema, one page of recipients."""

from __future__ import annotations

import typing as t

from campaign_client.querydef import QueryDef, select
from campaign_client.soap_session import ImsBearerAuth
from sync_support.checks import CheckStep

from tap_adobe_campaign.v8.recipient import RECIPIENT, RecipientSchema

if t.TYPE_CHECKING:
    from campaign_client.soap_session import SoapSession

#: Recipients asked for by the page step: proves read access, costs nothing.
CHECK_PAGE_SIZE = 5


def logon_step(session: SoapSession) -> CheckStep:
    """Log on as `soap_auth` says (ims_bearer: fetch an IMS token; no call to Campaign).

    The check's own logon: the next steps' calls open the session they use.
    """

    def run() -> str:
        session.auth.log_on(session)
        if isinstance(session.auth, ImsBearerAuth):
            return "IMS token acquired (ims_bearer: sent on every call, no logon call)"
        return f"session opened ({type(session.auth).__name__})"

    return CheckStep("logon", run)


def schema_step(session: SoapSession) -> CheckStep:
    """Read `nms:recipient`'s schema (`xtk:persist#GetEntityIfMoreRecent`)."""

    def run() -> str:
        recipient = RecipientSchema.read(session)
        custom = sum(name.startswith("cus") for name in recipient.attributes)
        return f"{RECIPIENT}: {len(recipient.attributes)} attributes ({custom} custom)"

    return CheckStep("schema", run)


def page_step(session: SoapSession, size: int = CHECK_PAGE_SIZE) -> CheckStep:
    """Read one page of recipients (`xtk:queryDef#ExecuteQuery`, `lineCount` = `size`)."""

    def run() -> str:
        query = QueryDef(RECIPIENT, ("@id", "@lastModified"), order_by=("@id",), line_count=size)
        rows = select(session, query)
        return f"{RECIPIENT}: first page, {len(rows)} records"

    return CheckStep("page", run)


def v8_steps(session: SoapSession) -> list[CheckStep]:
    """Return the tap's checks on v8: logon, schema, page."""
    return [logon_step(session), schema_step(session), page_step(session)]
