"""Dataverse Web API v9.2 and Microsoft Entra ID (client credentials) emulator.

- Entra on https://localhost:8443: instance discovery, OpenID configuration, JWKS and
  `POST /<tenant>/oauth2/v2.0/token`, as MSAL uses them.
- Dataverse on https://localhost:8444 (the resource URL and token audience), service root
  `/api/data/v9.2/`, and the test-only admin API under `/_sandbox` on the same port.

Fixed credentials: tenant `d365d365-0000-4000-8000-000000000001`, client id
`c11e0000-0000-4000-8000-000000000001`, secret `sandbox-dataverse-secret`. An app of another
tenant (`…0002` / `sandbox-other-secret`) exercises foreign-tenant tokens.
"""
