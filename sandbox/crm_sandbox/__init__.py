"""Local emulators of Dataverse (with Entra ID) and Adobe Campaign (with IMS), over HTTPS.

`crm-sandbox serve` (`server.py`) runs all four apps in one process and asyncio loop, sharing one
clock; `testing.launch()` starts that process for tests and scripts, `pytest_plugin` wraps it in
session fixtures. Vendor code lives in `dataverse/` and `campaign/`; what both share is here:
`serving` (uvicorn over TLS), `tls` (local CA), `clock`, `requestlog`, `faults`, `admin` and
`admin_client` (the test-only `/_sandbox` API), and `seeding`. See sandbox/README.md.
"""

__version__ = "0.1.0"
