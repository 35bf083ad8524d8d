"""Dataverse Web API v9.2 and Microsoft Entra ID token endpoint emulator."""
