"""Create, update/upsert, delete and the CreateMultiple/UpdateMultiple/UpsertMultiple actions.

Payloads are validated and converted by `validation.coerce_payload`; this module resolves
`@odata.bind` targets against storage, applies Dataverse's conditional-request rules
(`If-Match`, `If-None-Match`), alternate keys and key-in-URL upsert semantics, and shapes the
responses (204 + OData-EntityId, or the record with `Prefer: return=representation`).
Callers hold the write lock; every operation runs in its own store transaction (a savepoint
inside an open `$batch` change set).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .batch import content_id_error
from .errors import BAD_REQUEST, DUPLICATE_KEY, OBJECT_DOES_NOT_EXIST, DataverseError
from .keys import EntityKey, parse_key
from .metadata import supports_multiple
from .protocol import ApiRequest, ApiResponse, json_response
from .query import does_not_exist, entity_body, resolve_key
from .schema import Table, table_by_logical_name
from .store import target_column
from .validation import LookupRef, coerce_payload, payload_error

if TYPE_CHECKING:
    from .runtime import Runtime

CONCURRENCY_MISMATCH = "0x80060882"
NS = "Microsoft.Dynamics.CRM"


def _body(req: ApiRequest, table: Table) -> Mapping[str, Any]:
    data = req.json_body()
    if not isinstance(data, dict):
        raise payload_error(
            table,
            "Microsoft.OData.ODataException: An unexpected 'StartArray' node was found when "
            "reading from the JSON reader. A 'StartObject' node was expected.",
        )
    return data


def _resolve_bind(rt: Runtime, ref: LookupRef) -> tuple[str, str]:
    """(target logical name, primary key) of an `@odata.bind` reference that must exist."""
    if ref.content_id is not None:
        raise content_id_error(ref.content_id)
    target = rt.store.by_name[ref.target]
    if ref.id is not None:
        if not rt.store.exists(ref.target, ref.id):
            raise DataverseError(
                404, OBJECT_DOES_NOT_EXIST, f"{ref.target} With Id = {ref.id} Does Not Exist"
            )
        return ref.target, ref.id
    assert ref.key is not None
    found = rt.store.find_by_key(target, ref.key)
    if found is None:
        raise DataverseError(
            404,
            OBJECT_DOES_NOT_EXIST,
            f"A record with the specified key values does not exist in {ref.target} entity",
        )
    return ref.target, found


def _storage(
    rt: Runtime, req: ApiRequest, table: Table, payload: Mapping[str, Any], operation: str
) -> dict[str, Any]:
    coerced = coerce_payload(
        table,
        payload,
        operation="create" if operation == "create" else "update",
        tables=rt.store.tables,
    )
    values = dict(coerced.values)
    for name, ref in coerced.binds.items():
        column = table.column(name)
        assert column is not None
        if ref is None:
            values[name] = values[target_column(column)] = None
        else:
            target, pk = _resolve_bind(rt, ref)
            values[name], values[target_column(column)] = pk, target
    return values


def _check_unique_keys(rt: Runtime, table: Table, values: Mapping[str, Any], own: str) -> None:
    for key in table.alternate_keys:
        if not all(values.get(c) is not None for c in key):
            continue
        found = rt.store.find_by_key(table, {c: values[c] for c in key})
        if found is not None and found != own:
            columns = ", ".join(key)
            raise DataverseError(
                412,
                DUPLICATE_KEY,
                f"A record that has the attribute values {columns} already exists. The entity "
                f"key {table.logical_name}_{'_'.join(key)} requires that this set of attributes "
                "contains unique values. Select unique values and try again.",
            )


def _insert(rt: Runtime, req: ApiRequest, table: Table, values: dict[str, Any]) -> str:
    pk = str(values.get(table.primary_id) or uuid.uuid4()).lower()
    values[table.primary_id] = pk
    if rt.store.exists(table.logical_name, pk):
        raise DataverseError(412, DUPLICATE_KEY, "Cannot insert duplicate key.")
    _check_unique_keys(rt, table, values, pk)
    rt.store.insert(table, values, owner=req.principal.user_id)
    return pk


def _update(rt: Runtime, table: Table, pk: str, values: dict[str, Any]) -> None:
    values.pop(table.primary_id, None)
    _check_unique_keys(rt, table, {**(rt.store.get(table, pk, writer=True) or {}), **values}, pk)
    rt.store.update(table, pk, values)


def _entity_url(req: ApiRequest, table: Table, key_text: str) -> str:
    return f"{req.service_root}{table.entity_set_name}({key_text})"


def _respond(
    rt: Runtime, req: ApiRequest, table: Table, pk: str, key_text: str, *, created: bool
) -> ApiResponse:
    if req.prefer.return_representation:
        body = entity_body(rt, req, table, pk, writer=True)
        assert body is not None
        headers = {"Preference-Applied": "return=representation", "ETag": body["@odata.etag"]}
        return json_response(body, 201 if created else 200, headers)
    return ApiResponse(
        204, {"OData-Version": "4.0", "OData-EntityId": _entity_url(req, table, key_text)}
    )


def create(rt: Runtime, req: ApiRequest, table: Table) -> ApiResponse:
    """POST `<entityset>`."""
    with rt.store.transaction():
        values = _storage(rt, req, table, _body(req, table), "create")
        pk = _insert(rt, req, table, values)
    return _respond(rt, req, table, pk, pk, created=True)


def _precondition(
    rt: Runtime, req: ApiRequest, table: Table, key: EntityKey, pk: str | None
) -> None:
    if_match = req.headers.get("if-match")
    if_none_match = req.headers.get("if-none-match")
    if if_match is not None:
        if pk is None:
            raise does_not_exist(table, key)
        if if_match.strip() != "*":
            row = rt.store.get(table, pk, writer=True)
            current = f'W/"{row["versionnumber"]}"' if row else None
            if if_match.strip() != current:
                raise DataverseError(
                    412,
                    CONCURRENCY_MISMATCH,
                    "The version of the existing record doesn't match the RowVersion property "
                    "provided.",
                )
    if if_none_match is not None and if_none_match.strip() == "*" and pk is not None:
        raise DataverseError(
            412, DUPLICATE_KEY, "A record with matching key values already exists."
        )


def upsert(rt: Runtime, req: ApiRequest, table: Table, key_text: str) -> ApiResponse:
    """PATCH `<entityset>(<key>)`: update, or create when absent (unless `If-Match`)."""
    key = parse_key(table, key_text)
    with rt.store.transaction():
        pk = resolve_key(rt, table, key, writer=True)
        _precondition(rt, req, table, key, pk)
        payload = _body(req, table)
        if pk is not None:
            values = _storage(rt, req, table, payload, "update")
            for column in key.values or {}:
                values.pop(column, None)  # key values in the URL win over the body
            _update(rt, table, pk, values)
            created = False
        else:
            values = _storage(rt, req, table, payload, "create")
            if key.id is not None:
                values[table.primary_id] = key.id
            for column, value in (key.values or {}).items():
                values.setdefault(column, value)
            pk = _insert(rt, req, table, values)
            created = True
    return _respond(rt, req, table, pk, key.text, created=created)


def delete(rt: Runtime, req: ApiRequest, table: Table, key_text: str) -> ApiResponse:
    """DELETE `<entityset>(<key>)`."""
    key = parse_key(table, key_text)
    with rt.store.transaction():
        pk = resolve_key(rt, table, key, writer=True)
        if pk is None:
            raise does_not_exist(table, key)
        _precondition(rt, req, table, key, pk)
        rt.store.delete(table, pk)
    return ApiResponse(204, {"OData-Version": "4.0"})


# --- bulk actions -----------------------------------------------------------------------------

MULTIPLE = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")


def _targets(rt: Runtime, req: ApiRequest, table: Table) -> list[dict[str, Any]]:
    body = _body(req, table)
    targets = body.get("Targets")
    if not isinstance(targets, list) or not targets:
        raise DataverseError(
            400, BAD_REQUEST, "The 'Targets' parameter is required and must not be empty."
        )
    for target in targets:
        if not isinstance(target, dict):
            raise payload_error(table, "Microsoft.OData.ODataException: A resource was expected.")
        odata_type = str(target.get("@odata.type", "")).lstrip("#")
        if not odata_type:
            raise payload_error(
                table,
                "Microsoft.OData.ODataException: A type name was not provided for an instance of "
                f"the abstract type '{NS}.crmbaseentity'. Set @odata.type on every item of "
                "'Targets'.",
            )
        if odata_type != f"{NS}.{table.logical_name}":
            other = odata_type.removeprefix(f"{NS}.")
            if table_by_logical_name(other, rt.store.tables) is None:
                raise payload_error(
                    table,
                    f"Microsoft.OData.ODataException: A type named '{odata_type}' could not be "
                    "resolved by the model.",
                )
            raise DataverseError(
                400,
                BAD_REQUEST,
                f"All records in Targets must be of type '{table.logical_name}'; found '{other}'.",
            )
    return targets


def _target_key(table: Table, target: dict[str, Any]) -> EntityKey | None:
    odata_id = target.get("@odata.id")
    if isinstance(odata_id, str) and "(" in odata_id:
        return parse_key(table, odata_id[odata_id.index("(") + 1 : odata_id.rindex(")")])
    pk = target.get(table.primary_id)
    if isinstance(pk, str):
        return EntityKey(id=pk.lower(), text=pk.lower())
    for key in table.alternate_keys:
        if all(target.get(c) is not None for c in key):
            return EntityKey(values={c: target[c] for c in key}, text="")
    return None


def multiple(rt: Runtime, req: ApiRequest, table: Table, action: str) -> ApiResponse:
    """POST `<entityset>/Microsoft.Dynamics.CRM.<Create|Update|Upsert>Multiple` (all or nothing)."""
    if not supports_multiple(table, rt.settings.bulk_messages_disabled):
        raise DataverseError(
            400,
            BAD_REQUEST,
            f"The '{action}' method does not support entities of type '{table.logical_name}'. "
            "MessageProcessorCache returned MessageProcessor.Empty.",
        )
    targets = _targets(rt, req, table)
    ids: list[str] = []
    with rt.store.transaction():
        for target in targets:
            payload = {k: v for k, v in target.items() if k != "@odata.id"}
            if action == "CreateMultiple":
                ids.append(_insert(rt, req, table, _storage(rt, req, table, payload, "create")))
                continue
            key = _target_key(table, target)
            pk = None if key is None else resolve_key(rt, table, key, writer=True)
            if action == "UpdateMultiple":
                if pk is None:
                    ident = target.get(table.primary_id, "")
                    raise DataverseError(
                        404,
                        OBJECT_DOES_NOT_EXIST,
                        f"{table.logical_name} With Id = {ident} Does Not Exist",
                    )
                _update(rt, table, pk, _storage(rt, req, table, payload, "update"))
            elif pk is not None:
                values = _storage(rt, req, table, payload, "update")
                for column in (key.values if key else None) or {}:
                    values.pop(column, None)
                _update(rt, table, pk, values)
            else:
                values = _storage(rt, req, table, payload, "create")
                if key is not None and key.id is not None:
                    values[table.primary_id] = key.id
                for column, value in ((key.values if key else None) or {}).items():
                    values.setdefault(column, value)
                _insert(rt, req, table, values)
    if action == "CreateMultiple":
        resp = json_response(
            {
                "@odata.context": f"{req.service_root}$metadata#{NS}.CreateMultipleResponse",
                "Ids": ids,
            }
        )
    else:
        resp = ApiResponse(204, {"OData-Version": "4.0"})
    resp.operations = len(targets)
    return resp
