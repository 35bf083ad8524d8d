"""What the generic table sink reads from Dataverse's metadata, once per run and stream.

A table's entity set, primary id, column types and Active alternate keys; the navigation property
of a lookup column towards a table (ManyToOneRelationships, or the `$metadata` document where that
segment is not served); the labels of a choice column's options.
"""

from __future__ import annotations

import typing as t
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http import HTTPStatus

from dataverse_client.client import DataverseAPIError

if t.TYPE_CHECKING:
    from dataverse_client.client import DataverseClient

NS = "Microsoft.Dynamics.CRM"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
LOOKUP_TYPES = frozenset({"Lookup", "Customer", "Owner"})
CHOICE_CASTS = {
    "Picklist": "PicklistAttributeMetadata",
    "State": "StateAttributeMetadata",
    "Status": "StatusAttributeMetadata",
}
NUMBER_TYPES = frozenset({"Integer", "BigInt", "Decimal", "Double", "Money"})
ACTIVE = "Active"


class MetadataError(Exception):
    """The table, a column, a key or a lookup named in `tables` does not exist in Dataverse."""


@dataclass(frozen=True)
class TableMetadata:
    """A table's names, its columns' AttributeTypes and its Active alternate keys."""

    logical_name: str
    entity_set: str
    primary_id: str
    attributes: dict[str, str]
    keys: tuple[frozenset[str], ...]

    def is_key(self, columns: tuple[str, ...]) -> bool:
        """Whether `columns` are the primary id or an Active alternate key."""
        return columns == (self.primary_id,) or frozenset(columns) in self.keys

    def literal(self, column: str, value: t.Any) -> str:
        """Return `value` as an OData key literal of `column` (GUID, number or quoted text)."""
        kind = self.attributes.get(column)
        if kind == "Uniqueidentifier":
            return str(value).lower()
        if kind in NUMBER_TYPES:
            return str(value)
        if kind == "Boolean":
            return "true" if value else "false"
        return "'" + str(value).replace("'", "''") + "'"

    def key_segment(self, values: dict[str, t.Any]) -> str:
        """Return the key in a row's URL: `<guid>` for the primary id, else `col=literal,…`."""
        if tuple(values) == (self.primary_id,):
            return self.literal(self.primary_id, values[self.primary_id])
        return ",".join(f"{column}={self.literal(column, v)}" for column, v in values.items())


def read_table(client: DataverseClient, logical_name: str) -> TableMetadata:
    """Read a table's definition, its Active keys and its columns (two GETs)."""
    path = f"EntityDefinitions(LogicalName='{logical_name}')"
    try:
        entity = client.get_json(
            f"{path}?$select=LogicalName,EntitySetName,PrimaryIdAttribute"
            "&$expand=Keys($select=KeyAttributes,EntityKeyIndexStatus)"
        )
    except DataverseAPIError as exc:
        if exc.status == HTTPStatus.NOT_FOUND:
            msg = f"table '{logical_name}' does not exist in Dataverse"
            raise MetadataError(msg) from exc
        raise
    attributes = {
        row["LogicalName"]: str(row.get("AttributeType"))
        for row in client.iter_values(f"{path}/Attributes?$select=LogicalName,AttributeType")
    }
    keys = tuple(
        frozenset(key["KeyAttributes"])
        for key in entity.get("Keys") or ()
        if key.get("EntityKeyIndexStatus", ACTIVE) == ACTIVE
    )
    return TableMetadata(
        logical_name, entity["EntitySetName"], entity["PrimaryIdAttribute"], attributes, keys
    )


def navigation_property(
    client: DataverseClient, table: str, column: str, target: str
) -> str | None:
    """Return the single-valued navigation property of lookup `column` towards `target`.

    ManyToOneRelationships: ReferencingAttribute → ReferencingEntityNavigationPropertyName. An
    org that does not serve that segment (404) is asked `$metadata`: the NavigationProperty of
    the table's EntityType typed `target` (or `principal`) whose ReferentialConstraint is
    `_<column>_value`.
    """
    query = (
        f"EntityDefinitions(LogicalName='{table}')/ManyToOneRelationships"
        "?$select=ReferencingAttribute,ReferencedEntity,ReferencingEntityNavigationPropertyName"
        f"&$filter=ReferencingAttribute eq '{column}'"
    )
    try:
        relationships = list(client.iter_values(query))
    except DataverseAPIError as exc:
        if exc.status != HTTPStatus.NOT_FOUND:
            raise
        return _csdl_navigation(client.request("GET", "$metadata").content, table, column, target)
    return next(
        (
            str(row["ReferencingEntityNavigationPropertyName"])
            for row in relationships
            if row.get("ReferencingAttribute") == column and row.get("ReferencedEntity") == target
        ),
        None,
    )


def _csdl_navigation(document: bytes, table: str, column: str, target: str) -> str | None:
    """Find the navigation property in a `$metadata` (CSDL) document."""
    root = ET.fromstring(document)  # the org's own document
    types = {f"mscrm.{target}", f"{NS}.{target}", "mscrm.principal", f"{NS}.principal"}
    for entity in root.iter(f"{EDM}EntityType"):
        if entity.get("Name") != table:
            continue
        for nav in entity.iter(f"{EDM}NavigationProperty"):
            constraint = nav.find(f"{EDM}ReferentialConstraint")
            if (
                nav.get("Type") in types
                and constraint is not None
                and constraint.get("Property") == f"_{column}_value"
            ):
                return nav.get("Name")
    return None


def choice_labels(client: DataverseClient, table: str, column: str, kind: str) -> dict[str, int]:
    """Return a choice column's options, label (casefolded, every language) → value."""
    query = (
        f"EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='{column}')/"
        f"{NS}.{CHOICE_CASTS[kind]}?$select=LogicalName&$expand=OptionSet($select=Options)"
    )
    options = (client.get_json(query).get("OptionSet") or {}).get("Options") or ()
    labels: dict[str, int] = {}
    for option in options:
        label = option.get("Label") or {}
        texts = [item.get("Label") for item in label.get("LocalizedLabels") or ()]
        texts.append((label.get("UserLocalizedLabel") or {}).get("Label"))
        for text in texts:
            if text:
                labels.setdefault(str(text).casefold(), int(option["Value"]))
    return labels
