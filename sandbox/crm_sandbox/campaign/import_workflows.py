"""The tenant's import workflows `WKF_IMPORT_<RESOURCE>`, driven over Adobe's workflow REST API.

One workflow per importable resource ([design]: the profile and every custom resource with an
identification key, e.g. `WKF_IMPORT_PROFILE`, `WKF_IMPORT_CUSPROJECT`), because in Campaign a
Load file's columns and an Update data's dimension and keys are fixed when the workflow is
designed (`load-file.md`, `update-data.md`) [inference]; the only parameter is the file.

Documented (`triggering-a-signal-activity.md`, `external-signal.md`): `GET
/workflow/execution/<id>` gives `activities.activity.<signal>.trigger.href`; `POST` on it with
`{"source": …, "parameters": {…}}` ("source" mandatory) triggers the External signal; the
workflow "must be already running"; a parameter not declared in the activity answers Adobe's
RST-360011 / XTK-170006 / RST-360000 text; not more often than every 10 minutes; payload at most
64 KB; parameters reach the activities as `$(vars/@fileName)`.

[inference] The declared parameter `fileName` (string) is the file's path in the SFTP storage
area as the login sees it (e.g. `d365_loads/imports/profiles.csv`): the Transfer file activity's
"dynamic file path". Status 500 for the RST texts (Campaign's validation errors are 500s). A
signal inside the 10-minute window answers 200 with a `text/plain` body and starts nothing, as
Adobe's Node SDK expects ("response is not json" in that period).

[design] Workflows are started on a new instance (as `WKF_OPTOUT_EXPORT`); `start` only arms the
signal, `stop` cancels a run in progress. The trigger answers 200 with the workflow as `GET`
shows it, its `lastRun` just created (`inProgress`). A signal while the workflow is paused or
stopped → 400, while the previous run is in progress → 409, a parameter of the wrong type →
500, a body over 64 KB, without `source` or not JSON → 400 (texts RST-360011-prefixed). Adobe
documents no response bodies: `lastRun` and the activity details are ours (see `import_run`).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from .dates import stamp
from .errors import RST, CampaignError, app_error
from .import_run import ERRONEOUS, IN_PROGRESS, Run, execute, run_key, save, settle
from .resources import Reply
from .schema import PROFILE, Resource

if TYPE_CHECKING:
    from .runtime import Runtime

PREFIX = "WKF_IMPORT_"
SIGNAL = "signal1"  # the name in Adobe's sample answer
PARAMETERS = {"fileName": "string"}
MAX_PAYLOAD = 64 * 1024
STARTED, PAUSED, STOPPED = "started", "paused", "stopped"
ACTIVITIES = (
    (SIGNAL, "External signal"),
    ("transferFile", "Transfer file"),
    ("loadFile", "Load file"),
    ("reconciliation", "Reconciliation"),
    ("updateData", "Update data"),
    ("extractRejects", "Extract file (rejects)"),
    ("end", "End"),
)
_HANDLE_TRIGGER = "HandleTrigger(@name, $(source), $({parameters}))"


def workflow_id(resource: Resource) -> str:
    """`WKF_IMPORT_PROFILE` for `profile`."""
    return PREFIX + resource.name.upper()


def importable(rt: Runtime) -> dict[str, Resource]:
    """Return the import workflows of the current data model, by internal name."""
    return {
        workflow_id(r): r
        for r in rt.store.model.resources.values()
        if r.key and (r.custom or r.name == PROFILE.name)
    }


def pkey(rt: Runtime, name: str) -> str:
    """Return the PKey of a workflow, or (`<name>/<activity>`) of one of its activities."""
    return rt.sealer.seal(b"workflow", name.encode())


def find(rt: Runtime, ref: str) -> tuple[str, Resource] | None:
    """Return (internal name, resource) of the import workflow named `ref` or with PKey `ref`."""
    workflows = importable(rt)
    if ref in workflows:
        return ref, workflows[ref]
    opened = rt.sealer.open(b"workflow", ref)
    name = opened.decode() if opened is not None else ""
    return (name, workflows[name]) if name in workflows else None


def _meta_key(name: str, what: str) -> str:
    return f"workflow:{name}:{what}"


def state(rt: Runtime, name: str) -> str:
    """Return `started`, `paused` or `stopped` (a new instance's workflows are started)."""
    return rt.store.meta(_meta_key(name, "state")) or STARTED


def last_run(rt: Runtime, name: str) -> Run | None:
    """Return the workflow's last run, if any."""
    text = rt.store.meta(run_key(name))
    return None if text is None else Run.from_dict(json.loads(text))


def _activities(rt: Runtime, name: str, resource: Resource) -> dict[str, Any]:
    base = f"{rt.href_base}/workflow/execution/{pkey(rt, name)}/activities/activity"
    out: dict[str, Any] = {}
    for activity, label in ACTIVITIES:
        key = pkey(rt, f"{name}/{activity}")
        out[activity] = {"PKey": key, "name": activity, "label": label}
    out[SIGNAL]["parameters"] = [{"name": n, "type": t} for n, t in PARAMETERS.items()]
    out[SIGNAL]["lastTriggered"] = rt.store.meta(_meta_key(name, "last_signal"))
    out[SIGNAL]["trigger"] = {"href": f"{base}/{out[SIGNAL]['PKey']}/trigger"}
    out["reconciliation"]["keys"] = [resource.key]
    out["updateData"].update(resource=resource.name, operation="insertOrUpdate")
    return out


def describe(rt: Runtime, name: str, resource: Resource) -> dict[str, Any]:
    """Return the workflow as `GET /workflow/execution/<id>` shows it."""
    run = last_run(rt, name)
    return {
        "PKey": pkey(rt, name),
        "internalName": name,
        "label": f"Import {resource.label} from Dynamics 365 (SFTP)",
        "state": state(rt, name),
        "lastStart": rt.store.meta(_meta_key(name, "last_start")),
        "activities": {"activity": _activities(rt, name, resource)},
        "lastRun": None if run is None else run.as_dict(),
        "href": f"{rt.href_base}/workflow/execution/{name}",
    }


class ImportTasks:
    """The runs in progress in this process, one asyncio task per workflow."""

    def __init__(self) -> None:
        """No run yet."""
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def busy(self, name: str) -> bool:
        """Whether a run of `name` is in progress."""
        task = self._tasks.get(name)
        return task is not None and not task.done()

    def start(self, rt: Runtime, name: str, resource: Resource, run: Run) -> None:
        """Run `execute` on the running event loop."""
        task = asyncio.get_running_loop().create_task(
            execute(rt, name, resource, run), name=f"{name} run {run.id}"
        )
        task.add_done_callback(lambda done: settle(rt, name, run, done))
        self._tasks[name] = task

    def cancel(self, name: str, why: str) -> None:
        """Cancel the run of `name` (its batches written so far stay)."""
        task = self._tasks.get(name)
        if task is not None:
            task.cancel(why)

    async def cancel_all(self, why: str) -> None:
        """Cancel every run and wait until they have saved their state."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel(why)
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


def recover(rt: Runtime) -> None:
    """Mark erroneous the runs a process that died left `inProgress`."""
    for name in importable(rt):
        run = last_run(rt, name)
        if run is not None and run.status == IN_PROGRESS and not rt.imports.busy(name):
            run.status, run.error = ERRONEOUS, "The Campaign instance stopped during the run."
            run.ended = stamp(rt.clock.time())
            save(rt, name, run)


def command(rt: Runtime, name: str, method: object) -> None:
    """Apply `start` (arms the signal: runs nothing), `pause`, `resume` or `stop`."""
    current = state(rt, name)
    key = _meta_key(name, "state")
    if method == "start":
        rt.store.set_meta(key, STARTED)
        rt.store.set_meta(_meta_key(name, "last_start"), stamp(rt.clock.time()))
    elif method == "pause" and current == STARTED:
        rt.store.set_meta(key, PAUSED)
    elif method == "resume" and current == PAUSED:
        rt.store.set_meta(key, STARTED)
    elif method == "stop":
        rt.store.set_meta(key, STOPPED)
        rt.imports.cancel(name, "The workflow was stopped during the run.")
    elif method in ("pause", "resume"):
        raise app_error(f"Cannot {method} the workflow '{name}': it is {current}.", status=400)
    else:
        raise app_error(
            f"Unknown command '{method}': use start, pause, resume or stop.", status=400
        )


def _undeclared(parameter: str) -> CampaignError:
    """Adobe's documented answer to a parameter the External signal does not declare."""
    message = "\n".join(
        (
            RST,
            f"'{parameter}' parameter isn't defined in signal activity.",
            f"XTK-170006 Unable to parse expression '{_HANDLE_TRIGGER}'.",
            f"RST-360000 Error while assessing '{_HANDLE_TRIGGER}' expression "
            "('xtk:workflow:execution/activities/signal/trigger' resource)",
        )
    )
    return CampaignError(500, {"code": 500, "message": message})


def _signal_body(body: bytes) -> tuple[str, dict[str, Any]]:
    """(source, parameters) of a trigger request, checked against the declared parameters."""
    if len(body) > MAX_PAYLOAD:
        raise app_error("The payload of a signal must not exceed 64 KB.", status=400)
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise app_error("The request body is not valid JSON.", status=400) from None
    if not isinstance(payload, dict):
        raise app_error("The request body must be a JSON object.", status=400)
    source, parameters = payload.get("source"), payload.get("parameters", {})
    if not isinstance(source, str) or not source:
        raise app_error("The 'source' attribute is mandatory.", status=400)
    if not isinstance(parameters, dict):
        raise app_error("'parameters' must be an object.", status=400)
    for parameter, value in parameters.items():
        if parameter not in PARAMETERS:
            raise _undeclared(parameter)
        if not isinstance(value, str):
            raise app_error(
                f"The '{parameter}' parameter of signal activity '{SIGNAL}' is a string; "
                f"'{value}' is not."
            )
    return source, parameters


def trigger(rt: Runtime, name: str, resource: Resource, body: bytes) -> Reply:
    """POST on the signal's trigger href: start a run (see the module docstring)."""
    source, parameters = _signal_body(body)
    current = state(rt, name)
    if current != STARTED:
        raise app_error(
            f"The workflow '{name}' is {current}: start it before triggering its External "
            f"signal '{SIGNAL}'.",
            status=400,
        )
    previous = last_run(rt, name)
    if rt.imports.busy(name) and previous is not None:
        raise app_error(
            f"The workflow '{name}' is still processing run {previous.id} (file "
            f"'{previous.file}'): wait until it is finished.",
            status=409,
        )
    now = rt.clock.time()
    interval = rt.settings.import_signal_interval
    last = rt.store.meta(_meta_key(name, "last_signal_epoch"))
    if interval > 0 and last is not None and now < float(last) + interval:
        return Reply(
            200,
            f"The External signal '{SIGNAL}' of workflow '{name}' cannot be triggered more "
            f"often than every {interval} seconds: last triggered at {stamp(float(last))}, "
            f"next possible at {stamp(float(last) + interval)}. Nothing was started.",
            media_type="text/plain;charset=utf-8",
        )
    rt.store.set_meta(_meta_key(name, "last_signal_epoch"), repr(now))
    rt.store.set_meta(_meta_key(name, "last_signal"), stamp(now))
    run = Run(
        id=(previous.id + 1) if previous else 1,
        source=source,
        parameters=parameters,
        signalled=stamp(now),
    )
    save(rt, name, run)
    rt.imports.start(rt, name, resource, run)
    return Reply(200, describe(rt, name, resource))


def handle(
    rt: Runtime, method: str, name: str, resource: Resource, tail: list[str], body: bytes
) -> Reply:
    """Serve `…/execution/<id>[/commands | /activities/activity/<signal>/trigger]`."""
    if not tail:
        _only(method, "GET")
        return Reply(200, describe(rt, name, resource))
    if tail == ["commands"]:
        _only(method, "POST")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise app_error("The request body is not valid JSON.", status=400) from None
        command(rt, name, payload.get("method") if isinstance(payload, dict) else None)
        return Reply(200, describe(rt, name, resource))
    signal = pkey(rt, f"{name}/{SIGNAL}")
    if len(tail) == 4 and tail[:2] == ["activities", "activity"] and tail[3] == "trigger":
        if tail[2] not in (signal, SIGNAL):
            raise app_error(
                f"Unable to find document with path 'Activity' from key '{tail[2]}'", status=404
            )
        _only(method, "POST")
        return trigger(rt, name, resource, body)
    raise app_error(f"Unknown workflow API path '{'/'.join(tail)}'.", status=404)


def _only(method: str, allowed: str) -> None:
    if method != allowed:
        raise CampaignError(405, {"code": 405, "message": f"Method {method} not allowed."})
