"""What both vendors' admin clients share: the HTTP plumbing and the controls common to both."""

from __future__ import annotations

from typing import Any

import requests


class AdminClient:
    """Typed calls to a sandbox admin API (`/_sandbox/...`); plugins never use it."""

    def __init__(self, admin_url: str, ca_file: str, timeout: float = 300.0) -> None:
        """`admin_url` is an `admin_url` of endpoints.json; `ca_file` the sandbox CA."""
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
    def state(self) -> dict[str, Any]:
        """Record counts, clock, seed and settings."""
        result: dict[str, Any] = self._call("GET", "/state")
        return result

    def get_row(self, collection: str, key: str) -> dict[str, Any] | None:
        """Return a record by primary key, or None."""
        resp = self.session.get(f"{self.url}/rows/{collection}/{key}", timeout=self.timeout)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    def create_row(self, collection: str, values: dict[str, Any]) -> dict[str, Any]:
        """Create a record inside the service (no API call is counted or logged)."""
        result: dict[str, Any] = self._call("POST", f"/rows/{collection}", values)
        return result

    def update_row(self, collection: str, key: str, values: dict[str, Any]) -> dict[str, Any]:
        """Change fields of a record inside the service."""
        result: dict[str, Any] = self._call("PATCH", f"/rows/{collection}/{key}", values)
        return result

    def delete_row(self, collection: str, key: str) -> None:
        """Delete a record inside the service."""
        self._call("DELETE", f"/rows/{collection}/{key}")

    # request log
    def requests(self) -> list[dict[str, Any]]:
        """Return the log: app, method, path, query, status, caller, time, duration_ms.

        The caller is `app_id` on Dataverse, `client_id` on Campaign.
        """
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
        app: str | None = None,
        when: str = "before",
        **extra: Any,
    ) -> list[dict[str, Any]]:
        """Add a fault rule; returns all rules.

        `when="before"` (default) fires before the service sees the request (nothing is
        executed); `when="after"` fires once it has been handled (a write is committed), then
        delays, replaces or drops its response. Kinds, apps (default: the API app) and `extra`
        fields (Dataverse: `code`) are the vendor's; see `crm_sandbox.faults.FaultRule`.
        """
        body = {
            "kind": kind,
            "count": count,
            "every": every,
            "retry_after": retry_after,
            "latency_ms": latency_ms,
            "path": path,
            "method": method,
            "when": when,
            **extra,
        }
        if app is not None:
            body["app"] = app
        result: list[dict[str, Any]] = self._call("POST", "/faults", body)
        return result

    def add_latency(
        self,
        latency_ms: int,
        *,
        count: int | None = None,
        path: str | None = None,
        method: str | None = None,
        when: str = "before",
    ) -> list[dict[str, Any]]:
        """Delay requests (or, `when="after"`, their responses) by `latency_ms`.

        All matching requests unless `count` is set.
        """
        return self.add_fault(
            "latency", count=count, latency_ms=latency_ms, path=path, method=method, when=when
        )

    def drop_connection(
        self,
        count: int | None = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        when: str = "after",
    ) -> list[dict[str, Any]]:
        """Close the connection without an answer; by default after the request was handled."""
        return self.add_fault("drop", count=count, path=path, method=method, when=when)

    def faults(self) -> list[dict[str, Any]]:
        """Active fault rules with their counters."""
        result: list[dict[str, Any]] = self._call("GET", "/faults")
        return result

    def clear_faults(self) -> None:
        """Remove all fault rules."""
        self._call("DELETE", "/faults")

    # settings, clock, tokens
    def config(self) -> dict[str, Any]:
        """Return current settings."""
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def shift_clock(self, seconds: float) -> float:
        """Move the sandbox clock (both vendors share it); returns the total offset in seconds."""
        return float(self._call("POST", "/clock", {"seconds": seconds})["offset"])

    def clock(self) -> dict[str, float]:
        """Sandbox time (epoch seconds) and offset."""
        result: dict[str, float] = self._call("GET", "/clock")
        return result

    def revoke_tokens(self) -> None:
        """Invalidate every access token issued so far."""
        self._call("POST", "/tokens/revoke")
