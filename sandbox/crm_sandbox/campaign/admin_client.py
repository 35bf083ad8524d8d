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

    # settings
    def set_config(self, **settings: Any) -> dict[str, Any]:
        """Change settings: token_lifetime, big_table_threshold, absolute_hrefs, tps_limit."""
        result: dict[str, Any] = self._call("PATCH", "/config", settings)
        return result
