"""Test-only admin API under `/_sandbox` on the Dataverse port (plugins never call it).

Direct row writes go through the same store methods as the Web API, so they bump versions,
stamp `modifiedon` and feed change tracking.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crm_sandbox.admin import PREFIX, common_routes

from .config import APPS
from .schema import Table, table_by_entity_set
from .seed import SeedSizes, seed
from .store import q, target_column

if TYPE_CHECKING:
    from .runtime import Runtime


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def storage_values(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """Admin JSON (logical or `_x_value` names, plain values) → storage columns."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if "@" in key:
            continue
        column = table.column(key)
        if column is None:
            raise KeyError(key)
        if column.is_lookup:
            target = values.get(f"{key}@Microsoft.Dynamics.CRM.lookuplogicalname")
            out[column.logical_name] = None if value is None else str(value).lower()
            out[target_column(column)] = None if value is None else (target or column.targets[0])
        else:
            out[column.logical_name] = value
    return out


def _row_json(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in table.columns:
        value = row.get(column.logical_name)
        if column.attribute_type == "Boolean" and value is not None:
            value = bool(value)
        out[column.read_name] = value
    return out


def build_admin_routes(rt: Runtime) -> list[Route]:
    """Routes of the admin API."""

    def table_of(request: Request) -> Table | None:
        return table_by_entity_set(request.path_params["entity_set"], rt.store.tables)

    async def reset(request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        sizes = SeedSizes(
            contacts=int(body.get("contacts", 2000)),
            accounts=body.get("accounts"),
            projects=body.get("projects"),
            tasks=body.get("tasks"),
            categories=int(body.get("categories", 12)),
            salesorders=body.get("salesorders"),
        )
        async with rt.write_lock:
            counts = seed(rt.store, sizes, int(body.get("seed", 42)))
        return JSONResponse(counts)

    async def state(request: Request) -> Response:
        return JSONResponse(
            {
                "counts": rt.store.counts(),
                "version": rt.store.version,
                "clock": rt.clock.time(),
                "clock_offset": rt.clock.offset,
                "seed": rt.store.meta("seed"),
                "settings": rt.settings.as_dict(),
            }
        )

    async def limits(request: Request) -> Response:
        if request.method == "PATCH":
            try:
                rt.settings.limits.update(await request.json())
            except KeyError as exc:
                return _problem(400, f"unknown limit {exc}")
        return JSONResponse(rt.settings.as_dict()["limits"])

    async def limits_reset(request: Request) -> Response:
        rt.limits.reset()
        return Response(status_code=204)

    async def config(request: Request) -> Response:
        if request.method == "PATCH":
            body = await request.json()
            for key in ("token_lifetime", "expire_change_tracking_in_days"):
                if key in body:
                    setattr(rt.settings, key, int(body[key]))
            if "key_index_delay_seconds" in body:
                rt.settings.key_index_delay_seconds = float(body["key_index_delay_seconds"])
        data = rt.settings.as_dict()
        data.pop("limits")
        return JSONResponse(data)

    async def bulk_messages(request: Request) -> Response:
        """PATCH {"table": "<logical name>", "enabled": bool}: the table's *Multiple messages."""
        if request.method == "PATCH":
            body = await request.json()
            name = body.get("table")
            if name not in rt.store.by_name:
                return _problem(404, f"unknown table {name!r}")
            disabled = [t for t in rt.settings.bulk_messages_disabled if t != name]
            if not body.get("enabled", True):
                disabled.append(name)
            rt.settings.bulk_messages_disabled = disabled
        return JSONResponse({"disabled": rt.settings.bulk_messages_disabled})

    async def rows(request: Request) -> Response:
        table = table_of(request)
        if table is None:
            return _problem(404, "unknown entity set")
        body = await request.json()
        try:
            values = storage_values(table, body)
        except KeyError as exc:
            return _problem(400, f"unknown column {exc}")
        values.setdefault(table.primary_id, str(uuid.uuid4()))
        async with rt.write_lock:
            with rt.store.transaction():
                row = rt.store.insert(table, values, owner=APPS[0].user_id)
        return JSONResponse(_row_json(table, row), status_code=201)

    async def row(request: Request) -> Response:
        table = table_of(request)
        if table is None:
            return _problem(404, "unknown entity set")
        pk = request.path_params["id"].lower()
        if request.method == "GET":
            found = rt.store.get(table, pk)
            return JSONResponse(_row_json(table, found)) if found else _problem(404, "no such row")
        async with rt.write_lock:
            if request.method == "DELETE":
                with rt.store.transaction():
                    deleted = rt.store.delete(table, pk)
                return Response(status_code=204) if deleted else _problem(404, "no such row")
            try:
                values = storage_values(table, await request.json())
            except KeyError as exc:
                return _problem(400, f"unknown column {exc}")
            with rt.store.transaction():
                updated = rt.store.update(table, pk, values)
        return JSONResponse(_row_json(table, updated)) if updated else _problem(404, "no such row")

    async def bulk(request: Request) -> Response:
        """POST {"action": "touch"|"delete", "count": n}: change the first n rows by key."""
        table = table_of(request)
        if table is None:
            return _problem(404, "unknown entity set")
        body = await request.json()
        count, action = int(body.get("count", 1)), body.get("action", "touch")
        if action not in ("touch", "delete"):
            return _problem(400, "action must be touch or delete")
        sql = (
            f"SELECT {q(table.primary_id)} FROM {q(table.logical_name)}"
            f" ORDER BY {q(table.primary_id)} LIMIT ?"
        )
        async with rt.write_lock:
            ids = [r[0] for r in rt.store.writer.execute(sql, (count,)).fetchall()]
            with rt.store.transaction():
                for pk in ids:
                    if action == "touch":
                        rt.store.update(table, pk, {})
                    else:
                        rt.store.delete(table, pk)
        return JSONResponse(ids)

    return [
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/state", state),
        Route(f"{PREFIX}/limits", limits, methods=["GET", "PATCH"]),
        Route(f"{PREFIX}/limits/reset", limits_reset, methods=["POST"]),
        Route(f"{PREFIX}/config", config, methods=["GET", "PATCH"]),
        Route(f"{PREFIX}/bulk-messages", bulk_messages, methods=["GET", "PATCH"]),
        *common_routes(rt),
        Route(f"{PREFIX}/rows/{{entity_set}}", rows, methods=["POST"]),
        Route(f"{PREFIX}/rows/{{entity_set}}/bulk", bulk, methods=["POST"]),
        Route(f"{PREFIX}/rows/{{entity_set}}/{{id}}", row, methods=["GET", "PATCH", "DELETE"]),
    ]
