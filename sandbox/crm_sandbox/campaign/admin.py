"""Test-only admin API under `/_sandbox` on the gateway port (plugins never call it).

Row mutations stand for activity inside Campaign (a recipient opts out, a marketer edits a
profile): they go through the same validation and store methods as the REST API, so they stamp
`lastModified` and opt-out change times, but cost no engine calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.requestlog import ADMIN_PREFIX

from .errors import CampaignError
from .metadata import EXT
from .records import builder
from .resources import link_resolver, record_id
from .schema import RESOURCES, Resource
from .seed import SeedSizes, seed
from .store import DuplicateKey, changed_column, columns, q
from .validation import check_mandatory, to_storage

if TYPE_CHECKING:
    from .runtime import Runtime

PREFIX = ADMIN_PREFIX
_encoder = msgspec.json.Encoder()


def _json(body: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(body), status_code=status, media_type="application/json")


def _problem(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def admin_row(rt: Runtime, resource: Resource, row: dict[str, Any]) -> dict[str, Any]:
    """Return a record as the Ext endpoint shows it, plus `optOutChanges` (per-attribute times)."""
    values = [row.get(c) for c in columns(resource)]
    out = builder(resource.name, EXT).record(values, rt.href_base, rt.clock.now().date())
    if resource.opt_outs:
        out["optOutChanges"] = {n: row.get(changed_column(n)) for n in resource.opt_outs}
    return out


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    body = msgspec.json.decode(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ValueError("a JSON object is expected")
    return body


def build_admin_routes(rt: Runtime) -> list[Route]:
    """Routes of the admin API."""

    def resource_of(request: Request) -> Resource | None:
        return RESOURCES.get(request.path_params["resource"])

    async def reset(request: Request) -> Response:
        body = await _body(request)
        sizes = SeedSizes(int(body.get("profiles", 2000)), body.get("projects"))
        counts = seed(rt.store, sizes, int(body.get("seed", 42)))
        rt.engine_calls.reset()
        return _json(counts)

    async def state(request: Request) -> Response:
        return _json(
            {
                "counts": dict(rt.store.sizes),
                "clock": rt.clock.time(),
                "clock_offset": rt.clock.offset,
                "seed": rt.store.meta("seed"),
                "settings": rt.settings.as_dict(),
                "engine_calls": rt.engine_calls.snapshot(),
            }
        )

    async def requests_(request: Request) -> Response:
        if request.method == "DELETE":
            rt.requests.clear()
            return Response(status_code=204)
        return _json(rt.requests.as_json())

    async def engine_calls(request: Request) -> Response:
        if request.method == "DELETE":
            rt.engine_calls.reset()
            return Response(status_code=204)
        return _json(rt.engine_calls.snapshot())

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            rt.faults.clear()
            rt.tps.reset()
            return Response(status_code=204)
        if request.method == "POST":
            try:
                rt.faults.add(await _body(request))
            except (TypeError, ValueError) as exc:
                return _problem(400, str(exc))
        return _json(rt.faults.describe())

    async def config(request: Request) -> Response:
        if request.method == "PATCH":
            try:
                rt.settings.update(await _body(request))
            except KeyError as exc:
                return _problem(400, f"unknown setting {exc}")
            except (TypeError, ValueError) as exc:
                return _problem(400, str(exc))
        return _json(rt.settings.as_dict())

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            rt.clock.shift(float((await _body(request)).get("seconds", 0)))
        return _json({"time": rt.clock.time(), "offset": rt.clock.offset})

    async def revoke(request: Request) -> Response:
        rt.tokens.rotate()
        return Response(status_code=204)

    async def rows(request: Request) -> Response:
        resource = resource_of(request)
        if resource is None:
            return _problem(404, "unknown resource")
        if request.method == "GET":  # equality filters on stored columns, e.g. ?externalId=…
            cols = set(columns(resource))
            where = [(k, v) for k, v in request.query_params.multi_items() if k in cols]
            if len(where) != len(request.query_params):
                return _problem(400, f"filter on the columns {sorted(cols)}")
            sql = f"SELECT * FROM {q(resource.name)}"
            if where:
                sql += " WHERE " + " AND ".join(f"{q(k)} = ?" for k, _ in where)
            cur = rt.store.conn.execute(sql + " ORDER BY id LIMIT 1000", [v for _, v in where])
            names = [d[0] for d in cur.description]
            found = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            return _json([admin_row(rt, resource, r) for r in found])
        try:
            values = to_storage(resource, await _body(request), ext=True, resolve=link_resolver(rt))
            check_mandatory(resource, values)
            row = rt.store.insert(resource, values)
        except CampaignError as exc:
            return _problem(400, str(exc.body.get("message")))
        except (DuplicateKey, ValueError) as exc:
            return _problem(400, str(exc))
        return _json(admin_row(rt, resource, row), 201)

    async def row(request: Request) -> Response:
        resource = resource_of(request)
        if resource is None:
            return _problem(404, "unknown resource")
        try:
            current = rt.store.get(resource, record_id(rt, resource, request.path_params["pkey"]))
        except CampaignError:
            current = None
        if current is None:
            return _problem(404, "no such record")
        if request.method == "GET":
            return _json(admin_row(rt, resource, current))
        if request.method == "DELETE":
            rt.store.delete(resource, current)
            return Response(status_code=204)
        try:
            values = to_storage(resource, await _body(request), ext=True, resolve=link_resolver(rt))
            check_mandatory(resource, {**current, **values})
            updated = rt.store.update(resource, current, values)
        except CampaignError as exc:
            return _problem(400, str(exc.body.get("message")))
        except (DuplicateKey, ValueError) as exc:
            return _problem(400, str(exc))
        return _json(admin_row(rt, resource, updated or current))

    return [
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/state", state),
        Route(f"{PREFIX}/requests", requests_, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}/engine-calls", engine_calls, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{PREFIX}/config", config, methods=["GET", "PATCH"]),
        Route(f"{PREFIX}/clock", clock, methods=["GET", "POST"]),
        Route(f"{PREFIX}/tokens/revoke", revoke, methods=["POST"]),
        Route(f"{PREFIX}/rows/{{resource}}", rows, methods=["GET", "POST"]),
        Route(f"{PREFIX}/rows/{{resource}}/{{pkey}}", row, methods=["GET", "PATCH", "DELETE"]),
    ]
