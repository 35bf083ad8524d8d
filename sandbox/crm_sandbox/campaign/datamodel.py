"""The tenant's data model at run time: seeded resources, published ones, stored enumerations.

Campaign Standard administrators create custom resources in the UI and publish them; there is
no REST API for that. The sandbox stands in with an admin route (`POST {PREFIX}/resources`,
`CampaignAdmin.publish_resource`): the definition is kept in `_resource`, its table created, and
the REST API then serves it like `cusProject` (Ext endpoint only). Adobe documents limits of 20
custom resources and 50 fields per resource; the sandbox imposes neither (only the PKey's
resource byte: 240 published resources).

Every `Store` owns one `DataModel`; enumeration fields are bound to the stored enumerations, so
a SOAP write that changes an enumeration rebuilds the affected `Resource`s (new objects, hence
new record builders).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.admin import PREFIX, json_body, json_response, problem

from . import enumerations
from .schema import (
    BOOLEAN,
    DATE,
    DATETIME,
    DOUBLE,
    ENUM,
    INTEGER,
    LINK,
    RESOURCES,
    STRING,
    Enumeration,
    Field,
    Filter,
    Resource,
)

if TYPE_CHECKING:
    from .runtime import Runtime

TABLE = "_resource"
FIRST_CODE = 16  # PKey resource byte of the first published resource (1-15: seeded)
TYPES = {
    "string": STRING,
    "long": INTEGER,
    "double": DOUBLE,
    "boolean": BOOLEAN,
    "date": DATE,
    "datetime": DATETIME,
    "enumeration": ENUM,
}
RESERVED = frozenset({"id", "pkey", "PKey", "href", "created", "lastModified"})
_RESOURCE_NAME = re.compile(r"^cus[A-Z][A-Za-z0-9]{0,59}$")
_FIELD_NAME = re.compile(r"^cus[A-Z][A-Za-z0-9_]{0,59}$")
# Tables built from an `xtk:srcSchema` over SOAP (`"naming": "xtk"`) keep Classic attribute names.
_XTK_FIELD_NAME = re.compile(r"^[a-z][A-Za-z0-9_]{0,59}$")
_LINK_NAME = re.compile(r"^[a-z][A-Za-z0-9]{0,59}$")
EXT = "profileAndServicesExt"


class DefinitionError(ValueError):
    """A resource definition the sandbox refuses."""


def create_table(conn: sqlite3.Connection) -> None:
    """Create the table of published definitions."""
    conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{TABLE}" '
        "(name TEXT PRIMARY KEY, code INTEGER UNIQUE NOT NULL, definition TEXT NOT NULL)"
    )


def key_filter(key: str) -> Filter:
    """Return the key's filter, as on cusProject: `byCrmId?cusCrmId_parameter=…`."""
    stem = key[3:] if key.startswith("cus") else key[:1].upper() + key[1:]
    return Filter(f"by{stem}", f"By {stem}", (f"{key}_parameter",), key, custom=True)


def _text(spec: dict[str, Any], name: str, default: str | None = None) -> str:
    value = spec.get(name, default)
    if not isinstance(value, str) or not value:
        raise DefinitionError(f"'{name}' must be a non-empty string")
    return value


def _field(
    spec: Any, resource: str, enums: dict[str, Enumeration], pattern: re.Pattern[str]
) -> tuple[Field, str | None]:
    """One field of a definition; also the enumeration it needs created (if missing)."""
    if not isinstance(spec, dict):
        raise DefinitionError("each field must be an object")
    name = _text(spec, "name")
    if not pattern.match(name) or name in RESERVED:
        raise DefinitionError(f"field name '{name}' must match {pattern.pattern}")
    kind = TYPES.get(spec.get("type", ""))
    if kind is None:
        raise DefinitionError(f"field '{name}': type must be one of {', '.join(TYPES)}")
    label = spec.get("label") or name
    if kind == STRING:
        length = spec.get("length", 255)
        if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= 4000:
            raise DefinitionError(f"field '{name}': length must be an integer in 1..4000")
        return Field(name, label, STRING, length), None
    if kind != ENUM:
        return Field(name, label, kind, sortable=kind in (DATE, DATETIME)), None
    enum_name = spec.get("enumeration") or f"cus:{resource[3].lower()}{resource[4:]}:{name}"
    if not isinstance(enum_name, str):
        raise DefinitionError(f"field '{name}': enumeration must be an enumeration name")
    enum = enums.get(enum_name) or Enumeration(enum_name, (), label, "string")
    missing = enum_name if enum_name not in enums else None
    return Field(name, label, ENUM, enum=enum, default=None), missing


def _link(spec: Any, resources: dict[str, Resource]) -> Field:
    if not isinstance(spec, dict):
        raise DefinitionError("each link must be an object")
    name, target = _text(spec, "name"), _text(spec, "target")
    if not _LINK_NAME.match(name) or name in RESERVED:
        raise DefinitionError(f"link name '{name}' must match {_LINK_NAME.pattern}")
    if target not in resources:
        raise DefinitionError(f"link '{name}': unknown target resource '{target}'")
    mandatory = bool(spec.get("mandatory", False))
    return Field(name, spec.get("label") or name, LINK, target=target, mandatory=mandatory)


def build_resource(
    definition: dict[str, Any],
    code: int,
    resources: dict[str, Resource],
    enums: dict[str, Enumeration],
) -> tuple[Resource, list[str]]:
    """Validate a definition; the Resource and the enumerations to create (empty, string)."""
    name = _text(definition, "name")
    if not _RESOURCE_NAME.match(name):
        raise DefinitionError(f"resource name '{name}' must match {_RESOURCE_NAME.pattern}")
    label = _text(definition, "label", name)
    key = _text(definition, "key", "cusCrmId")
    specs = definition.get("fields", [])
    links = definition.get("links", [])
    if not isinstance(specs, list) or not isinstance(links, list):
        raise DefinitionError("'fields' and 'links' must be lists")
    fields: dict[str, Field] = {}
    missing: list[str] = []
    pattern = _XTK_FIELD_NAME if definition.get("naming") == "xtk" else _FIELD_NAME
    for spec in specs:
        f, enum_name = _field(spec, name, enums, pattern)
        if f.name in fields:
            raise DefinitionError(f"field '{f.name}' is defined twice")
        fields[f.name] = f
        if enum_name and enum_name not in missing:
            missing.append(enum_name)
    for spec in links:
        f = _link(spec, resources)
        if f.name in fields:
            raise DefinitionError(f"field '{f.name}' is defined twice")
        fields[f.name] = f
    if key not in fields:
        fields[key] = Field(key, key, STRING, 255)
    elif fields[key].kind != STRING:
        raise DefinitionError(f"the key field '{key}' must be a string")
    fields[key] = replace(fields[key], mandatory=True, sortable=True)
    fields["created"] = Field("created", "Created", DATETIME, read_only=True, sortable=True)
    fields["lastModified"] = Field(
        "lastModified", "Last modified", DATETIME, read_only=True, sortable=True
    )
    schema = f"cus:{name[3].lower()}{name[4:]}"
    resource = Resource(
        name=name,
        label=label,
        help=str(definition.get("help") or label),
        schema=schema,
        xtk_label=f"{label} ({schema})",
        code=code,
        fields=tuple(fields[n] for n in sorted(fields)),
        filters=(key_filter(key),),
        key=key,
        custom=True,
    )
    return resource, missing


def bind_enumerations(resource: Resource, enums: dict[str, Enumeration]) -> Resource:
    """Return the resource with its enumeration fields bound to the stored enumerations."""
    changed = False
    fields = []
    for f in resource.fields:
        stored = enums.get(f.enum.id) if f.enum is not None else None
        if stored is not None and stored != f.enum:
            f = replace(f, enum=stored)
            changed = True
        fields.append(f)
    if not changed:
        return resource
    return replace(resource, fields=tuple(fields), _by_name={}, _builders={})


class DataModel:
    """Resources and enumerations of one Campaign database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        """Load published definitions and enumerations from `conn`."""
        self.conn = conn
        self.definitions: dict[str, dict[str, Any]] = {}
        self.resources: dict[str, Resource] = {}
        self.enumerations: dict[str, Enumeration] = {}
        self.reload()

    def reload(self) -> None:
        """Rebuild every resource from the database (after an enumeration or model change)."""
        self.enumerations = enumerations.load(self.conn)
        resources = dict(RESOURCES)
        definitions: dict[str, dict[str, Any]] = {}
        for name, code, text in self.conn.execute(f'SELECT * FROM "{TABLE}" ORDER BY code'):
            definitions[name] = json.loads(text)
            resources[name], _ = build_resource(
                definitions[name], int(code), resources, self.enumerations
            )
        self.definitions = definitions
        self.resources = {n: bind_enumerations(r, self.enumerations) for n, r in resources.items()}

    def resource_for(self, api: str, name: str) -> Resource | None:
        """Resource `name` under `profileAndServices` or `profileAndServicesExt`."""
        res = self.resources.get(name)
        if res is None or (res.custom and api != EXT):
            return None
        return res

    def publish(self, definition: dict[str, Any]) -> Resource:
        """Create a custom resource: its definition, enumerations and table, in one transaction."""
        from .store import index_statements, table_ddl  # store imports this module

        name = definition.get("name")
        if name in self.resources:
            raise DefinitionError(f"the resource '{name}' already exists")
        codes = {r.code for r in self.resources.values()}
        code = next((c for c in range(FIRST_CODE, 256) if c not in codes), None)
        if code is None:
            raise DefinitionError("no resource code left (at most 240 published resources)")
        resource, missing = build_resource(definition, code, self.resources, self.enumerations)
        stored = {
            **{k: v for k, v in definition.items() if k not in ("fields", "links")},
            "fields": definition.get("fields", []),
            "links": definition.get("links", []),
        }
        self.conn.execute("BEGIN")
        try:
            for enum_name in missing:
                label = next(
                    (f.label for f in resource.fields if f.enum and f.enum.id == enum_name),
                    enum_name,
                )
                enumerations.save(self.conn, Enumeration(enum_name, (), label, "string"))
            self.conn.execute(
                f'INSERT INTO "{TABLE}" VALUES (?, ?, ?)', (name, code, json.dumps(stored))
            )
            self.conn.execute(table_ddl(resource))
            for stmt in index_statements(resource):
                self.conn.execute(stmt)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.reload()
        return self.resources[resource.name]

    def write_enumerations(self, changes: list[enumerations.EnumChange]) -> None:
        """Apply `xtk:enum` Write elements, all or none, and rebind the resources."""
        work: dict[str, Enumeration | None] = dict(self.enumerations)
        for change in changes:
            work[change.name] = enumerations.apply(work.get(change.name), change)
        for name, enum in work.items():
            if enum is None and name in self.enumerations:
                users = [
                    f"{r.name}.{f.name}"
                    for r in self.resources.values()
                    for f in r.fields
                    if f.enum is not None and f.enum.id == name
                ]
                if users:
                    raise enumerations.EnumError(
                        f"The enumeration '{name}' is used by {', '.join(users)}."
                    )
        self.conn.execute("BEGIN")
        try:
            for name, enum in work.items():
                if enum is None:
                    enumerations.delete(self.conn, name)
                elif enum is not self.enumerations.get(name):
                    enumerations.save(self.conn, enum)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.reload()

    def copy_to(self, conn: sqlite3.Connection) -> None:
        """Write definitions and enumerations into a fresh database (a reseed keeps them)."""
        from .store import table_ddl

        for enum in self.enumerations.values():
            enumerations.save(conn, enum)
        for name, definition in self.definitions.items():
            resource = self.resources[name]
            conn.execute(
                f'INSERT INTO "{TABLE}" VALUES (?, ?, ?)',
                (name, resource.code, json.dumps(definition)),
            )
            conn.execute(table_ddl(resource))


def describe(resource: Resource, definition: dict[str, Any]) -> dict[str, Any]:
    """Return a published resource as the admin API shows it."""
    return {
        **definition,
        "schema": resource.schema,
        "filters": [f.name for f in resource.filters],
        "fieldCount": len(resource.fields),
        "metadata": f"/{EXT}/{resource.name}/metadata",
    }


def admin_routes(rt: Runtime) -> list[Route]:
    """`POST {PREFIX}/resources` (publish a custom resource), `GET` (the published ones)."""

    async def resources(request: Request) -> Response:
        model = rt.store.model
        if request.method == "GET":
            return json_response(
                [describe(model.resources[n], d) for n, d in model.definitions.items()]
            )
        try:
            resource = model.publish(await json_body(request))
        except (ValueError, msgspec.DecodeError) as exc:  # DefinitionError is a ValueError
            status = 409 if "already exists" in str(exc) else 400
            return problem(status, str(exc))
        rt.store.sizes[resource.name] = 0
        return json_response(describe(resource, model.definitions[resource.name]), 201)

    return [Route(f"{PREFIX}/resources", resources, methods=["GET", "POST"])]
