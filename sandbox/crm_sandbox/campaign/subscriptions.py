"""Subscriptions of profiles to services, reached through a record's `subscriptions.href`.

As Adobe documents them ("Performing / Retrieving / Deleting subscriptions"):
`GET <profile or service href>/subscriptions/` lists them (`_lineCount`, `next`),
`POST …/profile/<PKey>/subscriptions {"service": {"PKey": …}}` or
`POST …/service/<PKey>/subscriptions/ {"subscriber": {"PKey": …}}` subscribes (answering the
subscription), `GET`/`DELETE …/subscriptions/<PKey>` reads or removes one (DELETE → 204).
A record: `PKey`, `created`, `email`, `expirationDate`, `href`, `metadata`, `service`
{PKey, href, label, name, title}, `serviceName`, `subscriber` {PKey, email, firstName, href,
lastName}. Subscribing twice answers the existing subscription ([design]: Adobe documents no
error for it).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from .dates import stamp
from .errors import CampaignError, app_error, not_found_uri
from .paging import LineStarts, Position, fingerprint, line_count, next_href
from .schema import PROFILE, SERVICE, Resource
from .validation import parse_body

if TYPE_CHECKING:
    from .resources import Call
    from .runtime import Runtime

TABLE = "subscription"
CODE = 5  # resource byte of subscription PKeys
OWNERS = {PROFILE.name: "profile_id", SERVICE.name: "service_id"}
_OTHER = {PROFILE.name: ("service", SERVICE), SERVICE.name: ("subscriber", PROFILE)}


def create_table(conn: sqlite3.Connection) -> None:
    """Create the subscription table (one row per profile and service)."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " pkey TEXT NOT NULL, service_id INTEGER NOT NULL, profile_id INTEGER NOT NULL,"
        " created TEXT NOT NULL, expirationDate TEXT, UNIQUE (service_id, profile_id))"
    )
    conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}__profile ON {TABLE} (profile_id)")


def forget(conn: sqlite3.Connection, resource: Resource, row_id: int) -> None:
    """Drop the subscriptions of a deleted profile or service."""
    if resource.name in OWNERS:
        conn.execute(f"DELETE FROM {TABLE} WHERE {OWNERS[resource.name]} = ?", (row_id,))


def _record(rt: Runtime, base_path: str, row: sqlite3.Row) -> dict[str, Any]:
    service = rt.store.get(SERVICE, row["service_id"]) or {}
    profile = rt.store.get(PROFILE, row["profile_id"]) or {}
    root = f"{rt.href_base}/profileAndServices"
    label, name = service.get("label") or "", service.get("name") or ""
    return {
        "PKey": row["pkey"],
        "created": row["created"],
        "email": profile.get("email") or "",
        "expirationDate": row["expirationDate"] or "",
        "href": f"{base_path}{row['pkey']}",
        "metadata": "subscriptionRcp",
        "service": {
            "PKey": service.get("pkey"),
            "href": f"{root}/service/{service.get('pkey')}",
            "label": label,
            "name": name,
            "title": f"{label} ({name})",
        },
        "serviceName": name,
        "subscriber": {
            "PKey": profile.get("pkey"),
            "email": profile.get("email") or "",
            "firstName": profile.get("firstName") or "",
            "href": f"{root}/profile/{profile.get('pkey')}",
            "lastName": profile.get("lastName") or "",
        },
    }


def _rows(rt: Runtime, where: str, args: list[Any], limit: int = -1) -> list[sqlite3.Row]:
    cursor = rt.store.conn.cursor()
    cursor.row_factory = sqlite3.Row
    sql = f"SELECT * FROM {TABLE} WHERE {where} ORDER BY id LIMIT ?"
    return list(cursor.execute(sql, [*args, limit]))


def _list(rt: Runtime, call: Call, owner: str, parent: int, path: str) -> dict[str, Any]:
    params = call.params
    size = line_count(next((v for k, v in params if k == "_lineCount"), None))
    query_id = fingerprint(path, params, None)
    where, args = f"{owner} = ?", [parent]
    token = next((v for k, v in params if k == "_lineStart"), None)
    if token:
        where += " AND id > ?"
        args.append(LineStarts(rt.sealer).decode(query_id, token).row_id)
    rows = _rows(rt, where, args, size + 1)
    body: dict[str, Any] = {"content": [_record(rt, path, r) for r in rows[:size]]}
    if len(rows) > size:
        nxt = LineStarts(rt.sealer).encode(query_id, Position(None, rows[size - 1]["id"]))
        body["next"] = {"href": next_href(path, params, size, nxt)}
    return body


def _subscribe(rt: Runtime, call: Call, resource: Resource, parent: int, path: str) -> Any:
    link, other = _OTHER[resource.name]
    value = parse_body(call.body).get(link)
    if not isinstance(value, dict) or not isinstance(value.get("PKey"), str):
        raise app_error(f"The '{link}' link of the subscription is mandatory (a PKey).")
    decoded = rt.sealer.row_of(value["PKey"])
    if decoded is None or decoded[0] != other.code or rt.store.get(other, decoded[1]) is None:
        raise app_error(
            f"Unable to find document with path '{other.name}' from key '{value['PKey']}'",
            status=404,
        )
    ids = {OWNERS[resource.name]: parent, OWNERS[other.name]: decoded[1]}
    existing = _rows(
        rt, "service_id = ? AND profile_id = ?", [ids["service_id"], ids["profile_id"]]
    )
    if not existing:
        seq = rt.store.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (TABLE,)
        ).fetchone()
        row_id = (int(seq[0]) if seq else 0) + 1
        rt.store.conn.execute(
            f"INSERT INTO {TABLE} (id, pkey, service_id, profile_id, created) VALUES (?,?,?,?,?)",
            (
                row_id,
                rt.sealer.pkey(CODE, row_id),
                ids["service_id"],
                ids["profile_id"],
                stamp(rt.clock.time()),
            ),
        )
        existing = _rows(rt, "id = ?", [row_id])
    return _record(rt, path, existing[0])


def _method_not_allowed(call: Call) -> CampaignError:
    return CampaignError(405, {"code": 405, "message": f"Method {call.method} not allowed."})


def handle(
    rt: Runtime, call: Call, api: str, resource: Resource, parent: int, rest: list[str]
) -> tuple[int, Any]:
    """`<record>/subscriptions[/<PKey>]` of a profile or service: (status, JSON body)."""
    pkey = rt.store.get(resource, parent)["pkey"]  # type: ignore[index]
    path = f"{rt.href_base}/{api}/{resource.name}/{pkey}/subscriptions/"
    owner = OWNERS[resource.name]
    if not rest:
        if call.method == "POST":
            return 201, _subscribe(rt, call, resource, parent, path)
        if call.method == "GET":
            return 200, _list(rt, call, owner, parent, path)
        raise _method_not_allowed(call)
    decoded = rt.sealer.row_of(rest[0])
    found = _rows(rt, f"id = ? AND {owner} = ?", [decoded[1], parent]) if decoded else []
    if not found or decoded is None or decoded[0] != CODE:
        raise not_found_uri()
    if call.method == "GET":
        return 200, _record(rt, path, found[0])
    if call.method == "DELETE":
        rt.store.conn.execute(f"DELETE FROM {TABLE} WHERE id = ?", (found[0]["id"],))
        return 204, None
    raise _method_not_allowed(call)
