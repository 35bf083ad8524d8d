"""The SDK's standard target tests that apply to a target with fixed streams.

The streams are `profiles` and `email_events`.

Curated like target-adobe-campaign's. Left out, because their input streams
(`test_array_data`, `TestCamelcase`, …) carry no Campaign profile and no Dynamics 365
contact id: every data test (array data, camelcase, duplicates, encoded strings, no or
updated primary keys, optional attributes, missing fields, schema updates, special chars,
schemas without properties, multiple STATE messages). Routed to `profiles` they would only
be skipped (no `externalId`) or rejected (not a contact id); the `profiles` behaviour is
covered against the sandbox in test_optouts.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import (
    TargetCliPrintsTest,
    TargetInvalidSchemaTest,
    TargetRecordBeforeSchemaTest,
)
from target_dynamics365.target import TargetDynamics365

from .conftest import CONNECTION

CONFIG = {
    **CONNECTION,
    "rejects_file": str(Path(tempfile.mkdtemp(prefix="target-dynamics365-")) / "rejects.jsonl"),
    # Route the two streams to the sink, so the SDK (not the routing) is what must refuse them.
    "stream_maps": {
        "test_invalid_schema": {"__alias__": "profiles"},
        "test_record_before_schema": {"__alias__": "profiles"},
    },
}

CURATED = SingerTestSuite(
    kind="target",
    tests=[TargetCliPrintsTest, TargetInvalidSchemaTest, TargetRecordBeforeSchemaTest],
)


class TestTargetDynamics365(
    get_target_test_class(
        TargetDynamics365, config=CONFIG, include_target_tests=False, custom_suites=[CURATED]
    )
):
    """Standard tests; rejects go to a temporary folder."""
