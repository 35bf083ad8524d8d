"""Transport-neutral request/response objects shared by HTTP endpoints and `$batch` parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .errors import DataverseError
from .paging import Preferences

JSON = "application/json; odata.metadata=minimal"
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Principal:
    """The caller, from a validated access token."""

    app_id: str
    tenant_id: str
    user_id: str


@dataclass
class ApiRequest:
    """One Web API call, relative to the service root."""

    method: str
    path: str  # after `/api/data/v9.2/`, percent-decoded
    query: list[tuple[str, str]]
    headers: Mapping[str, str]  # lower-case names
    prefer: Preferences
    body: bytes
    principal: Principal
    service_root: str  # e.g. https://localhost:8444/api/data/v9.2/

    def param(self, name: str) -> str | None:
        """Last value of a query option."""
        value = None
        for key, val in self.query:
            if key == name:
                value = val
        return value

    def json_body(self) -> Any:
        """Return the request body as JSON (Dataverse's error for malformed payloads)."""
        try:
            return msgspec.json.decode(self.body) if self.body else {}
        except msgspec.DecodeError as exc:
            raise DataverseError(
                400, "0x80048d19", f"Error identified in Payload provided by the user: {exc}"
            ) from None


@dataclass
class ApiResponse:
    """Status, headers and body bytes; `operations`: what the request carried (`row_cost_ms`)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    operations: int = 1


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> ApiResponse:
    """Serialise `payload` (key order preserved) the way the Web API sends JSON."""
    out = {"Content-Type": JSON, "OData-Version": "4.0", **(headers or {})}
    return ApiResponse(status, out, _encoder.encode(payload))


def collection_response(
    head: Mapping[str, Any],
    values: list[bytes],
    tail: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
) -> ApiResponse:
    """Build `{<head>, "value": [<pre-encoded entities>], <tail>}`."""
    parts = [encode_json(dict(head))[:-1], b',"value":[', b",".join(values), b"]"]
    for key, value in tail.items():
        parts += [b",", encode_json(key), b":", encode_json(value)]
    parts.append(b"}")
    out = {"Content-Type": JSON, "OData-Version": "4.0", **(headers or {})}
    return ApiResponse(200, out, b"".join(parts))


def encode_json(payload: Any) -> bytes:
    """Fast JSON encoding (msgspec)."""
    return _encoder.encode(payload)


def error_response(error: DataverseError) -> ApiResponse:
    """Dataverse's error body for `error`."""
    return json_response(error.body(), error.status, error.headers)
