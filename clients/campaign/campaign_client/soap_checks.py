"""Connection check steps on a Campaign v8 / Classic instance, shared by both plugins' checks.

Logon (as `soap_auth` says), a schema read (`xtk:persist#GetEntityIfMoreRecent`) and one small
page (`xtk:queryDef#ExecuteQuery`). Nothing is written.
"""

from __future__ import annotations

import typing as t

from sync_support.checks import CheckStep

from campaign_client.querydef import QueryDef, select
from campaign_client.soap_session import ImsBearerAuth
from campaign_client.xtk_schema import get_schema

if t.TYPE_CHECKING:
    from campaign_client.soap_session import SoapSession

#: Rows asked for by the page step: proves read access, costs nothing.
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


def schema_step(session: SoapSession, schema_id: str) -> CheckStep:
    """Read a schema: it exists on this instance (a custom one is built)."""

    def run() -> str:
        schema = get_schema(session, schema_id)
        if schema is None:
            msg = f"{schema_id}: no such schema on this instance (write and build it first)"
            raise LookupError(msg)
        attributes = len(schema.findall(".//attribute"))
        return f"{schema_id}: {attributes} attributes"

    return CheckStep(f"schema {schema_id}", run)


def page_step(session: SoapSession, schema_id: str, size: int = CHECK_PAGE_SIZE) -> CheckStep:
    """Read one page of a schema's records (`lineCount` = `size`): read access."""

    def run() -> str:
        query = QueryDef(schema_id, ("@id",), order_by=("@id",), line_count=size)
        rows = select(session, query)
        return f"{schema_id}: first page, {len(rows)} records"

    return CheckStep(f"page {schema_id}", run)
