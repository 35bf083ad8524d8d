"""Typed client of the Campaign sandbox admin API (`/_sandbox/...` on the gateway port)."""

from __future__ import annotations

from typing import Any

import requests


class CampaignAdmin:
    """Controls a running Campaign sandbox: data, engine calls, faults, clock, tokens, log."""

    def __init__(self, admin_url: str, ca_file: str, timeout: float = 300.0) -> None:
        """`admin_url` is e.g. `https://localhost:8446/_sandbox`; `ca_file` the sandbox CA."""
        self.url = admin_url.rstrip("/")
        self.session = requests.Session()
        self.session.verify = ca_file
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        resp = self.session.request(
            method, f"{self.url}{path}", json=body, params=params or None, timeout=self.timeout
        )
        if resp.status_code >= 400:
            raise RuntimeError(f"admin {method} {path} → {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    # data
    def reset(
        self, profiles: int = 2000, seed: int = 42, *, projects: int | None = None
    ) -> dict[str, int]:
        """Replace all data with a deterministic sample (and zero the engine calls)."""
        body = {"profiles": profiles, "seed": seed, "projects": projects}
        result: dict[str, int] = self._call("POST", "/reset", body)
        return result

    def state(self) -> dict[str, Any]:
        """Record counts, clock, seed, settings and engine calls."""
        result: dict[str, Any] = self._call("GET", "/state")
        return result

    def find_rows(self, resource: str, **equals: str) -> list[dict[str, Any]]:
        """Return records whose stored columns equal the given values (first 1000, by row id).

        Each record is shown as on the Ext endpoint, profiles with `optOutChanges`.
        """
        result: list[dict[str, Any]] = self._call("GET", f"/rows/{resource}", **equals)
        return result

    def get_row(self, resource: str, pkey: str) -> dict[str, Any] | None:
        """Return a record by PKey (with `optOutChanges` for profiles), or None."""
        resp = self.session.get(f"{self.url}/rows/{resource}/{pkey}", timeout=self.timeout)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    def create_row(self, resource: str, values: dict[str, Any]) -> dict[str, Any]:
        """Create a record inside Campaign (REST field names; no engine call counted)."""
        result: dict[str, Any] = self._call("POST", f"/rows/{resource}", values)
        return result

    def update_row(self, resource: str, pkey: str, values: dict[str, Any]) -> dict[str, Any]:
        """Change a record inside Campaign, e.g. `{"blackListEmail": True}` (an opt-out)."""
        result: dict[str, Any] = self._call("PATCH", f"/rows/{resource}/{pkey}", values)
        return result

    def delete_row(self, resource: str, pkey: str) -> None:
        """Delete a record inside Campaign."""
        self._call("DELETE", f"/rows/{resource}/{pkey}")

    # engine calls and request log
    def engine_calls(self) -> dict[str, Any]:
        """`total` engine calls, counts of insert/update/identical_update/delete, `by_resource`."""
        result: dict[str, Any] = self._call("GET", "/engine-calls")
        return result

    def reset_engine_calls(self) -> None:
        """Zero the engine-call counter."""
        self._call("DELETE", "/engine-calls")

    def requests(self) -> list[dict[str, Any]]:
        """Return the log: app, method, path, query, status, client_id, time, duration_ms."""
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
        path: str | None = None,
        method: str | None = None,
        app: str = "gateway",
    ) -> list[dict[str, Any]]:
        """Add a rule ("429", "502", "503", "latency") for the "gateway" or "ims" app."""
        body = {
            "kind": kind,
            "count": count,
            "every": every,
            "retry_after": retry_after,
            "latency_ms": latency_ms,
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
        path: str | None = None,
    ) -> list[dict[str, Any]]:
        """Throttle the next `count` requests (429 `429050`; Retry-After unless 0)."""
        return self.add_fault("429", count=count, every=every, retry_after=retry_after, path=path)

    def inject_5xx(
        self, status: int = 503, count: int | None = 1, *, path: str | None = None
    ) -> list[dict[str, Any]]:
        """Answer 502 or 503 to the next `count` requests."""
        return self.add_fault(str(status), count=count, path=path)

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
        """Remove all fault rules and forget TPS windows."""
        self._call("DELETE", "/faults")

    # settings, clock, tokens
    def set_config(self, **settings: Any) -> dict[str, Any]:
        """Change settings: token_lifetime, big_table_threshold, absolute_hrefs, tps_limit."""
        result: dict[str, Any] = self._call("PATCH", "/config", settings)
        return result

    def config(self) -> dict[str, Any]:
        """Return current settings."""
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def shift_clock(self, seconds: float) -> float:
        """Move the sandbox clock (tokens expire, stamps move); returns the total offset."""
        return float(self._call("POST", "/clock", {"seconds": seconds})["offset"])

    def clock(self) -> dict[str, float]:
        """Sandbox time (epoch seconds) and offset."""
        result: dict[str, float] = self._call("GET", "/clock")
        return result

    def revoke_tokens(self) -> None:
        """Invalidate every IMS access token issued so far."""
        self._call("POST", "/tokens/revoke")
