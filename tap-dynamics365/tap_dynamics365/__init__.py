"""Singer tap for Microsoft Dynamics 365 (Dataverse)."""

__version__ = "0.1.0"
