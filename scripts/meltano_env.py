"""The environment the project's own tools (the demo, the end-to-end tests) run Meltano in.

Clean of the caller's plugin settings: a developer's `TARGET_ADOBE_CAMPAIGN_DRY_RUN` or
`TAP_DYNAMICS365_CLIENT_SECRET` must not leak into a run against the sandbox, and neither
must `MELTANO_*` variables such as `MELTANO_ENVIRONMENT`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Inherited variables Meltano must not see: the plugins' settings and Meltano's own.
DROPPED_PREFIXES = (
    "TAP_DYNAMICS365_",
    "TAP_ADOBE_CAMPAIGN_",
    "TARGET_JSONL_",
    "TARGET_ADOBE_CAMPAIGN_",
    "TARGET_DYNAMICS365_",
    "MELTANO_",
)
#: What the Makefile exports to every command (set again after the `MELTANO_*` are dropped).
MAKEFILE_ENV = {
    "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
}


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the caller's environment less plugin and Meltano settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_PREFIXES)}
    return {**env, **MAKEFILE_ENV, **(extra or {})}
