"""The boolean EntityMetadata properties and managed properties, per kind of table.

Names and types follow Microsoft's EntityMetadata EntityType (plain `Edm.Boolean` or a
`BooleanManagedProperty` `{Value, CanBeChanged, ManagedPropertyLogicalName}`, filterable as
`IsAuditEnabled/Value eq true`). Values are what a fresh org shows: the seeded standard tables
(`contact`, `account`, `systemuser`, `team`) come from Microsoft's managed solutions and are
audited, activity parties, connection- and duplicate-detection-enabled; custom tables start with
the defaults of a table created in the maker portal. No table is private or an intersect table.
`salesorder` (from the Sales solution) is like them but no activity party (an email cannot be
addressed to an order).
"""

from __future__ import annotations

from typing import Any

from .schema import Table

#: Standard tables an activity's party list may point at (ActivityParty.PartyId targets).
ACTIVITY_PARTY_TABLES = frozenset({"contact", "account", "systemuser", "team"})


def managed(value: bool, name: str, *, can_change: bool = True) -> dict[str, Any]:
    """Return a BooleanManagedProperty value."""
    return {"Value": value, "CanBeChanged": can_change, "ManagedPropertyLogicalName": name}


def entity_flags(table: Table) -> dict[str, Any]:
    """Boolean and BooleanManagedProperty members of a table's EntityMetadata."""
    standard = not table.is_custom
    activity = table.is_activity
    return {
        "AutoCreateAccessTeams": False,
        "AutoRouteToOwnerQueue": False,
        "CanBeInCustomEntityAssociation": managed(True, "canbeincustomentityassociation"),
        "CanBeInManyToMany": managed(True, "canbeinmanytomany"),
        "CanBePrimaryEntityInRelationship": managed(True, "canbeprimaryentityinrelationship"),
        "CanBeRelatedEntityInRelationship": managed(True, "canberelatedentityinrelationship"),
        "CanChangeHierarchicalRelationship": managed(True, "canchangehierarchicalrelationship"),
        "CanChangeTrackingBeEnabled": managed(True, "canchangetrackingbeenabled", can_change=False),
        "CanCreateAttributes": managed(True, "cancreateattributes", can_change=False),
        "CanCreateCharts": managed(True, "cancreatecharts"),
        "CanCreateForms": managed(True, "cancreateforms"),
        "CanCreateViews": managed(True, "cancreateviews"),
        "CanEnableSyncToExternalSearchIndex": managed(True, "canenablesynctoexternalsearchindex"),
        "CanModifyAdditionalSettings": managed(True, "canmodifyadditionalsettings"),
        "CanTriggerWorkflow": True,
        "EnforceStateTransitions": False,
        "EntityHelpUrlEnabled": False,
        "HasFeedback": False,
        "IsActivityParty": standard and table.logical_name in ACTIVITY_PARTY_TABLES,
        "IsAIRUpdated": True,
        "IsAuditEnabled": managed(standard, "canmodifyauditsettings"),
        "IsAvailableOffline": standard,
        "IsBPFEntity": False,
        "IsBusinessProcessEnabled": standard and not table.is_principal,
        "IsChildEntity": False,
        "IsConnectionsEnabled": managed(standard, "canmodifyconnectionsettings"),
        "IsCustomizable": managed(True, "iscustomizable"),
        "IsDocumentManagementEnabled": False,
        "IsDocumentRecommendationsEnabled": False,
        "IsDuplicateDetectionEnabled": managed(standard, "canmodifyduplicatedetectionsettings"),
        "IsEnabledForCharts": True,
        "IsEnabledForExternalChannels": False,
        "IsEnabledForTrace": False,
        "IsImportable": True,
        "IsInteractionCentricEnabled": False,
        "IsIntersect": False,
        "IsKnowledgeManagementEnabled": False,
        "IsMailMergeEnabled": managed(
            standard and not table.is_principal, "canmodifymailmergesettings"
        ),
        "IsMappable": managed(True, "ismappable"),
        "IsMSTeamsIntegrationEnabled": False,
        "IsOfflineInMobileClient": managed(standard, "canmodifymobileclientoffline"),
        "IsOneNoteIntegrationEnabled": False,
        "IsPrivate": False,
        "IsQuickCreateEnabled": activity or not table.is_principal,
        "IsReadingPaneEnabled": True,
        "IsReadOnlyInMobileClient": managed(False, "canmodifymobileclientreadonly"),
        "IsRenameable": managed(True, "isrenameable"),
        "IsRetrieveAuditEnabled": False,
        "IsRetrieveMultipleAuditEnabled": False,
        "IsSLAEnabled": False,
        "IsSolutionAware": False,
        "IsStateModelAware": table.column("statecode") is not None,
        "IsValidForAdvancedFind": True,
        "IsValidForQueue": managed(activity, "canmodifyqueuesettings"),
        "IsVisibleInMobile": managed(standard, "canmodifymobilevisibility"),
        "IsVisibleInMobileClient": managed(True, "canmodifymobileclientvisibility"),
    }
