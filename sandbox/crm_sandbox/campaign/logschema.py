"""Marketing data tables (campaigns, deliveries, delivery and tracking logs, the event journal).

Column names are Adobe's attribute names (`nms:broadLogRcp`, `nms:trackingLogRcp`, as in the
privacy access file and the reporting formulas): `delivery-id`, `recipient-id`, `status`,
`failureType`, `failureReason`, `eventDate`, `lastModified`, `url-id`, `logDate`, …; codes are
Campaign's. `urlType` on a tracking log copies the type of its tracked URL (`nms:trackingUrl`
`@type` in Campaign, a table of its own there). None of this is a REST resource in Campaign:
it is reached through the admin API and the I/O Events journal only.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

# broadLogRcp @status
SENT = 1
FAILED = 2
# broadLogRcp @failureType
SOFT = 1
HARD = 2
IGNORED = 3
FAILURE_TYPES = {"soft": SOFT, "hard": HARD, "ignored": IGNORED}


@dataclass(frozen=True)
class FailureReason:
    """A `@failureReason` code with its label and a bounce message an MTA might give."""

    code: int
    label: str
    message: str  # `{address}` is replaced


FAILURE_REASONS: dict[int, FailureReason] = {
    r.code: r
    for r in (
        FailureReason(1, "User unknown", "550 5.1.1 <{address}>: Recipient address rejected"),
        FailureReason(2, "Invalid domain", "Host not found for domain of <{address}>"),
        FailureReason(3, "Unreachable", "421 4.4.2 Connection timed out for <{address}>"),
        FailureReason(4, "Account disabled", "550 5.2.1 <{address}>: Mailbox disabled"),
        FailureReason(5, "Mailbox full", "452 4.2.2 <{address}>: Mailbox full"),
        FailureReason(6, "Not connected", "Mobile not connected"),
        FailureReason(8, "Address on denylist", "Address <{address}> is on the denylist"),
        FailureReason(20, "Refused", "554 5.7.1 <{address}>: Message refused"),
    )
}
# Reasons a simulated bounce of each type picks from (Adobe's failure type list).
REASONS_BY_TYPE = {HARD: (1, 1, 1, 4), SOFT: (5, 5, 2, 3, 20), IGNORED: (6,)}

# nms:trackingUrl @type; url-id 1 is the open pseudo-URL (label "Open").
URL_CLICK = 1
URL_OPEN = 2
URL_OPT_OUT = 3
URL_MIRROR_PAGE = 6
OPEN_URL_ID = 1
URL_CATEGORIES = {
    URL_CLICK: "click",
    URL_OPEN: "open",
    URL_OPT_OUT: "optout",
    URL_MIRROR_PAGE: "mirrorPage",
}
URL_LABELS = {
    URL_CLICK: "Click",
    URL_OPEN: "Open",
    URL_OPT_OUT: "Opt-out",
    URL_MIRROR_PAGE: "Mirror page",
}

TABLES = ("nmsOperation", "nmsDelivery", "broadLogRcp", "trackingLogRcp", "_journal")

DDL = (
    """CREATE TABLE IF NOT EXISTS "nmsOperation" (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        "internalName" TEXT NOT NULL UNIQUE,
        label TEXT,
        created TEXT)""",
    """CREATE TABLE IF NOT EXISTS "nmsDelivery" (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        "internalName" TEXT NOT NULL UNIQUE,
        label TEXT,
        "operation-id" INTEGER,
        "messageType" INTEGER NOT NULL DEFAULT 0,
        "mirrorPageUrl" TEXT,
        created TEXT,
        "lastModified" TEXT)""",
    """CREATE TABLE IF NOT EXISTS "broadLogRcp" (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        "delivery-id" INTEGER NOT NULL,
        "recipient-id" INTEGER NOT NULL,
        address TEXT,
        status INTEGER NOT NULL,
        "failureType" INTEGER,
        "failureReason" INTEGER,
        message TEXT,
        "msg-id" TEXT,
        "eventDate" TEXT,
        "contactDate" TEXT,
        "lastModified" TEXT)""",
    'CREATE INDEX IF NOT EXISTS "broadLogRcp__delivery" ON "broadLogRcp" ("delivery-id")',
    """CREATE TABLE IF NOT EXISTS "trackingLogRcp" (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        "broadLog-id" INTEGER NOT NULL,
        "delivery-id" INTEGER NOT NULL,
        "recipient-id" INTEGER NOT NULL,
        "url-id" INTEGER NOT NULL,
        "urlType" INTEGER NOT NULL,
        "urlLabel" TEXT,
        "urlSource" TEXT,
        "sourceType" TEXT,
        "userAgent" TEXT,
        "trackedDevice" TEXT,
        "logDate" TEXT)""",
    'CREATE INDEX IF NOT EXISTS "trackingLogRcp__delivery" ON "trackingLogRcp" ("delivery-id")',
    """CREATE TABLE IF NOT EXISTS "_journal" (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        unit INTEGER NOT NULL,
        written REAL NOT NULL,
        type TEXT NOT NULL,
        event TEXT NOT NULL)""",
    'CREATE INDEX IF NOT EXISTS "_journal__written" ON "_journal" (written)',
)


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the marketing tables and the journal if missing."""
    for stmt in DDL:
        conn.execute(stmt)
