"""`$metadata`: the CSDL document (entity types, entity sets, change tracking annotations)."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

from .odata import edm_type
from .schema import Column, Table

NS = "Microsoft.Dynamics.CRM"


def _navigation(table: Table, column: Column, name: str, targets: tuple[str, ...]) -> str:
    principal = len(targets) > 1  # only Owner lookups keep one property for several targets
    entity = "principal" if principal else targets[0]
    referenced = "ownerid" if principal else f"{targets[0]}id"
    return (
        f'<NavigationProperty Name="{name}" Type="mscrm.{entity}" Nullable="false" '
        f'Partner="{table.logical_name}_{column.logical_name}">'
        f'<ReferentialConstraint Property="{column.read_name}" '
        f'ReferencedProperty="{referenced}" /></NavigationProperty>'
    )


def _entity_type(table: Table) -> list[str]:
    if table.is_principal:  # the key is the inherited `ownerid`
        lines = [f'<EntityType Name="{table.logical_name}" BaseType="mscrm.principal">']
    else:
        lines = [
            f'<EntityType Name="{table.logical_name}" BaseType="mscrm.crmbaseentity">',
            f'<Key><PropertyRef Name="{table.primary_id}" /></Key>',
        ]
    for column in table.columns:
        lines.append(f'<Property Name="{column.read_name}" Type="{edm_type(column)}" />')
    for column in table.columns:
        if column.is_lookup:
            for name, targets in column.navigation_properties().items():
                lines.append(_navigation(table, column, name, targets))
    lines.append("</EntityType>")
    return lines


def csdl(tables: Sequence[Table], *, annotations: bool) -> bytes:
    """Render the CSDL; `annotations=True` adds the ChangeTracking capability per entity set."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        f'<Schema Namespace="{NS}" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
        '<EntityType Name="crmbaseentity" Abstract="true" />',
        '<EntityType Name="principal" BaseType="mscrm.crmbaseentity" Abstract="true">'
        '<Key><PropertyRef Name="ownerid" /></Key><Property Name="ownerid" Type="Edm.Guid" />'
        "</EntityType>",
        '<ComplexType Name="WhoAmIResponse">'
        '<Property Name="BusinessUnitId" Type="Edm.Guid" Nullable="false" />'
        '<Property Name="UserId" Type="Edm.Guid" Nullable="false" />'
        '<Property Name="OrganizationId" Type="Edm.Guid" Nullable="false" />'
        "</ComplexType>",
        '<ComplexType Name="CreateMultipleResponse">'
        '<Property Name="Ids" Type="Collection(Edm.Guid)" Nullable="false" />'
        "</ComplexType>",
    ]
    for table in tables:
        out += _entity_type(table)
    out.append(
        '<Function Name="WhoAmI"><ReturnType Type="mscrm.WhoAmIResponse" Nullable="false" />'
        "</Function>"
    )
    for action in ("CreateMultiple", "UpdateMultiple", "UpsertMultiple"):
        ret = '<ReturnType Type="mscrm.CreateMultipleResponse" Nullable="false" />'
        out.append(
            f'<Action Name="{action}" IsBound="true">'
            '<Parameter Name="entityset" Type="Collection(mscrm.crmbaseentity)" Nullable="false" />'
            '<Parameter Name="Targets" Type="Collection(mscrm.crmbaseentity)" Nullable="false" />'
            f"{ret if action == 'CreateMultiple' else ''}</Action>"
        )
    out.append('<EntityContainer Name="System">')
    for table in tables:
        out.append(
            f"<EntitySet Name={quoteattr(table.entity_set_name)} "
            f'EntityType="{NS}.{table.logical_name}">'
        )
        if annotations:
            tracked = str(table.change_tracking).lower()
            out.append(
                '<Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record>'
                f'<PropertyValue Property="Supported" Bool="{tracked}" />'
                "</Record></Annotation>"
            )
        out.append("</EntitySet>")
    out.append('<FunctionImport Name="WhoAmI" Function="Microsoft.Dynamics.CRM.WhoAmI" />')
    out += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(out).encode()
