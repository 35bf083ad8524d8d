"""Entity set reads: `$select/$filter/$orderby/$top/$count`, key-set paging, tracked snapshots."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import changes
from .errors import BAD_REQUEST, OBJECT_DOES_NOT_EXIST, DataverseError
from .keys import EntityKey
from .odata import OrderKey, compile_filter, parse_orderby, parse_select
from .paging import MAX_PAGE_SIZE, PageState, build_query, decode_skiptoken, encode_skiptoken
from .protocol import ApiRequest, ApiResponse, collection_response, json_response
from .records import Projection
from .schema import Column, Table
from .store import NOT_NULL, q

if TYPE_CHECKING:
    from .runtime import Runtime

SUPPORTED = frozenset(
    {"$select", "$filter", "$orderby", "$top", "$count", "$skiptoken", "$deltatoken", "$expand"}
)


def _aliases(req: ApiRequest) -> dict[str, str]:
    return {k: v for k, v in req.query if k.startswith("@")}


def check_options(req: ApiRequest) -> None:
    """Reject query options Dataverse does not support (`$skip`, `$search`…)."""
    for key, _ in req.query:
        if key.startswith("$") and key not in SUPPORTED:
            raise DataverseError(400, BAD_REQUEST, f"The query parameter {key} is not supported")
    if req.param("$expand") is not None:
        raise DataverseError(
            400, BAD_REQUEST, "The sandbox does not implement $expand on entity sets."
        )


def context_url(req: ApiRequest, table: Table, columns: list[Column] | None) -> str:
    """`@odata.context` of a collection (with the `$select` list when one was given)."""
    base = f"{req.service_root}$metadata#{table.entity_set_name}"
    if req.param("$select") and columns is not None:
        return f"{base}({','.join(c.read_name for c in columns)})"
    return base


def _nullable(column: Column) -> bool:
    return not (column.is_primary_id or column.logical_name in NOT_NULL)


def keyset_after(keys: list[OrderKey], values: list[Any]) -> tuple[str, list[Any]]:
    """Return SQL for rows strictly after `values` in the `keys` order (NULLs sort first)."""
    ors: list[str] = []
    params: list[Any] = []
    for i, key in enumerate(keys):
        parts: list[str] = []
        part_params: list[Any] = []
        for prev, value in zip(keys[:i], values[:i], strict=True):
            col = q(prev.column.logical_name)
            if value is None:
                parts.append(f"{col} IS NULL")
            else:
                parts.append(f"{col} = ?")
                part_params.append(value)
        col, value = q(key.column.logical_name), values[i]
        if not key.descending:
            if value is None:
                parts.append(f"{col} IS NOT NULL")
            else:
                parts.append(f"{col} > ?")
                part_params.append(value)
        elif value is None:
            continue  # nothing sorts after NULL in descending order
        else:
            null_tail = f" OR {col} IS NULL" if _nullable(key.column) else ""
            parts.append(f"({col} < ?{null_tail})")
            part_params.append(value)
        ors.append(" AND ".join(parts))
        params += part_params
    if not ors:
        return "0", []
    sql = "(" + " OR ".join(f"({o})" for o in ors) + ")"
    first, value = keys[0], values[0]
    if value is not None and (not first.descending or not _nullable(first.column)):
        # Redundant bound that lets SQLite seek the (key, pk) index instead of scanning.
        sql = f"{q(first.column.logical_name)} {'<=' if first.descending else '>='} ? AND {sql}"
        params.insert(0, value)
    return sql, params


def read_collection(
    rt: Runtime, req: ApiRequest, table: Table, *, count_only: bool = False
) -> ApiResponse:
    """GET `<entityset>` (or `<entityset>/$count`)."""
    check_options(req)
    skiptoken = req.param("$skiptoken")
    state = decode_skiptoken(skiptoken) if skiptoken else None
    delta = req.param("$deltatoken")
    tracking = req.prefer.track_changes or (state is not None and state.tracking)
    if delta is not None or tracking:
        changes.check_tracking_request(req, table)
    if count_only and delta is not None:
        return _text(str(changes.count_changes(rt, table, delta)))
    columns = parse_select(table, req.param("$select"))
    projection = Projection(table, columns, req.prefer)
    context = context_url(req, table, columns)
    if delta is not None:
        return changes.read_delta(rt, req, table, projection, context, state)
    where, params = compile_filter(table, req.param("$filter"), _aliases(req))
    name = q(table.logical_name)
    if count_only:
        sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {name} WHERE {where} LIMIT {MAX_PAGE_SIZE})"
        return _text(str(rt.store.reader.execute(sql, params).fetchone()[0]))
    keys = parse_orderby(table, req.param("$orderby"))
    if tracking:
        req.prefer.applied.append("odata.track-changes")
    page_size = req.prefer.page_size()
    if req.prefer.max_page_size is not None:
        req.prefer.applied.append(f"odata.maxpagesize={page_size}")
    remaining = _top(req) if state is None else state.remaining
    if state is None:
        state = PageState(tracking=tracking)
        if tracking:
            state.snapshot = changes.current_version(rt, table)
    limit = page_size if remaining is None else min(page_size, remaining)
    page_where, page_params = where, list(params)
    if state.last is not None:
        after, after_params = keyset_after(keys, state.last)
        page_where = f"({where}) AND {after}"
        page_params += after_params
    order = ", ".join(
        f"{q(k.column.logical_name)} {'DESC' if k.descending else 'ASC'}" for k in keys
    )
    key_sql = ", ".join(q(k.column.logical_name) for k in keys)
    sql = (
        f"SELECT {projection.select_list}, {key_sql} FROM {name} WHERE {page_where}"
        f" ORDER BY {order} LIMIT ?"
    )
    rows = rt.store.reader.execute(sql, [*page_params, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    if remaining is not None:
        remaining -= len(rows)
        more = more and remaining > 0
    body: dict[str, Any] = {"@odata.context": context}
    if req.param("$count") == "true":
        sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {name} WHERE {where} LIMIT {MAX_PAGE_SIZE + 1})"
        total = rt.store.reader.execute(sql, params).fetchone()[0]
        body["@odata.count"] = min(total, MAX_PAGE_SIZE)
        if req.prefer.wants("Microsoft.Dynamics.CRM.totalrecordcount"):
            body["@Microsoft.Dynamics.CRM.totalrecordcount"] = min(total, MAX_PAGE_SIZE)
        if req.prefer.wants("Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"):
            body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = total > MAX_PAGE_SIZE
    values = projection.render_json(rows, rt.store)
    tail: dict[str, Any] = {}
    if more:
        nkeys = len(keys)
        nxt = PageState(
            page=state.page,
            last=list(rows[-1][-nkeys:]),
            remaining=remaining,
            tracking=state.tracking,
            snapshot=state.snapshot,
        )
        query = [(k, v) for k, v in req.query if k != "$skiptoken"]
        query.append(("$skiptoken", encode_skiptoken(nxt)))
        tail["@odata.nextLink"] = f"{req.service_root}{table.entity_set_name}?{build_query(query)}"
    elif state.tracking:
        assert state.snapshot is not None
        tail["@odata.deltaLink"] = changes.delta_link(rt, req, table, state.snapshot)
    headers = {}
    if req.prefer.annotations_raw and projection.annotated:
        req.prefer.applied.append(f"odata.include-annotations={req.prefer.annotations_raw}")
    if req.prefer.applied:
        headers["Preference-Applied"] = ",".join(req.prefer.applied)
    return collection_response(body, values, tail, headers)


def _top(req: ApiRequest) -> int | None:
    raw = req.param("$top")
    if raw is None or req.prefer.max_page_size is not None:
        return None  # `$top` is ignored together with odata.maxpagesize
    try:
        top = int(raw)
    except ValueError:
        raise DataverseError(
            400, BAD_REQUEST, f"Invalid value '{raw}' for $top query option found."
        ) from None
    if top < 0:
        raise DataverseError(
            400, BAD_REQUEST, f"Invalid value '{raw}' for $top query option found."
        )
    return top


def _text(value: str) -> ApiResponse:
    return ApiResponse(200, {"Content-Type": "text/plain", "OData-Version": "4.0"}, value.encode())


def does_not_exist(table: Table, key: EntityKey) -> DataverseError:
    """404 for a missing row, worded as Dataverse does."""
    ident = key.id if key.id is not None else key.text
    return DataverseError(
        404, OBJECT_DOES_NOT_EXIST, f"{table.logical_name} With Id = {ident} Does Not Exist"
    )


def resolve_key(rt: Runtime, table: Table, key: EntityKey, *, writer: bool = False) -> str | None:
    """Primary key value a URL key designates, or None when no row matches."""
    if key.id is not None:
        conn = rt.store.writer if writer else rt.store.reader
        sql = f"SELECT 1 FROM {q(table.logical_name)} WHERE {q(table.primary_id)} = ?"
        return key.id if conn.execute(sql, (key.id,)).fetchone() else None
    assert key.values is not None
    if writer:
        return rt.store.find_by_key(table, key.values)
    where = " AND ".join(f"{q(n)} = ?" for n in key.values)
    sql = f"SELECT {q(table.primary_id)} FROM {q(table.logical_name)} WHERE {where}"
    row = rt.store.reader.execute(sql, tuple(key.values.values())).fetchone()
    return None if row is None else str(row[0])


def entity_body(
    rt: Runtime, req: ApiRequest, table: Table, pk: str, *, writer: bool = False
) -> dict[str, Any] | None:
    """One row rendered with the request's `$select` and annotations, with `@odata.context`."""
    columns = parse_select(table, req.param("$select"))
    projection = Projection(table, columns, req.prefer)
    conn = rt.store.writer if writer else rt.store.reader
    sql = (
        f"SELECT {projection.select_sql} FROM {q(table.logical_name)}"
        f" WHERE {q(table.primary_id)} = ?"
    )
    rows = conn.execute(sql, (pk,)).fetchall()
    if not rows:
        return None
    record = projection.render(rows, rt.store)[0]
    return {"@odata.context": f"{context_url(req, table, columns)}/$entity", **record}


def read_entity(rt: Runtime, req: ApiRequest, table: Table, key: EntityKey) -> ApiResponse:
    """GET `<entityset>(<key>)`."""
    check_options(req)
    pk = resolve_key(rt, table, key)
    body = None if pk is None else entity_body(rt, req, table, pk)
    if body is None:
        raise does_not_exist(table, key)
    headers = {}
    if req.prefer.annotations_raw:
        headers["Preference-Applied"] = f"odata.include-annotations={req.prefer.annotations_raw}"
    return json_response(body, headers=headers)
