"""Adobe Campaign Standard emulator: Adobe IMS (OAuth Server-to-Server) and the Campaign REST API.

Two HTTPS apps sharing one SQLite store, with the sandbox CA of `crm_sandbox.tls`, served by
`crm-sandbox serve` next to Dataverse (or alone, on a thread: `inprocess.start_in_thread`):

- IMS on https://localhost:8445: `POST /ims/token/v3`, `GET /ims/profile/v1`.
- Campaign gateway on https://localhost:8446, API base
  `https://localhost:8446/sandbox-org/campaign` (`profileAndServices`, `profileAndServicesExt`),
  and the test-only admin API under `/_sandbox` on the same port.

Fixed default credentials (other helpers rely on them):

- organization (tenant in URLs): `sandbox-org`
- client_id, also the `X-Api-Key`: `campaign-sandbox-client`
- client_secret: `sandbox-campaign-secret`
- scope: `openid,AdobeID,campaign_sdk,additional_info.projectedProductContext` (any subset of the
  credential's scopes is granted; the gateway needs `campaign_sdk` and
  `additional_info.projectedProductContext`)

A second credential (`campaign-other-client` / `sandbox-other-secret`, organization `other-org`)
exists to exercise "token of another organization" (403 `403023`).
"""
