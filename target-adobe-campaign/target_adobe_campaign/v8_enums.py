"""Enumerations (`xtk:enum`) read and written through the v8 backend's SOAP session.

The same queries and documents as `campaign_client.classic.ClassicClient`, sent the way Adobe's
JS SDK sends them (`soap_session`), so they work with every `soap_auth` mode.
"""

from __future__ import annotations

import typing as t

from campaign_client.classic import enum_element, enum_query, parse_enumerations
from campaign_client.soap import Param
from campaign_client.xtk_write import WRITE_URN

if t.TYPE_CHECKING:
    from campaign_client.classic import Enumeration, EnumWrite
    from campaign_client.soap_session import SoapSession

QUERY_URN = "xtk:queryDef"


class SessionEnums:
    """Reads and writes enumerations on a SOAP session."""

    def __init__(self, session: SoapSession) -> None:
        """Call through `session`."""
        self.session = session

    def read_enumeration(self, name: str) -> Enumeration | None:
        """Return the enumeration `name` as Campaign stores it (one ExecuteQuery), or None."""
        result = self.session.call(
            QUERY_URN, "ExecuteQuery", [Param.document("document", enum_query(name))]
        )
        output = result.element(0)
        return None if output is None else parse_enumerations(output).get(name)

    def write(self, write: EnumWrite) -> None:
        """Write one enumeration (`xtk:session#Write`, idempotent)."""
        self.session.call(WRITE_URN, "Write", [Param.document("doc", enum_element(write))])
