"""`--apply`: write the source schemas to a Campaign v8 instance and build them.

As Adobe documents it (and its JS SDK shows): `xtk:session#Write` of the `xtk:srcSchema`
document, then `xtk:builder#BuildSchemaFromId`, parents before the tables linking to them (a
link's target schema must exist when the table is built).
"""

from __future__ import annotations

import typing as t

from campaign_client.xtk_schema import build_schema, write_src_schema

from target_adobe_campaign.wizard.render import src_schema

if t.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from campaign_client.soap_session import SoapSession

    from target_adobe_campaign.wizard.mapping import TablePlan


def apply(
    session: SoapSession, plans: Sequence[TablePlan], report: Callable[[str], None] = print
) -> list[str]:
    """Write and build each table's schema, in the given (parents-first) order; return the ids."""
    built = []
    for plan in plans:
        schema = src_schema(plan)
        write_src_schema(session, schema)
        build_schema(session, schema.id)
        report(f"{plan.table}: {schema.id} written and built")
        built.append(schema.id)
    return built
