"""Campaign's workflow REST API: `WKF_OPTOUT_EXPORT` here, the import workflows elsewhere.

The import workflows (`WKF_IMPORT_<RESOURCE>`, with an External signal) live in
`import_workflows`. A workflow is named by its internal name or its PKey.

Adobe documents `GET /{ORGANIZATION}/campaign/workflow/execution/<workflowID>` (the workflow,
with `activities.activity.<name>.trigger.href` for External signal activities) and
`POST …/workflow/execution/<workflowID>/commands` with `{"method": "start"|"pause"|"resume"|
"stop"}`, but no response bodies. [design] for the sandbox: both answer 200 with the workflow
(`PKey`, `internalName`, `label`, `state` started | paused | stopped, `lastStart`,
`activities`, `href`); `start` runs the export once now and (re)starts the schedule; the
schedule (`opt_out_export_interval`, sandbox clock; Adobe: daily) runs only while `started`.
An unknown workflow answers 404 with Campaign's "Unable to find document" text; a command that
does not fit the state, or an unknown method, 400 with an RST-360011 text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from . import import_workflows, optout_export
from .config import OPT_OUT_WORKFLOW, OPT_OUT_WORKFLOW_LABEL
from .dates import stamp
from .errors import CampaignError, app_error
from .resources import Call, Reply

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

STARTED, PAUSED, STOPPED = "started", "paused", "stopped"
_STATE = f"workflow:{OPT_OUT_WORKFLOW}:state"  # meta key
_LAST_START = f"workflow:{OPT_OUT_WORKFLOW}:last_start"
# Adobe's pattern for log exports (reference §4.2), with the file going to the SFTP area.
ACTIVITIES = ("scheduler", "incrementalQuery", "extractFile", "transferFile", "end")


def state(rt: Runtime) -> str:
    """Return the state; a new instance's workflow is started (Adobe's integration keeps it on)."""
    return rt.store.meta(_STATE) or STARTED


def describe(rt: Runtime) -> dict[str, Any]:
    """Return the workflow as `GET /workflow/execution/<id>` shows it."""
    last = rt.store.meta(_LAST_START)
    return {
        "PKey": import_workflows.pkey(rt, OPT_OUT_WORKFLOW),
        "internalName": OPT_OUT_WORKFLOW,
        "label": OPT_OUT_WORKFLOW_LABEL,
        "state": state(rt),
        "lastStart": stamp(float(last)) if last else None,
        "activities": {"activity": {name: {} for name in ACTIVITIES}},
        "href": f"{rt.href_base}/workflow/execution/{OPT_OUT_WORKFLOW}",
    }


def start(rt: Runtime, *, full: bool = False) -> optout_export.ExportResult:
    """Run the export now and leave the workflow started."""
    rt.store.set_meta(_STATE, STARTED)
    rt.store.set_meta(_LAST_START, repr(rt.clock.time()))
    return optout_export.run(rt, full=full)


def _command(rt: Runtime, method: object) -> None:
    current = state(rt)
    if method == "start":
        start(rt)
    elif method == "pause" and current == STARTED:
        rt.store.set_meta(_STATE, PAUSED)
    elif method == "resume" and current == PAUSED:
        rt.store.set_meta(_STATE, STARTED)
    elif method == "stop":
        rt.store.set_meta(_STATE, STOPPED)
    elif method in ("pause", "resume"):
        raise app_error(
            f"Cannot {method} the workflow '{OPT_OUT_WORKFLOW}': it is {current}.", status=400
        )
    else:
        raise app_error(
            f"Unknown command '{method}': use start, pause, resume or stop.", status=400
        )


def handle(rt: Runtime, call: Call) -> Reply:
    """Serve `/workflow/execution/<id>` (GET) and `/workflow/execution/<id>/commands` (POST)."""
    segments = [s for s in call.segments if s]
    if len(segments) < 3 or segments[1] != "execution":
        raise app_error("Unknown workflow API path.", status=404)
    imported = import_workflows.find(rt, segments[2])
    if imported is not None:
        name, resource = imported
        return import_workflows.handle(rt, call.method, name, resource, segments[3:], call.body)
    if segments[2] not in (OPT_OUT_WORKFLOW, import_workflows.pkey(rt, OPT_OUT_WORKFLOW)):
        raise app_error(
            f"Unable to find document with path 'Workflow' from key '{segments[2]}'", status=404
        )
    if len(segments) > 4:
        raise app_error("Unknown workflow API path.", status=404)
    if len(segments) == 3:
        _only(call, "GET")
        return Reply(200, describe(rt))
    if segments[3] != "commands":
        raise app_error(f"Unknown workflow API path '{segments[3]}'.", status=404)
    _only(call, "POST")
    try:
        body = json.loads(call.body or b"{}")
    except ValueError:
        raise app_error("The request body is not valid JSON.", status=400) from None
    _command(rt, body.get("method") if isinstance(body, dict) else None)
    return Reply(200, describe(rt))


def _only(call: Call, method: str) -> None:
    if call.method != method:
        raise CampaignError(405, {"code": 405, "message": f"Method {call.method} not allowed."})


async def run_schedule(rt: Runtime, stop: asyncio.Event, tick: float = 1.0) -> None:
    """Run the export every `opt_out_export_interval` seconds of the sandbox clock while started.

    The interval counts from the last run (any trigger), or from now when there was none.
    """
    since = rt.clock.time()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick)
        interval = rt.settings.opt_out_export_interval
        if stop.is_set() or interval <= 0 or state(rt) != STARTED:
            continue
        last = rt.store.meta(optout_export.LAST_RUN)
        if rt.clock.time() >= (float(last) if last else since) + interval:
            try:
                result = optout_export.run(rt)
            except Exception:  # keep the schedule alive, like a workflow in error
                log.exception("scheduled %s run failed", OPT_OUT_WORKFLOW)
            else:
                log.info("scheduled %s run: %s", OPT_OUT_WORKFLOW, result.as_dict())
