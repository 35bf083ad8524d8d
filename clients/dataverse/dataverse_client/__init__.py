"""The Dataverse Web API client shared by tap-dynamics365 and target-dynamics365.

Entra ID auth (msal), TLS, the retry policy, typed errors, OData paging helpers, table
metadata, `$batch`, the connection settings and the connection check steps.
"""

__version__ = "0.1.0"
