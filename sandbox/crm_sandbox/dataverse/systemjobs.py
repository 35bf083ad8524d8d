"""System jobs: the `asyncoperations` a bulk delete runs as, and its `bulkdeleteoperations` row.

Microsoft documents a bulk delete as a system job (`asyncoperation`, operation type 13) plus a
Bulk Delete Operation record holding the success and failure counts. Both are read-only here:
`GET asyncoperations(<id>)`, `GET asyncoperations?$filter=…&$select=…` and the same for
`bulkdeleteoperations`. They live in the store's table `_systemjob` (not in `schema.TABLES`, so
they do not appear in `$metadata` or EntityDefinitions); `$filter` uses the metadata evaluator.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from .errors import OBJECT_DOES_NOT_EXIST, DataverseError
from .keys import is_guid
from .metafilter import compile_meta_filter, matches, missing_property, select
from .protocol import ApiRequest, ApiResponse, json_response
from .store import SYSTEM_JOB_COLUMNS, SYSTEM_JOBS

BULK_DELETE = 13  # asyncoperation.operationtype "Bulk Delete"
READY, SUSPENDED, LOCKED, COMPLETED = 0, 1, 2, 3  # statecode
WAITING_FOR_RESOURCES, IN_PROGRESS, SUCCEEDED, FAILED = 0, 20, 30, 31  # statuscode
_COLUMN_NAMES = tuple(c.split()[0] for c in SYSTEM_JOB_COLUMNS.split(","))


def rows(conn: sqlite3.Connection, where: str = "1", params: tuple[Any, ...] = ()) -> list[dict]:
    """Job rows as dicts."""
    cur = conn.execute(f"SELECT * FROM {SYSTEM_JOBS} WHERE {where} ORDER BY createdon", params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def asyncoperation(row: dict[str, Any]) -> dict[str, Any]:
    """Render a job as an asyncoperation record."""
    return {
        "@odata.etag": f'W/"{row["versionnumber"]}"',
        "asyncoperationid": row["asyncoperationid"],
        "name": row["name"],
        "operationtype": BULK_DELETE,
        "statecode": row["statecode"],
        "statuscode": row["statuscode"],
        "createdon": row["createdon"],
        "modifiedon": row["modifiedon"],
        "startedon": row["startedon"],
        "completedon": row["completedon"],
        "postponeuntil": row["postponeuntil"],
        "recurrencepattern": "",
        "message": row["message"],
        "friendlymessage": row["message"],
        "_ownerid_value": row["ownerid"],
        "_regardingobjectid_value": None,
    }


def bulkdeleteoperation(row: dict[str, Any]) -> dict[str, Any]:
    """Render a job as its bulkdeleteoperation record."""
    return {
        "@odata.etag": f'W/"{row["versionnumber"]}"',
        "bulkdeleteoperationid": row["bulkdeleteoperationid"],
        "name": row["name"],
        "_asyncoperationid_value": row["asyncoperationid"],
        "statecode": row["statecode"],
        "statuscode": row["statuscode"],
        "successcount": row["successcount"],
        "failurecount": row["failurecount"],
        "isrecurring": False,
        "nextrun": None,
        "createdon": row["createdon"],
        "modifiedon": row["modifiedon"],
        "_createdby_value": row["ownerid"],
    }


_SETS: dict[str, tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "asyncoperations": ("asyncoperation", "asyncoperationid", asyncoperation),
    "bulkdeleteoperations": ("bulkdeleteoperation", "bulkdeleteoperationid", bulkdeleteoperation),
}
ENTITY_SETS = frozenset(_SETS)


def read(
    conn: sqlite3.Connection, req: ApiRequest, entity_set: str, key_text: str | None
) -> ApiResponse:
    """GET `asyncoperations[(<id>)]` or `bulkdeleteoperations[(<id>)]`."""
    logical, primary, render = _SETS[entity_set]
    known = set(render(dict.fromkeys(_COLUMN_NAMES, 0))) - {"@odata.etag"}
    fields = [n.strip() for n in (req.param("$select") or "").split(",") if n.strip()] or None
    for name in fields or []:
        if name not in known:
            raise missing_property(logical, name)
    context = f"{req.service_root}$metadata#{entity_set}"
    if fields:
        context += f"({','.join(fields)})"
    records = [render(r) for r in rows(conn)]
    if key_text is not None:
        pk = key_text.strip().lower()
        found = next((r for r in records if is_guid(pk) and r[primary] == pk), None)
        if found is None:
            raise DataverseError(
                404, OBJECT_DOES_NOT_EXIST, f"{logical} With Id = {key_text} Does Not Exist"
            )
        body = select(found, fields, always=("@odata.etag", primary))
        return json_response({"@odata.context": context + "/$entity", **body})
    node = compile_meta_filter(req.param("$filter"))
    values = [
        select(r, fields, always=("@odata.etag", primary))
        for r in records
        if matches(node, r, logical, known)
    ]
    return json_response({"@odata.context": context, "value": values})
