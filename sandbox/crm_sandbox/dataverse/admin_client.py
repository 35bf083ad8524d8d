"""Typed client of the Dataverse admin API (`/_sandbox/...` on the Dataverse port)."""

from __future__ import annotations

from typing import Any

from crm_sandbox.admin_client import AdminClient


class DataverseAdmin(AdminClient):
    """Controls a running Dataverse sandbox: data, faults, limits, clock, tokens, request log.

    Rows are addressed by entity set and primary key, with read-shape names (logical names,
    `_x_value` for lookups); writes bump version and `modifiedon` and feed change tracking.
    """

    # data
    def reset(
        self,
        contacts: int = 2000,
        seed: int = 42,
        *,
        accounts: int | None = None,
        projects: int | None = None,
        tasks: int | None = None,
        categories: int = 12,
        salesorders: int | None = None,
    ) -> dict[str, int]:
        """Replace all data with a deterministic sample; returns rows per table.

        `salesorders`: orders (`salesorder`), default contacts // 2.
        """
        body = {
            "contacts": contacts,
            "seed": seed,
            "accounts": accounts,
            "projects": projects,
            "tasks": tasks,
            "categories": categories,
            "salesorders": salesorders,
        }
        result: dict[str, int] = self._call("POST", "/reset", body)
        return result

    def touch_rows(self, entity_set: str, count: int) -> list[str]:
        """Bump version/modifiedon of the first `count` rows (by key); returns their ids."""
        result: list[str] = self._call(
            "POST", f"/rows/{entity_set}/bulk", {"action": "touch", "count": count}
        )
        return result

    def delete_rows(self, entity_set: str, count: int) -> list[str]:
        """Delete the first `count` rows (by key); returns their ids."""
        result: list[str] = self._call(
            "POST", f"/rows/{entity_set}/bulk", {"action": "delete", "count": count}
        )
        return result

    # faults (add_fault, add_latency, faults, clear_faults: see AdminClient)
    def inject_429(
        self,
        count: int | None = 1,
        *,
        every: int | None = None,
        retry_after: int = 1,
        code: str = "0x80072322",
        path: str | None = None,
    ) -> list[dict[str, Any]]:
        """Throttle the next `count` requests (or every `every`-th) with Retry-After."""
        return self.add_fault(
            "429", count=count, every=every, retry_after=retry_after, code=code, path=path
        )

    def inject_503(
        self,
        count: int | None = 1,
        *,
        every: int | None = None,
        path: str | None = None,
        method: str | None = None,
        when: str = "before",
    ) -> list[dict[str, Any]]:
        """Answer 503 to the next `count` requests (or every `every`-th); "after": once handled."""
        return self.add_fault("503", count=count, every=every, path=path, method=method, when=when)

    # limits, settings
    def set_limits(self, **limits: float) -> dict[str, float]:
        """Change limits: requests, concurrent, execution_ms, window_seconds, dop_hint, row_cost_ms.

        Per application user. `row_cost_ms` (0: off) makes each operation of a request (a
        target of *Multiple, a `$batch` part, else the request) take that long, charged to
        the user's `execution_ms` budget; `dop_hint` is the `x-ms-dop-hint` response header.
        """
        result: dict[str, float] = self._call("PATCH", "/limits", limits)
        return result

    def limits(self) -> dict[str, float]:
        """Return current service protection limits."""
        result: dict[str, float] = self._call("GET", "/limits")
        return result

    def reset_limit_usage(self) -> None:
        """Forget the requests counted so far in every window."""
        self._call("POST", "/limits/reset")

    def set_config(
        self,
        *,
        token_lifetime: int | None = None,
        expire_change_tracking_in_days: int | None = None,
        key_index_delay_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Set token lifetime, change-tracking retention and the alternate-key index delay.

        `token_lifetime`: expires_in seconds; `expire_change_tracking_in_days`: retention;
        `key_index_delay_seconds`: how long (sandbox clock) a key created through the Web API
        stays Pending before it becomes Active.
        """
        body = {
            k: v
            for k, v in {
                "token_lifetime": token_lifetime,
                "expire_change_tracking_in_days": expire_change_tracking_in_days,
                "key_index_delay_seconds": key_index_delay_seconds,
            }.items()
            if v is not None
        }
        result: dict[str, Any] = self._call("PATCH", "/config", body)
        return result

    def set_bulk_messages(self, table: str, *, enabled: bool) -> list[str]:
        """Make CreateMultiple/UpdateMultiple/UpsertMultiple (un)available on a table.

        `table` is a logical name. Disabled: sdkmessagefilters no longer lists the three
        messages for it and calling them answers Dataverse's "does not support entities of
        type" error, so clients must fall back to `$batch`. Returns the disabled tables.
        """
        body = {"table": table, "enabled": enabled}
        result: dict[str, list[str]] = self._call("PATCH", "/bulk-messages", body)
        return result["disabled"]
