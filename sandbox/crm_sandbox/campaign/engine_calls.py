"""Engine-call accounting per Adobe's D365-integration guardrails.

"Record inserts … 1 engine call; Record deletes: 1; Record updates: 2 engine calls (only 1 call
if the destination record is identical to the source record)". Only REST writes count; admin
mutations stand for Campaign-side activity and are free.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

COST = {"insert": 1, "delete": 1, "update": 2, "identical_update": 1}


class EngineCalls:
    """Counts write operations and the engine calls they cost."""

    def __init__(self) -> None:
        """Start at zero."""
        self.operations: Counter[tuple[str, str]] = Counter()

    def record(self, resource: str, operation: str) -> None:
        """Count one operation (`insert`, `delete`, `update`, `identical_update`)."""
        self.operations[(resource, operation)] += 1

    def reset(self) -> None:
        """Back to zero."""
        self.operations.clear()

    def snapshot(self) -> dict[str, Any]:
        """`total` engine calls, operation counts, and both per resource."""
        by_resource: dict[str, dict[str, int]] = {}
        totals: Counter[str] = Counter()
        calls = 0
        for (resource, operation), n in self.operations.items():
            entry = by_resource.setdefault(resource, {"total": 0})
            entry[operation] = entry.get(operation, 0) + n
            entry["total"] += n * COST[operation]
            totals[operation] += n
            calls += n * COST[operation]
        return {
            "total": calls,
            **{op: totals.get(op, 0) for op in COST},
            "by_resource": by_resource,
        }
