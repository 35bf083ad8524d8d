"""Typed client of the sandbox admin API (`/_sandbox/...`), for tests, the demo and benchmarks."""

from __future__ import annotations

from typing import Any

import requests


class DataverseAdmin:
    """Controls a running Dataverse sandbox: data, faults, limits, clock, tokens, request log."""

    def __init__(self, admin_url: str, ca_file: str, timeout: float = 300.0) -> None:
        """`admin_url` is endpoints.json's `admin_url`; `ca_file` the sandbox CA."""
        self.url = admin_url.rstrip("/")
        self.session = requests.Session()
        self.session.verify = ca_file
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.session.request(method, f"{self.url}{path}", json=body, timeout=self.timeout)
        if resp.status_code >= 400:
            raise RuntimeError(f"admin {method} {path} → {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

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
    ) -> dict[str, int]:
        """Replace all data with a deterministic sample; returns rows per table."""
        body = {
            "contacts": contacts,
            "seed": seed,
            "accounts": accounts,
            "projects": projects,
            "tasks": tasks,
            "categories": categories,
        }
        result: dict[str, int] = self._call("POST", "/reset", body)
        return result

    def state(self) -> dict[str, Any]:
        """Row counts, version counter, clock and settings."""
        result: dict[str, Any] = self._call("GET", "/state")
        return result

    def create_row(self, entity_set: str, values: dict[str, Any]) -> dict[str, Any]:
        """Insert a row (read-shape names: logical names, `_x_value` for lookups)."""
        result: dict[str, Any] = self._call("POST", f"/rows/{entity_set}", values)
        return result

    def get_row(self, entity_set: str, row_id: str) -> dict[str, Any] | None:
        """Return a row by primary key, or None."""
        resp = self.session.get(f"{self.url}/rows/{entity_set}/{row_id}", timeout=self.timeout)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    def update_row(self, entity_set: str, row_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Change columns of a row (bumps version and modifiedon)."""
        result: dict[str, Any] = self._call("PATCH", f"/rows/{entity_set}/{row_id}", values)
        return result

    def delete_row(self, entity_set: str, row_id: str) -> None:
        """Delete a row (leaves a change-tracking tombstone)."""
        self._call("DELETE", f"/rows/{entity_set}/{row_id}")

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

    # request log
    def requests(self) -> list[dict[str, Any]]:
        """Return logged requests: app, method, path, query, status, app_id, time, duration_ms."""
        result: list[dict[str, Any]] = self._call("GET", "/requests")
        return result

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._call("DELETE", "/requests")

    # faults
    def add_fault(
        self,
        kind: str,
        *,
        count: int | None = 1,
        every: int | None = None,
        retry_after: int = 1,
        latency_ms: int = 0,
        code: str = "0x80072322",
        path: str | None = None,
        method: str | None = None,
        app: str = "dataverse",
    ) -> list[dict[str, Any]]:
        """Add a fault rule ("429", "503", "latency"); returns all rules."""
        body = {
            "kind": kind,
            "count": count,
            "every": every,
            "retry_after": retry_after,
            "latency_ms": latency_ms,
            "code": code,
            "path": path,
            "method": method,
            "app": app,
        }
        result: list[dict[str, Any]] = self._call("POST", "/faults", body)
        return result

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
        self, count: int | None = 1, *, every: int | None = None, path: str | None = None
    ) -> list[dict[str, Any]]:
        """Answer 503 to the next `count` requests (or every `every`-th)."""
        return self.add_fault("503", count=count, every=every, path=path)

    def add_latency(
        self, latency_ms: int, *, count: int | None = None, path: str | None = None
    ) -> list[dict[str, Any]]:
        """Delay requests by `latency_ms` (all of them unless `count` is set)."""
        return self.add_fault("latency", count=count, latency_ms=latency_ms, path=path)

    def faults(self) -> list[dict[str, Any]]:
        """Active fault rules with their counters."""
        result: list[dict[str, Any]] = self._call("GET", "/faults")
        return result

    def clear_faults(self) -> None:
        """Remove all fault rules."""
        self._call("DELETE", "/faults")

    # limits, settings, clock, tokens
    def set_limits(self, **limits: int) -> dict[str, int]:
        """Change limits: requests, concurrent, execution_ms, window_seconds, dop_hint."""
        result: dict[str, int] = self._call("PATCH", "/limits", limits)
        return result

    def limits(self) -> dict[str, int]:
        """Return current service protection limits."""
        result: dict[str, int] = self._call("GET", "/limits")
        return result

    def reset_limit_usage(self) -> None:
        """Forget the requests counted so far in every window."""
        self._call("POST", "/limits/reset")

    def set_config(
        self,
        *,
        token_lifetime: int | None = None,
        expire_change_tracking_in_days: int | None = None,
    ) -> dict[str, Any]:
        """Token lifetime (expires_in seconds) and change-tracking retention in days."""
        body = {
            k: v
            for k, v in {
                "token_lifetime": token_lifetime,
                "expire_change_tracking_in_days": expire_change_tracking_in_days,
            }.items()
            if v is not None
        }
        result: dict[str, Any] = self._call("PATCH", "/config", body)
        return result

    def config(self) -> dict[str, Any]:
        """Return current settings (without limits)."""
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def shift_clock(self, seconds: float) -> float:
        """Move the sandbox clock forward; returns the total offset in seconds."""
        return float(self._call("POST", "/clock", {"seconds": seconds})["offset"])

    def clock(self) -> dict[str, float]:
        """Sandbox time (epoch seconds) and offset."""
        result: dict[str, float] = self._call("GET", "/clock")
        return result

    def revoke_tokens(self) -> None:
        """Invalidate every access token issued so far (signing key roll-over)."""
        self._call("POST", "/tokens/revoke")
