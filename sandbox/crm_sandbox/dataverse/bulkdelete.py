"""The BulkDelete action: submit a bulk delete job, then run it in the background.

As Microsoft documents it ("Delete data in bulk", BulkDelete action): `POST BulkDelete` with
`QuerySet` (QueryExpressions), `JobName`, `SendEmailNotification`, `ToRecipients`,
`CCRecipients`, `RecurrencePattern` and `StartDateTime` answers 200 with
`{"@odata.context": "…#Microsoft.Dynamics.CRM.BulkDeleteResponse", "JobId": "<asyncoperationid>"}`;
the job "runs asynchronously": here on the first request handled once `StartDateTime` (sandbox
clock) has passed. Each matching row is deleted like a `DELETE` (tombstone, so change tracking
reports it); the system job ends Succeeded with the Bulk Delete Operation's `successcount`.
There is no email, so notifications are accepted and not sent.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import systemjobs
from .errors import BAD_REQUEST, DataverseError
from .protocol import ApiRequest, ApiResponse, json_response
from .queryexpression import NOT_IMPLEMENTED, compile_query
from .store import SYSTEM_JOBS, q

if TYPE_CHECKING:
    from .runtime import Runtime

NS = "Microsoft.Dynamics.CRM"


def _start(value: Any, now: float) -> float:
    if value in (None, ""):
        return now
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise DataverseError(
            400,
            BAD_REQUEST,
            f"Cannot convert the literal '{value}' to the expected type 'Edm.DateTimeOffset'.",
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _parameters(rt: Runtime, req: ApiRequest) -> dict[str, Any]:
    body = req.json_body()
    if not isinstance(body, dict):
        raise DataverseError(400, BAD_REQUEST, "The BulkDelete parameters must be a JSON object.")
    for name in ("QuerySet", "JobName"):
        if body.get(name) in (None, "", []):
            raise DataverseError(
                400, BAD_REQUEST, f"The parameter '{name}' of the action 'BulkDelete' is required."
            )
    if not isinstance(body["QuerySet"], list):
        raise DataverseError(400, BAD_REQUEST, "'QuerySet' must be an array of QueryExpression.")
    for name in ("ToRecipients", "CCRecipients"):
        if not isinstance(body.get(name, []), list):
            raise DataverseError(400, BAD_REQUEST, f"'{name}' must be an array of activityparty.")
    if body.get("RecurrencePattern"):
        raise DataverseError(
            501, NOT_IMPLEMENTED, "The sandbox does not implement recurring bulk delete jobs."
        )
    now = rt.clock.now()
    for query in body["QuerySet"]:  # refuse bad queries now, as the platform does
        compile_query(query, rt.store.tables, now)
    return body


def submit(rt: Runtime, req: ApiRequest) -> ApiResponse:
    """POST BulkDelete: record the job (Waiting For Resources) and answer its JobId."""
    body = _parameters(rt, req)
    job_id = str(uuid.uuid4())
    due = _start(body.get("StartDateTime"), rt.clock.time())
    stamp = rt.clock.stamp()
    with rt.store.transaction():
        rt.store.writer.execute(
            f"INSERT INTO {SYSTEM_JOBS} (asyncoperationid, bulkdeleteoperationid, name,"
            " ownerid, statecode, statuscode, createdon, modifiedon, postponeuntil, due, queryset,"
            " successcount, failurecount, versionnumber) VALUES (?,?,?,?,?,?,?,?,?,?,?,0,0,?)",
            (
                job_id,
                str(uuid.uuid4()),
                str(body["JobName"]),
                req.principal.user_id,
                systemjobs.READY,
                systemjobs.WAITING_FOR_RESOURCES,
                stamp,
                stamp,
                datetime.fromtimestamp(due, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                due,
                json.dumps(body["QuerySet"]),
                rt.store.next_version(),
            ),
        )
    return json_response(
        {"@odata.context": f"{req.service_root}$metadata#{NS}.BulkDeleteResponse", "JobId": job_id}
    )


def _due(rt: Runtime) -> list[dict[str, Any]]:
    where = "statecode = ? AND due <= ?"
    return systemjobs.rows(rt.store.writer, where, (systemjobs.READY, rt.clock.time()))


def jobs_due(rt: Runtime) -> bool:
    """Return True when a submitted job should run now."""
    return bool(_due(rt))


def _delete_matching(rt: Runtime, queries: list[Any]) -> int:
    deleted = 0
    for query in queries:
        table, where, params = compile_query(query, rt.store.tables, rt.clock.now())
        sql = f"SELECT {q(table.primary_id)} FROM {q(table.logical_name)} WHERE {where}"
        for (pk,) in rt.store.writer.execute(sql, params).fetchall():
            deleted += rt.store.delete(table, pk)
    return deleted


def run_due_jobs(rt: Runtime) -> None:
    """Run every due job: delete its rows, then mark it Completed (Succeeded or Failed)."""
    for job in _due(rt):
        started = rt.clock.stamp()
        message, deleted = None, 0
        try:
            with rt.store.transaction():
                deleted = _delete_matching(rt, json.loads(job["queryset"]))
        except DataverseError as error:  # e.g. the table was deleted since submission
            message = error.message
        rt.store.writer.execute(
            f"UPDATE {SYSTEM_JOBS} SET statecode = ?, statuscode = ?, startedon = ?,"
            " completedon = ?, modifiedon = ?, successcount = ?, failurecount = ?, message = ?,"
            " versionnumber = ? WHERE asyncoperationid = ?",
            (
                systemjobs.COMPLETED,
                systemjobs.FAILED if message else systemjobs.SUCCEEDED,
                started,
                rt.clock.stamp(),
                rt.clock.stamp(),
                deleted,
                0,
                message,
                rt.store.next_version(),
                job["asyncoperationid"],
            ),
        )
