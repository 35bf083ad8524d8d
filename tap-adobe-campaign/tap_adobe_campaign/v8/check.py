"""Connection checks on a v8 instance: logon, the `nms:recipient` schema, one page of recipients."""

from __future__ import annotations

import typing as t

from campaign_client.soap_checks import logon_step, page_step
from sync_support.checks import CheckStep

from tap_adobe_campaign.v8.recipient import RECIPIENT, RecipientSchema

if t.TYPE_CHECKING:
    from campaign_client.soap_session import SoapSession


def schema_step(session: SoapSession) -> CheckStep:
    """Read `nms:recipient`'s schema (`xtk:persist#GetEntityIfMoreRecent`), custom fields too."""

    def run() -> str:
        recipient = RecipientSchema.read(session)
        custom = sum(name.startswith("cus") for name in recipient.attributes)
        return f"{RECIPIENT}: {len(recipient.attributes)} attributes ({custom} custom)"

    return CheckStep(f"schema {RECIPIENT}", run)


def v8_steps(session: SoapSession) -> list[CheckStep]:
    """Return the tap's checks on v8: logon, schema, page."""
    return [logon_step(session), schema_step(session), page_step(session, RECIPIENT)]
