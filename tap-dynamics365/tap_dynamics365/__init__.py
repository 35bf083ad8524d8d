"""Singer tap for Microsoft Dynamics 365 (Dataverse)."""
