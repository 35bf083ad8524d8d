"""Deterministic sample data: the same seed and sizes always give the same records.

Profiles carry an `externalId` (a D365 contact id) except roughly one in ten, which stand for
profiles created in Campaign itself (the integration must leave those alone); a few share an
email address with another profile (email is not unique in Campaign). Opt-out flags carry the
time they were set. Projects link to profiles, tasks to projects. Three services (two email
newsletters, one SMS) have every 3rd, 5th and 7th profile as subscribers. Published resources
and the stored enumerations survive a reseed (they are the data model); their tables start empty.
Built for speed like the Dataverse seed (`crm_sandbox.seeding`): rows go through `executemany`
into a fresh file, indexes come after the load, then it replaces the live one.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from operator import itemgetter
from typing import Any

from crm_sandbox.seeding import FIRST, LAST, SEED_EPOCH, SPAN, fresh_database

from . import subscriptions
from .dates import stamp
from .pkeys import Sealer
from .schema import OPT_OUTS, PROFILE, PROJECT, PROJECT_TASK, SERVICE, TIME_ZONE
from .store import Store, changed_column, columns, index_statements, q

CITIES = (
    ("Paris", "75001", "FR"),
    ("Lyon", "69001", "FR"),
    ("Berlin", "10115", "DE"),
    ("Madrid", "28001", "ES"),
    ("London", "EC1A 1BB", "GB"),
    ("Dublin", "D01 F5P2", "IE"),
    ("New York", "10001", "US"),
    ("Seattle", "98101", "US"),
    ("Toronto", "M5H 2N2", "CA"),
    ("Tokyo", "100-0001", "JP"),
)
JOBS = ("Buyer", "Engineer", "Manager", "Analyst", "Director", "Consultant", None)
# Share of profiles with each opt-out flag set, in 1024ths.
OPT_OUT_RATES = (20, 80, 30, 50, 40, 30, 30, 50)


@dataclass(frozen=True)
class SeedSizes:
    """How many records to generate."""

    profiles: int = 2000
    projects: int | None = None  # default: profiles // 4
    tasks: int | None = None  # cusProjectTask; default: 2 per project

    def resolved(self) -> dict[str, int]:
        """Concrete sizes per resource."""
        projects = self.projects if self.projects is not None else self.profiles // 4
        tasks = self.tasks if self.tasks is not None else 2 * projects
        return {"profile": self.profiles, "cusProject": projects, "cusProjectTask": tasks}


def seed_signature(sizes: SeedSizes, seed_value: int) -> str:
    """Return the `_meta.seed` value of a store seeded with these parameters."""
    return repr((seed_value, asdict(sizes)))


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _guid(rng: random.Random) -> str:
    """Return a random version-4 GUID (a D365 record id), without uuid.UUID's overhead."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def _times(rng: random.Random, i: int, n: int) -> tuple[float, float]:
    """Return (created, lastModified) epoch seconds with milliseconds; created grows with the id."""
    created = SEED_EPOCH - SPAN + (i * SPAN / max(n, 1)) + rng.random()
    modified = min(SEED_EPOCH, created + rng.random() * 90 * 86400)
    return round(created, 3), round(modified, 3)


def _profiles(rng: random.Random, sealer: Sealer, n: int) -> Iterator[dict[str, Any]]:
    zones = [v.value for v in TIME_ZONE.values]
    opt_outs = [(n, changed_column(n), r) for n, r in zip(OPT_OUTS, OPT_OUT_RATES, strict=True)]
    emails: list[str] = []
    for i in range(1, n + 1):
        bits = rng.getrandbits(64)
        first, last = FIRST[bits % len(FIRST)], LAST[(bits >> 8) % len(LAST)]
        email = f"{first}.{last}{i}@example.com".lower().replace("'", "")
        if i % 37 == 0:
            email = email.capitalize()
        if emails and i % 53 == 0:
            email = emails[(bits >> 16) % len(emails)]  # a duplicate: same address, new profile
        emails.append(email)
        created, modified = _times(rng, i, n)
        city, zip_code, country = CITIES[(bits >> 20) % len(CITIES)]
        born = (
            f"{1950 + (bits >> 24) % 55}-{1 + (bits >> 32) % 12:02d}-{1 + (bits >> 36) % 28:02d}"
            if (bits >> 40) % 5
            else None
        )
        created_at = stamp(created)
        row: dict[str, Any] = {
            "id": i,
            "pkey": sealer.pkey(PROFILE.code, i),
            "birthDate": born,
            "created": created_at,
            "lastModified": stamp(modified),
            "domain": "example.com",
            "email": email,
            "emailFormat": (bits >> 43) % 3,
            "externalId": None if rng.random() < 0.1 else _guid(rng),
            "fax": None,
            "firstName": first,
            "gender": (bits >> 45) % 3,
            "lastName": last,
            "middleName": None,
            "mobilePhone": f"+1-555-{(bits >> 47) % 10000:04d}" if (bits >> 61) % 2 else None,
            "phone": f"+1-555-{(bits >> 50) % 10000:04d}",
            "salutation": None,
            "thumbnail": None,
            "timeZone": zones[(bits >> 54) % len(zones)],
            "title": None,
            "cusCustomerSince": created_at[:10] if (bits >> 58) % 2 else None,
            "cusJobTitle": JOBS[(bits >> 59) % len(JOBS)],
            "location_address1": f"{(bits >> 30) % 200 + 1} Main Street",
            "location_address2": None,
            "location_address3": None,
            "location_address4": None,
            "location_city": city,
            "location_zipCode": zip_code,
            "location_stateCode": None,
            "location_countryCode": country,
        }
        flags = rng.getrandbits(80)  # 10 bits per opt-out flag
        for k, (name, changed, rate) in enumerate(opt_outs):
            on = (flags >> (10 * k) & 1023) < rate
            row[name] = int(on)
            row[changed] = stamp(created + (modified - created) * rng.random()) if on else None
        yield row


def _projects(
    rng: random.Random, sealer: Sealer, n: int, linkable: list[str]
) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        created, modified = _times(rng, i, n)
        yield {
            "id": i,
            "pkey": sealer.pkey(PROJECT.code, i),
            "created": stamp(created),
            "cusBudget": round(rng.random() * 100_000, 2),
            "cusCode": f"PRJ-{i:06d}",
            "cusCrmId": _guid(rng),
            "cusName": f"Project {i:05d}",
            "cusStage": rng.randrange(3),
            "cusStartDate": f"2024-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}",
            "lastModified": stamp(modified),
            "profile": rng.choice(linkable) if linkable and rng.random() < 0.9 else None,
        }


def _tasks(rng: random.Random, sealer: Sealer, n: int, projects: list[str]) -> Iterator[dict]:
    for i in range(1, n + 1):
        created, modified = _times(rng, i, n)
        yield {
            "id": i,
            "pkey": sealer.pkey(PROJECT_TASK.code, i),
            "created": stamp(created),
            "cusCrmId": _guid(rng),
            "cusDueDate": f"2025-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}",
            "cusEffort": round(rng.random() * 40, 1),
            "cusName": f"Task {i:06d}",
            "cusPriority": rng.randrange(1, 4),
            "lastModified": stamp(modified),
            "project": projects[(i - 1) % len(projects)] if projects else None,
        }


# name, label, messageType (0 email, 1 sms), start, every n-th profile subscribes
SERVICES = (
    ("SVC1", "Sport Newsletter", 0, "2019-10-06", 3),
    ("SVC2", "Product News", 0, "2020-03-01", 5),
    ("SVC3", "SMS Alerts", 1, "2021-01-15", 7),
)


def _services(sealer: Sealer) -> Iterator[dict[str, Any]]:
    for row_id, (name, label, channel, start, _) in enumerate(SERVICES, 1):
        created = stamp(SEED_EPOCH - SPAN)
        yield {
            "id": row_id,
            "pkey": sealer.pkey(SERVICE.code, row_id),
            "builtIn": 0,
            "created": created,
            "label": label,
            "lastModified": created,
            "limitedDuration": 0,
            "messageType": channel,
            "mode": 0,
            "name": name,
            "start": start,
            "subScenarioEventType": "subscriptionEvent",
            "targetResource": "profile",
        }


def _subscriptions(sealer: Sealer, profiles: int) -> Iterator[dict[str, Any]]:
    row_id = 0
    for service_id, (*_, every) in enumerate(SERVICES, 1):
        for profile_id in range(every, profiles + 1, every):
            row_id += 1
            yield {
                "id": row_id,
                "pkey": sealer.pkey(subscriptions.CODE, row_id),
                "service_id": service_id,
                "profile_id": profile_id,
                "created": stamp(SEED_EPOCH - (profile_id % 365) * 86400),
                "expirationDate": None,
            }


def _load(conn: sqlite3.Connection, name: str, names: list[str], rows: Iterator[dict]) -> None:
    sql = (
        f"INSERT INTO {q(name)} ({', '.join(map(q, names))}) VALUES ({', '.join('?' * len(names))})"
    )
    conn.executemany(sql, map(itemgetter(*names), rows))


def seed(store: Store, sizes: SeedSizes, seed_value: int = 42) -> dict[str, int]:
    """Replace all data with a deterministic sample; return the record count per resource."""
    counts = sizes.resolved()
    rng = random.Random(seed_value)
    with fresh_database(store, seed_signature(sizes, seed_value)) as conn:
        store.create_schema(conn, indexes=False)
        profiles = list(_profiles(rng, store.sealer, counts["profile"]))
        _load(conn, PROFILE.name, columns(PROFILE), iter(profiles))
        _load(conn, SERVICE.name, columns(SERVICE), _services(store.sealer))
        subscription_columns = [
            "id",
            "pkey",
            "service_id",
            "profile_id",
            "created",
            "expirationDate",
        ]
        _load(
            conn,
            subscriptions.TABLE,
            subscription_columns,
            _subscriptions(store.sealer, len(profiles)),
        )
        linkable = [p["pkey"] for p in profiles if p["externalId"]]
        projects = list(_projects(rng, store.sealer, counts["cusProject"], linkable))
        _load(conn, PROJECT.name, columns(PROJECT), iter(projects))
        tasks = _tasks(rng, store.sealer, counts["cusProjectTask"], [p["pkey"] for p in projects])
        _load(conn, PROJECT_TASK.name, columns(PROJECT_TASK), tasks)
        store.model.copy_to(conn)
        for resource in store.model.resources.values():
            for stmt in index_statements(resource):
                conn.execute(stmt)
    return {**counts, SERVICE.name: len(SERVICES), **dict.fromkeys(store.model.definitions, 0)}
