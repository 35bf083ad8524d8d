"""Change tracking: delta tokens, their expiry, and the `$deltatoken` response.

Tokens look like Dataverse's (`<version>!<MM/DD/YYYY HH:MM:SS>`): the org-wide row version the
client has seen and when the token was issued. Changes are rows with a higher `versionnumber`
(new and updated look the same) followed by tombstones of deleted rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .errors import BAD_REQUEST, EXPIRED_VERSION_STAMP, DataverseError
from .paging import PageState, build_query, encode_skiptoken
from .protocol import ApiRequest, ApiResponse, collection_response, encode_json
from .records import Projection
from .schema import Table
from .store import q

if TYPE_CHECKING:
    from .runtime import Runtime

_FORMAT = "%m/%d/%Y %H:%M:%S"
UNSUPPORTED_WITH_TRACKING = ("$filter", "$orderby", "$expand", "$top")


def encode_token(version: int, moment: datetime) -> str:
    """Return a delta token for changes after `version`."""
    return f"{version}!{moment.astimezone(UTC).strftime(_FORMAT)}"


def decode_token(token: str) -> tuple[int, datetime]:
    """(version, issue time) of a delta token."""
    version, _, stamp = token.partition("!")
    try:
        return int(version), datetime.strptime(stamp, _FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise DataverseError(400, BAD_REQUEST, "The delta token is not valid.") from None


def not_tracked(table: Table) -> DataverseError:
    """Return the error for a table without change tracking (as Dataverse words it)."""
    return DataverseError(
        400, BAD_REQUEST, f"Entity: {table.logical_name} isn't enabled for change tracking."
    )


def check_tracking_request(req: ApiRequest, table: Table) -> None:
    """Reject query options Dataverse does not allow with change tracking."""
    for option in UNSUPPORTED_WITH_TRACKING:
        if req.param(option) is not None:
            raise DataverseError(
                400,
                BAD_REQUEST,
                f'The "{option}" query parameter isn\'t supported when Change Tracking is enabled.',
            )
    if not table.change_tracking:
        raise not_tracked(table)


def current_version(rt: Runtime, table: Table) -> int:
    """Highest committed row version of `table` (rows or tombstones)."""
    row = rt.store.reader.execute(
        f"SELECT MAX(v) FROM (SELECT MAX(versionnumber) AS v FROM {q(table.logical_name)}"
        " UNION ALL SELECT MAX(version) AS v FROM _tombstone WHERE entity = ?)",
        (table.logical_name,),
    ).fetchone()
    return int(row[0] or 0)


def _since(rt: Runtime, token: str) -> int:
    version, issued = decode_token(token)
    days = rt.settings.expire_change_tracking_in_days
    if rt.clock.now() - issued > timedelta(days=days):
        raise DataverseError(
            400,
            EXPIRED_VERSION_STAMP,
            "Version stamp associated with the client has expired. Please perform a full sync.",
        )
    return version


def delta_link(rt: Runtime, req: ApiRequest, table: Table, version: int) -> str:
    """`@odata.deltaLink` for changes after `version` (keeps `$select`)."""
    params = [(k, v) for k, v in req.query if k == "$select"]
    params.append(("$deltatoken", encode_token(version, rt.clock.now())))
    return f"{req.service_root}{table.entity_set_name}?{build_query(params)}"


def count_changes(rt: Runtime, table: Table, token: str) -> int:
    """Return number of changes since a delta token (`/$count?$deltatoken=`)."""
    since = _since(rt, token)
    name, pk = table.logical_name, table.primary_id
    rows = rt.store.reader.execute(
        f"SELECT COUNT(*) FROM {q(name)} WHERE versionnumber > ?", (since,)
    ).fetchone()[0]
    deleted = rt.store.reader.execute(
        f"SELECT COUNT(*) FROM _tombstone AS d WHERE entity = ? AND version > ?"
        f" AND NOT EXISTS (SELECT 1 FROM {q(name)} AS t WHERE t.{q(pk)} = d.id)",
        (name, since),
    ).fetchone()[0]
    return int(rows) + int(deleted)


def read_delta(
    rt: Runtime,
    req: ApiRequest,
    table: Table,
    projection: Projection,
    context: str,
    state: PageState | None,
) -> ApiResponse:
    """Return changes since the token: changed rows by version, then `$deletedEntity` stubs."""
    token = req.param("$deltatoken") or ""
    if state is None:
        since = _since(rt, token)
        state = PageState(since=since, snapshot=current_version(rt, table), last=[since])
    assert state.since is not None
    assert state.snapshot is not None
    page_size = req.prefer.page_size()
    if req.prefer.max_page_size is not None:
        req.prefer.applied.append(f"odata.maxpagesize={page_size}")
    name, pk = table.logical_name, table.primary_id
    last = int((state.last or [state.since])[0])
    values: list[bytes] = []
    more = False
    phase = state.phase
    if phase == "rows":
        rows = rt.store.reader.execute(
            f"SELECT {projection.select_list}, versionnumber FROM {q(name)} WHERE versionnumber > ?"
            " ORDER BY versionnumber LIMIT ?",
            (max(last, state.since), page_size + 1),
        ).fetchall()
        if len(rows) > page_size:
            rows, more = rows[:page_size], True
            last = rows[-1][-1]
        else:
            phase, last = "deleted", state.since
        values.extend(projection.render_json(rows, rt.store))
    if phase == "deleted" and not more:
        room = page_size - len(values)
        stubs = rt.store.reader.execute(
            f"SELECT d.id, d.version FROM _tombstone AS d WHERE d.entity = ? AND d.version > ?"
            f" AND NOT EXISTS (SELECT 1 FROM {q(name)} AS t WHERE t.{q(pk)} = d.id)"
            " ORDER BY d.version LIMIT ?",
            (name, max(last, state.since), room + 1),
        ).fetchall()
        if len(stubs) > room:
            stubs, more = stubs[:room], True
            last = stubs[-1][1] if stubs else last
        deleted_context = f"{req.service_root}$metadata#{table.entity_set_name}/$deletedEntity"
        values.extend(
            encode_json({"@odata.context": deleted_context, "id": stub_id, "reason": "deleted"})
            for stub_id, _ in stubs
        )
    body: dict[str, object] = {"@odata.context": f"{context}/$delta"}
    tail: dict[str, object] = {}
    if more:
        nxt = PageState(
            page=state.page,
            last=[last],
            tracking=True,
            snapshot=state.snapshot,
            phase=phase,
            since=state.since,
        )
        params = [(k, v) for k, v in req.query if k == "$select"]
        params.append(("$skiptoken", encode_skiptoken(nxt)))
        params.append(("$deltatoken", token))
        tail["@odata.nextLink"] = f"{req.service_root}{table.entity_set_name}?{build_query(params)}"
    else:
        tail["@odata.deltaLink"] = delta_link(rt, req, table, state.snapshot)
    headers = {}
    if req.prefer.applied:
        headers["Preference-Applied"] = ",".join(req.prefer.applied)
    return collection_response(body, values, tail, headers)
