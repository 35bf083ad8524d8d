"""Test-only admin API under `/_sandbox` on the gateway port (plugins never call it).

Marketing routes (`/deliveries`, `/deliveries/<name>/late-bounces`, `/deliveries/<name>/tracking`,
`/logs/<table>`, `/journal`) simulate sends and recipients' reactions (see `marketing`) and show
the logs and the I/O Events journal.

`DELETE /sessions` logs every v8 SOAP session off (their next call answers XSV-350008).

`/opt-out-export` runs the opt-out export workflow now (as its scheduler would) and shows its
watermark and files; `/sftp/authorized-keys` allows a client key on the SFTP login.

Row mutations stand for activity inside Campaign (a recipient opts out, a marketer edits a
profile): they go through the same validation and store methods as the REST API, so they stamp
`lastModified` and opt-out change times, but cost no engine calls.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.admin import PREFIX, common_routes, json_body, json_response, problem

from . import datamodel, marketing, optout_export, sftp, workflows
from .errors import CampaignError
from .logschema import TABLES
from .metadata import EXT
from .records import builder
from .resources import link_resolver, record_id
from .schema import Resource
from .seed import SeedSizes, seed
from .store import DuplicateKey, changed_column, columns, q
from .validation import check_mandatory, to_storage

if TYPE_CHECKING:
    from .runtime import Runtime


def admin_row(rt: Runtime, resource: Resource, row: dict[str, Any]) -> dict[str, Any]:
    """Return a record as the Ext endpoint shows it, plus `optOutChanges` (per-attribute times)."""
    values = [row.get(c) for c in columns(resource)]
    out = builder(resource, EXT).record(values, rt.href_base, rt.clock.now().date())
    if resource.opt_outs:
        out["optOutChanges"] = {n: row.get(changed_column(n)) for n in resource.opt_outs}
    return out


def build_admin_routes(rt: Runtime) -> list[Route]:
    """Routes of the admin API."""

    def resource_of(request: Request) -> Resource | None:
        return rt.store.model.resources.get(request.path_params["resource"])

    async def reset(request: Request) -> Response:
        body = await json_body(request)
        sizes = SeedSizes(int(body.get("profiles", 2000)), body.get("projects"))
        await rt.imports.cancel_all("The instance was reset during the run.")
        counts = seed(rt.store, sizes, int(body.get("seed", 42)))
        optout_export.clear(rt.state_dir)
        rt.engine_calls.reset()
        return json_response(counts)

    async def state(request: Request) -> Response:
        return json_response(
            {
                "counts": dict(rt.store.sizes),
                "clock": rt.clock.time(),
                "clock_offset": rt.clock.offset,
                "seed": rt.store.meta("seed"),
                "settings": rt.settings.as_dict(),
                "engine_calls": rt.engine_calls.snapshot(),
            }
        )

    async def engine_calls(request: Request) -> Response:
        if request.method == "DELETE":
            rt.engine_calls.reset()
            return Response(status_code=204)
        return json_response(rt.engine_calls.snapshot())

    async def config(request: Request) -> Response:
        if request.method == "PATCH":
            try:
                rt.settings.update(await json_body(request))
            except KeyError as exc:
                return problem(400, f"unknown setting {exc}")
            except (TypeError, ValueError) as exc:
                return problem(400, str(exc))
        return json_response(rt.settings.as_dict())

    async def rows(request: Request) -> Response:
        resource = resource_of(request)
        if resource is None:
            return problem(404, "unknown resource")
        if request.method == "GET":  # equality filters on stored columns, e.g. ?externalId=…
            cols = set(columns(resource))
            where = [(k, v) for k, v in request.query_params.multi_items() if k in cols]
            if len(where) != len(request.query_params):
                return problem(400, f"filter on the columns {sorted(cols)}")
            sql = f"SELECT * FROM {q(resource.name)}"
            if where:
                sql += " WHERE " + " AND ".join(f"{q(k)} = ?" for k, _ in where)
            cur = rt.store.conn.execute(sql + " ORDER BY id LIMIT 1000", [v for _, v in where])
            names = [d[0] for d in cur.description]
            found = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            return json_response([admin_row(rt, resource, r) for r in found])
        try:
            values = to_storage(
                resource, await json_body(request), ext=True, resolve=link_resolver(rt)
            )
            check_mandatory(resource, values)
            row = rt.store.insert(resource, values)
        except CampaignError as exc:
            return problem(400, str(exc.body.get("message")))
        except (DuplicateKey, ValueError) as exc:
            return problem(400, str(exc))
        return json_response(admin_row(rt, resource, row), 201)

    async def row(request: Request) -> Response:
        resource = resource_of(request)
        if resource is None:
            return problem(404, "unknown resource")
        try:
            current = rt.store.get(resource, record_id(rt, resource, request.path_params["pkey"]))
        except CampaignError:
            current = None
        if current is None:
            return problem(404, "no such record")
        if request.method == "GET":
            return json_response(admin_row(rt, resource, current))
        if request.method == "DELETE":
            rt.store.delete(resource, current)
            return Response(status_code=204)
        try:
            values = to_storage(
                resource, await json_body(request), ext=True, resolve=link_resolver(rt)
            )
            check_mandatory(resource, {**current, **values})
            updated = rt.store.update(resource, current, values)
        except CampaignError as exc:
            return problem(400, str(exc.body.get("message")))
        except (DuplicateKey, ValueError) as exc:
            return problem(400, str(exc))
        return json_response(admin_row(rt, resource, updated or current))

    async def deliveries(request: Request) -> Response:
        if request.method == "GET":
            return json_response(marketing.deliveries(rt))
        try:
            spec = marketing.SendSpec(**await json_body(request))
            return json_response(marketing.simulate_send(rt, spec), 201)
        except (TypeError, ValueError) as exc:
            return problem(400, str(exc))

    async def late_bounces(request: Request) -> Response:
        try:
            body = await json_body(request)
            name = request.path_params["name"]
            return json_response(marketing.late_bounces(rt, name, **body))
        except (TypeError, ValueError) as exc:
            return problem(400, str(exc))

    async def tracking(request: Request) -> Response:
        try:
            body = await json_body(request)
            return json_response(marketing.track(rt, request.path_params["name"], **body), 201)
        except (TypeError, ValueError) as exc:
            return problem(400, str(exc))

    async def logs(request: Request) -> Response:
        table = request.path_params["table"]
        if table not in TABLES or table.startswith("_"):
            return problem(404, f"unknown table; one of {', '.join(TABLES[:-1])}")
        where = list(request.query_params.multi_items())
        sql = f"SELECT * FROM {q(table)}"
        if where:
            sql += " WHERE " + " AND ".join(f"{q(k)} = ?" for k, _ in where)
        try:
            cur = rt.store.conn.execute(sql + " ORDER BY id LIMIT 10000", [v for _, v in where])
        except sqlite3.OperationalError as exc:
            return problem(400, str(exc))
        names = [d[0] for d in cur.description]
        return json_response([dict(zip(names, r, strict=True)) for r in cur.fetchall()])

    async def journal(request: Request) -> Response:
        return json_response(rt.journal.stats())

    async def opt_out_export(request: Request) -> Response:
        if request.method == "GET":
            return json_response({**optout_export.status(rt), "state": workflows.state(rt)})
        full = (await json_body(request)).get("full", False)
        if not isinstance(full, bool):
            return problem(400, "full must be a boolean")
        return json_response(optout_export.run(rt, full=full).as_dict())

    async def sessions(request: Request) -> Response:
        rt.sessions.clear()
        return Response(status_code=204)

    def clear_tps() -> None:
        rt.tps.reset()
        rt.soap_tps.reset()

    async def sftp_keys(request: Request) -> Response:
        try:
            sftp.authorize_key(rt.state_dir, str((await json_body(request))["public_key"]))
        except (KeyError, ValueError) as exc:
            return problem(400, f"public_key: an OpenSSH public key line ({exc})")
        return Response(status_code=204)

    return [
        Route(f"{PREFIX}/deliveries", deliveries, methods=["GET", "POST"]),
        Route(f"{PREFIX}/deliveries/{{name}}/late-bounces", late_bounces, methods=["POST"]),
        Route(f"{PREFIX}/deliveries/{{name}}/tracking", tracking, methods=["POST"]),
        Route(f"{PREFIX}/logs/{{table}}", logs),
        Route(f"{PREFIX}/journal", journal),
        Route(f"{PREFIX}/opt-out-export", opt_out_export, methods=["GET", "POST"]),
        Route(f"{PREFIX}/sftp/authorized-keys", sftp_keys, methods=["POST"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/state", state),
        Route(f"{PREFIX}/engine-calls", engine_calls, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}/config", config, methods=["GET", "PATCH"]),
        Route(f"{PREFIX}/sessions", sessions, methods=["DELETE"]),
        *common_routes(rt, on_clear_faults=clear_tps),
        *datamodel.admin_routes(rt),
        Route(f"{PREFIX}/rows/{{resource}}", rows, methods=["GET", "POST"]),
        Route(f"{PREFIX}/rows/{{resource}}/{{pkey}}", row, methods=["GET", "PATCH", "DELETE"]),
    ]
