"""Typed client of the Campaign sandbox admin API (`/_sandbox/...` on the gateway port)."""

from __future__ import annotations

from typing import Any

from crm_sandbox.admin_client import AdminClient


class CampaignAdmin(AdminClient):
    """Controls a running Campaign sandbox: data, engine calls, faults, clock, tokens, log.

    Rows are addressed by resource (`profile`, `cusProject`) and PKey, with REST field names;
    `update_row(..., {"blackListEmail": True})` is an opt-out made inside Campaign.
    """

    # data
    def reset(
        self, profiles: int = 2000, seed: int = 42, *, projects: int | None = None
    ) -> dict[str, int]:
        """Replace all data with a deterministic sample (and zero the engine calls)."""
        body = {"profiles": profiles, "seed": seed, "projects": projects}
        result: dict[str, int] = self._call("POST", "/reset", body)
        return result

    def find_rows(self, resource: str, **equals: str) -> list[dict[str, Any]]:
        """Return records whose stored columns equal the given values (first 1000, by row id).

        Each record is shown as on the Ext endpoint, profiles with `optOutChanges`.
        """
        result: list[dict[str, Any]] = self._call("GET", f"/rows/{resource}", **equals)
        return result

    # engine calls
    def engine_calls(self) -> dict[str, Any]:
        """`total` engine calls, counts of insert/update/identical_update/delete, `by_resource`."""
        result: dict[str, Any] = self._call("GET", "/engine-calls")
        return result

    def reset_engine_calls(self) -> None:
        """Zero the engine-call counter."""
        self._call("DELETE", "/engine-calls")

    # faults (add_fault, add_latency, faults, clear_faults: see AdminClient)
    def inject_429(
        self,
        count: int | None = 1,
        *,
        every: int | None = None,
        retry_after: int = 1,
        path: str | None = None,
    ) -> list[dict[str, Any]]:
        """Throttle the next `count` requests (429 `429050`; Retry-After unless 0)."""
        return self.add_fault("429", count=count, every=every, retry_after=retry_after, path=path)

    def inject_5xx(
        self,
        status: int = 503,
        count: int | None = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        when: str = "before",
    ) -> list[dict[str, Any]]:
        """Answer 502, 503 or 504 to the next `count` requests (`when="after"`: once handled)."""
        return self.add_fault(str(status), count=count, path=path, method=method, when=when)

    def inject_journal_fault(
        self, kind: str = "503", count: int | None = 1, *, retry_after: int = 1
    ) -> list[dict[str, Any]]:
        """Fault on the I/O Events journal: "429", "502", "503", "504", "latency" or "drop"."""
        return self.add_fault(kind, count=count, retry_after=retry_after, app="events")

    # marketing data and the I/O Events journal
    def simulate_send(
        self,
        delivery: str,
        *,
        profiles: int | None = None,
        external_ids: list[str] | None = None,
        label: str | None = None,
        campaign: str = "SandboxCampaign",
        campaign_label: str | None = None,
        mirror_page_url: str | None = None,
        seed: int = 1,
        hard_bounce_rate: float = 0.0,
        soft_bounce_rate: float = 0.0,
        open_rate: float = 0.0,
        click_rate: float = 0.0,
        unsubscribe_rate: float = 0.0,
        mirror_page_rate: float = 0.0,
        urls: list[str] | None = None,
    ) -> dict[str, Any]:
        """Send delivery `delivery` (e.g. "DM190") and simulate reactions; logs + journal events.

        Targets the first `profiles` eligible profiles (email and externalId set, not opted out)
        or the profiles of `external_ids`. Bounce rates are shares of the targeted profiles,
        `open_rate`/`mirror_page_rate` of sent messages, `click_rate`/`unsubscribe_rate` of
        opened ones. Returns `delivery`, `targeted`, `left_out` (external ids not targeted),
        `counts` and `by_external_id` (per kind: sent, hard_bounce, soft_bounce, open, click,
        optout, mirror_page) and `journal_events`.
        """
        body: dict[str, Any] = {
            "delivery": delivery,
            "profiles": profiles,
            "external_ids": external_ids,
            "label": label,
            "campaign": campaign,
            "campaign_label": campaign_label,
            "seed": seed,
            "hard_bounce_rate": hard_bounce_rate,
            "soft_bounce_rate": soft_bounce_rate,
            "open_rate": open_rate,
            "click_rate": click_rate,
            "unsubscribe_rate": unsubscribe_rate,
            "mirror_page_rate": mirror_page_rate,
            "urls": urls or [],
        }
        if mirror_page_url is not None:
            body["mirror_page_url"] = mirror_page_url
        result: dict[str, Any] = self._call("POST", "/deliveries", body)
        return result

    def late_bounces(
        self,
        delivery: str,
        count: int = 1,
        *,
        failure_type: str = "hard",
        reason: int | None = None,
        external_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """Turn sent logs of `delivery` into failed ones now (asynchronous bounces).

        The first `count` sent logs, or those of `external_ids`; `failure_type` "hard", "soft"
        or "ignored"; `reason` a failureReason code (default: 1 User unknown for hard). Returns
        `count`, `bounced` ([{broadLogId, externalId}]) and `journal_events`.
        """
        body = {
            "count": count,
            "failure_type": failure_type,
            "reason": reason,
            "external_ids": external_ids,
        }
        result: dict[str, Any] = self._call("POST", f"/deliveries/{delivery}/late-bounces", body)
        return result

    def track(
        self, delivery: str, external_id: str, kind: str, *, url: str | None = None
    ) -> dict[str, Any]:
        """Record one tracking event now: kind "open", "click", "optout" or "mirror_page".

        "optout" also sets the profile's blackListEmail. Returns the trackingLogRcp row.
        """
        body = {"external_id": external_id, "kind": kind, "url": url}
        result: dict[str, Any] = self._call("POST", f"/deliveries/{delivery}/tracking", body)
        return result

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery (nmsDelivery columns plus `campaign` and `campaignLabel`)."""
        result: list[dict[str, Any]] = self._call("GET", "/deliveries")
        return result

    def log_rows(self, table: str, **equals: str) -> list[dict[str, Any]]:
        """Rows of nmsOperation, nmsDelivery, broadLogRcp or trackingLogRcp (Adobe's names).

        Columns with a hyphen need `**{"delivery-id": "1"}`.
        """
        result: list[dict[str, Any]] = self._call("GET", f"/logs/{table}", **equals)
        return result

    def journal(self) -> dict[str, Any]:
        """Journal state: count, by_type, oldest/newest/end position, purged_through, retention."""
        result: dict[str, Any] = self._call("GET", "/journal")
        return result

    # opt-out export workflow and SFTP storage area (see crm_sandbox.campaign.optout_export)
    def run_opt_out_export(self, full: bool = False) -> dict[str, Any]:
        """Run WKF_OPTOUT_EXPORT now: `{"file": name or None (empty increment), "rows": n}`.

        `full=True` exports every profile with an opt-out set or ever changed; otherwise the
        profiles whose opt-out changed after the watermark (the latest change exported).
        """
        result: dict[str, Any] = self._call("POST", "/opt-out-export", {"full": full})
        return result

    def opt_out_export_status(self) -> dict[str, Any]:
        """`watermark`, `last_run`, `files` (names in the export folder) and workflow `state`."""
        result: dict[str, Any] = self._call("GET", "/opt-out-export")
        return result

    def authorize_sftp_key(self, public_key: str) -> None:
        """Allow a client public key (OpenSSH line) on the SFTP login, next to the password."""
        self._call("POST", "/sftp/authorized-keys", {"public_key": public_key})

    # data model (see crm_sandbox.campaign.datamodel)
    def publish_resource(self, definition: dict[str, Any]) -> dict[str, Any]:
        """Create and publish a custom resource, as an admin does in Campaign's UI.

        `definition`: {name: "cusXxx", label, key (default "cusCrmId"), fields: [{name,
        type: string|long|double|boolean|date|datetime|enumeration, label?, length?,
        enumeration?}], links: [{name, target, mandatory?}]}. Returns it with `schema`,
        `filters`, `fieldCount` and `metadata` (its REST metadata path).
        """
        result: dict[str, Any] = self._call("POST", "/resources", definition)
        return result

    def published_resources(self) -> list[dict[str, Any]]:
        """Every resource published with `publish_resource`, in publication order."""
        result: list[dict[str, Any]] = self._call("GET", "/resources")
        return result

    # settings
    def set_config(self, **settings: Any) -> dict[str, Any]:
        """Change settings.

        token_lifetime, big_table_threshold, absolute_hrefs, tps_limit, journal_retention_days,
        journal_absolute_links, opt_out_export_interval, session_lifetime (v8 SOAP sessions),
        soap_tps_limit (v8 SOAP calls per second, 0 = off), import_signal_interval (seconds
        between External signals of an import workflow, 0 = no rule), import_max_lines,
        import_max_bytes.
        """
        result: dict[str, Any] = self._call("PATCH", "/config", settings)
        return result

    def expire_sessions(self) -> None:
        """Log every v8 SOAP session off: their next call answers XSV-350008."""
        self._call("DELETE", "/sessions")
