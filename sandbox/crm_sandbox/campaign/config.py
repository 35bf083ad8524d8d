"""Fixed sandbox identities and the settings tests can switch at runtime."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

ORGANIZATION = "sandbox-org"
CLIENT_ID = "campaign-sandbox-client"
CLIENT_SECRET = "sandbox-campaign-secret"
SCOPE = "openid,AdobeID,campaign_sdk,additional_info.projectedProductContext"
OTHER_ORGANIZATION = "other-org"
OTHER_CLIENT_ID = "campaign-other-client"
OTHER_CLIENT_SECRET = "sandbox-other-secret"

IMS_PORT = 8445
GATEWAY_PORT = 8446
EVENTS_PORT = 8447  # Adobe I/O Events (events.adobe.io): the journaling API
SFTP_PORT = 8448  # the Campaign SFTP storage area (Adobe's opt-out exports land there)

# The v8 instance's operator for `xtk:session#Logon` (a published test value, like the secrets).
OPERATOR_LOGIN = "sandbox-operator"
OPERATOR_PASSWORD = "sandbox-operator-secret"
OPERATOR_ID = 1059  # its `loginId`

# The SFTP login of the storage area and the folder the D365 integration reads opt-outs from.
SFTP_USERNAME = "campaign-sftp"
SFTP_PASSWORD = "sandbox-sftp-secret"
OPT_OUT_EXPORTS_DIR = "d365_loads/exports"
OPT_OUT_WORKFLOW = "WKF_OPTOUT_EXPORT"
OPT_OUT_WORKFLOW_LABEL = "Opt-out export for Dynamics 365"
# Where clients drop files for the import workflows (the login may write there) and where the
# workflows write their rejects ([design]: Adobe names only `d365_loads/exports`).
IMPORTS_DIR = "d365_loads/imports"
REJECTS_DIR = "d365_loads/rejects"

# The sandbox's one I/O Events registration (consumer org, project/integration, registration).
EVENTS_CONSUMER_ORG = "98765"
EVENTS_INTEGRATION = "43210"
EVENTS_REGISTRATION = "a1e57c3e-0000-4000-8000-000000000001"
JOURNAL_PATH = (
    f"/events/organizations/{EVENTS_CONSUMER_ORG}/integrations/{EVENTS_INTEGRATION}"
    f"/{EVENTS_REGISTRATION}"
)
EVENTS_PROVIDER = "5c1bd7e6-0000-4000-8000-00000000ca4d"  # the Campaign event provider (ours)

# Scopes a Developer Console project with the Adobe Campaign API typically holds (community lists).
CREDENTIAL_SCOPES = frozenset(
    {
        "openid",
        "AdobeID",
        "campaign_sdk",
        "additional_info.projectedProductContext",
        "campaign_config_server_general",
        "deliverability_service_general",
        "read_organizations",
    }
)
# Without these the IMS profile carries no Campaign product context: the gateway answers 403023.
GATEWAY_SCOPES = frozenset({"campaign_sdk", "additional_info.projectedProductContext"})


@dataclass(frozen=True)
class Credential:
    """An OAuth Server-to-Server credential of one IMS organization."""

    client_id: str
    secret: str
    organization: str  # Campaign tenant id used in URLs

    @property
    def ims_org(self) -> str:
        """IMS organization id (`…@AdobeOrg`)."""
        return f"{self.organization.upper().replace('-', '')}0000000000@AdobeOrg"

    @property
    def technical_account(self) -> str:
        """Technical account id of the credential."""
        return f"{self.client_id.replace('-', '').upper()[:24]}@techacct.adobe.com"


CREDENTIALS: tuple[Credential, ...] = (
    Credential(CLIENT_ID, CLIENT_SECRET, ORGANIZATION),
    Credential(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, OTHER_ORGANIZATION),
)
# Organizations with a Campaign instance behind the gateway; other known ones have none.
SERVED_ORGANIZATIONS = frozenset({ORGANIZATION})
KNOWN_ORGANIZATIONS = frozenset(c.organization for c in CREDENTIALS)


def credential(client_id: str | None) -> Credential | None:
    """Find a credential by client id (= API key)."""
    return next((c for c in CREDENTIALS if c.client_id == client_id), None)


@dataclass
class Settings:
    """Everything switchable at runtime through the admin API."""

    token_lifetime: int = 86399  # expires_in (seconds) of new IMS tokens
    big_table_threshold: int = 100_000  # XtkBigTableThreshold
    absolute_hrefs: bool = True  # False: hrefs relative to the API base, like old ACS docs
    tps_limit: int = 0  # requests per second and API key before 429050; 0 = unlimited
    journal_retention_days: int = 7  # I/O Events journal retention (sandbox clock)
    journal_absolute_links: bool = False  # Link headers absolute (Adobe's are host-relative)
    # Seconds (sandbox clock) between scheduled runs of WKF_OPTOUT_EXPORT; 0 = no schedule.
    # Adobe runs it once a day (86400).
    opt_out_export_interval: int = 0
    session_lifetime: int = 86400  # v8 SOAP sessions (Campaign's default sessionTimeOut)
    soap_tps_limit: int = 0  # v8 SOAP calls per second before HTTP 429; 0 = unlimited
    # Import workflows (WKF_IMPORT_<RESOURCE>): seconds (sandbox clock) an External signal must
    # wait after the previous one (Adobe: "not more often than every 10 minutes"; 0 = no rule),
    # and the largest file they load ([inference] 15 M lines: Adobe's initial-load ceiling;
    # [design] 8 GiB).
    import_signal_interval: int = 600
    import_max_lines: int = 15_000_000
    import_max_bytes: int = 8 * 1024**3

    def update(self, values: dict[str, Any]) -> None:
        """Set the given fields (unknown names raise KeyError, bad values ValueError)."""
        types = {f.name: f.type for f in fields(self)}
        for key, value in values.items():
            if key not in types:
                raise KeyError(key)
            if types[key] == "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be a boolean")
                setattr(self, key, value)
            else:
                setattr(self, key, int(value))

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the admin API."""
        return asdict(self)
