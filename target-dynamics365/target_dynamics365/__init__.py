"""Singer target for Microsoft Dynamics 365 / Dataverse."""
