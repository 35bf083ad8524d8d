"""Settings every vendor client shares: the CA bundle to trust and the request timeout."""

from __future__ import annotations

import typing as t
from pathlib import Path

from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from collections.abc import Mapping

CA_BUNDLE_SETTING = th.Property(
    "ca_bundle",
    th.StringType,
    description="Path to a CA bundle (PEM) to verify TLS with, e.g. the sandbox CA; "
    "default: the system CAs",
)
REQUEST_TIMEOUT_SETTING = th.Property(
    "request_timeout",
    th.IntegerType(minimum=1),
    default=300,
    description="HTTP request timeout in seconds",
)


def ca_bundle_errors(config: Mapping[str, t.Any]) -> list[str]:
    """Return the problem of a configured `ca_bundle` that is not a file, if any."""
    bundle = config.get("ca_bundle")
    if bundle and not Path(bundle).is_file():
        return [f"ca_bundle must be a CA bundle file, got '{bundle}'"]
    return []
