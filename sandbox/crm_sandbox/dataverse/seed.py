"""Deterministic sample data: the same seed and sizes always give the same rows.

Built for speed (a million contacts in well under a minute): ids and values are drawn from one
`random.Random`, rows go through `executemany` into a fresh database file (no journal, no fsync),
indexes are created after the load, and the file then replaces the live one
(`crm_sandbox.seeding.fresh_database`). Besides the sample rows it holds the owners: the
application user of the sandbox app registration (WhoAmI's UserId) and one team.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import date
from operator import itemgetter
from typing import Any

from crm_sandbox.seeding import FIRST, LAST, SEED_EPOCH, SPAN, fresh_database

from .config import APPS, DEFAULT_TEAM_ID, TENANT_ID, RegisteredApp
from .schema import Table
from .store import Store, index_statements, q, storage_columns, target_column

CITIES = [
    "Berlin",
    "Paris",
    "London",
    "Madrid",
    "Rome",
    "Vienna",
    "Dublin",
    "Lisbon",
    "Oslo",
    "Prague",
    "Warsaw",
    "Zurich",
]
JOBS = ("Buyer", "Engineer", "Manager", "Analyst", "Director", "Consultant", "Owner", None)
COMPANIES = [
    "Contoso",
    "Fabrikam",
    "Litware",
    "Northwind",
    "Tailspin",
    "Woodgrove",
    "Adatum",
    "Proseware",
    "Relecloud",
]
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
INDUSTRIES = (1, 7, 19, 33, None)
STAGES = (100000000, 100000001, 100000002)
PRIORITIES = (100000000, 100000001, 100000002, None)


@dataclass(frozen=True)
class SeedSizes:
    """How many rows of each table to generate."""

    contacts: int = 2000
    accounts: int | None = None  # default: contacts // 10
    projects: int | None = None  # default: contacts // 4
    tasks: int | None = None  # default: 2 per project
    categories: int = 12
    salesorders: int | None = None  # default: contacts // 2

    def resolved(self) -> dict[str, int]:
        """Concrete sizes per table logical name."""
        accounts = self.accounts if self.accounts is not None else max(1, self.contacts // 10)
        projects = self.projects if self.projects is not None else self.contacts // 4
        tasks = self.tasks if self.tasks is not None else projects * 2
        return {
            "account": accounts,
            "contact": self.contacts,
            "new_project": projects,
            "new_projecttask": tasks,
            "new_category": self.categories,
            "salesorder": self.salesorders if self.salesorders is not None else self.contacts // 2,
        }


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_DAYS: dict[int, str] = {}


def _stamp(ts: int) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` for epoch seconds, ~5x faster than strftime (dates cached)."""
    days, rem = divmod(ts, 86400)
    day = _DAYS.get(days)
    if day is None:
        day = _DAYS[days] = date.fromordinal(719163 + days).isoformat()
    return f"{day}T{rem // 3600:02d}:{rem // 60 % 60:02d}:{rem % 60:02d}Z"


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.version = 0

    def ids(self, n: int) -> list[str]:
        """Random (version 4 shaped) GUIDs."""
        bits, var = self.rng.getrandbits, _VARIANT
        out = []
        for _ in range(n):
            h = f"{bits(128):032x}"
            out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{var[h[16]]}{h[17:20]}-{h[20:]}")
        return out

    def stamps(self, n: int) -> Iterator[tuple[str, str, int]]:
        """(createdon, modifiedon, versionnumber), ascending modifiedon/version."""
        rng = self.rng
        start = int(SEED_EPOCH) - SPAN
        step = SPAN / max(n, 1)
        for i in range(n):
            modified = start + int(i * step)
            created = modified - int(rng.random() * 60 * 86400)
            self.version += 1
            yield _stamp(created), _stamp(modified), self.version


def _accounts(
    g: _Gen, ids: list[str], contact_ids: list[str], owner: str
) -> Iterator[dict[str, Any]]:
    rng = g.rng
    for i, (pk, (created, modified, version)) in enumerate(
        zip(ids, g.stamps(len(ids)), strict=True)
    ):
        company = COMPANIES[i % len(COMPANIES)]
        yield {
            "accountid": pk,
            "name": f"{company} {i + 1:05d}",
            "accountnumber": f"ACC-{i + 1:06d}",
            "emailaddress1": f"info{i + 1}@{company.lower()}.example.com",
            "revenue": round(rng.random() * 5_000_000, 2),
            "numberofemployees": rng.randrange(1, 5000),
            "industrycode": INDUSTRIES[rng.randrange(len(INDUSTRIES))],
            "primarycontactid": rng.choice(contact_ids)
            if contact_ids and rng.random() < 0.7
            else None,
            "primarycontactid__target": "contact",
            "ownerid": owner,
            "statecode": 0,
            "statuscode": 1,
            "createdon": created,
            "modifiedon": modified,
            "versionnumber": version,
        }


def _contacts(
    g: _Gen, ids: list[str], account_ids: list[str], owner: str
) -> Iterator[dict[str, Any]]:
    rng = g.rng
    nf, nl = len(FIRST), len(LAST)
    for i, (pk, (created, modified, version)) in enumerate(
        zip(ids, g.stamps(len(ids)), strict=True)
    ):
        bits, flags = rng.getrandbits(64), rng.getrandbits(64)
        first, last = FIRST[bits % nf], LAST[(bits >> 8) % nl]
        inactive = (bits >> 16) % 20 == 0
        email_ok = (bits >> 22) % 25 != 0
        year, month, day = 1950 + (bits >> 24) % 55, 1 + (bits >> 32) % 12, 1 + (bits >> 36) % 28
        yield {
            "contactid": pk,
            "firstname": first,
            "lastname": last,
            "fullname": f"{first} {last}",
            "emailaddress1": (
                f"{first}.{last}{i + 1}@example.com".lower().replace("'", "") if email_ok else None
            ),
            "telephone1": f"+1-555-{(bits >> 40) % 10000:04d}",
            "jobtitle": JOBS[(bits >> 44) % len(JOBS)],
            "address1_city": CITIES[(bits >> 48) % len(CITIES)],
            "description": None,
            "birthdate": f"{year:04d}-{month:02d}-{day:02d}" if (bits >> 52) % 5 else None,
            "gendercode": (None, 1, 2)[(bits >> 54) % 3],
            "annualincome": float((bits >> 30) % 200_000) if (bits >> 56) % 3 else None,
            "numberofchildren": (bits >> 57) % 4,
            "parentcustomerid": account_ids[(bits >> 10) % len(account_ids)]
            if account_ids and (bits >> 59) % 10
            else None,
            "parentcustomerid__target": "account",
            "donotemail": (flags & 1023) < 102,
            "donotbulkemail": (flags >> 10 & 1023) < 154,
            "donotphone": (flags >> 20 & 1023) < 102,
            "donotfax": (flags >> 30 & 1023) < 307,
            "donotpostalmail": (flags >> 40 & 1023) < 102,
            "donotbulkpostalmail": (flags >> 50 & 1023) < 102,
            "donotsendmm": (flags >> 60) < 2,
            "followemail": (bits >> 62) != 0,
            "ownerid": owner,
            "statecode": 1 if inactive else 0,
            "statuscode": 2 if inactive else 1,
            "createdon": created,
            "modifiedon": modified,
            "versionnumber": version,
        }


def _projects(
    g: _Gen, ids: list[str], contact_ids: list[str], owner: str
) -> Iterator[dict[str, Any]]:
    rng = g.rng
    for i, (pk, (created, modified, version)) in enumerate(
        zip(ids, g.stamps(len(ids)), strict=True)
    ):
        channels = sorted(rng.sample(range(100000000, 100000004), rng.randrange(0, 4)))
        yield {
            "new_projectid": pk,
            "new_name": f"Project {i + 1:05d}",
            "new_code": f"PRJ-{i + 1:06d}",
            "new_contactid": rng.choice(contact_ids)
            if contact_ids and rng.random() < 0.9
            else None,
            "new_contactid__target": "contact",
            "new_stage": STAGES[rng.randrange(3)],
            "new_channels": ",".join(map(str, channels)) or None,
            "new_priority": PRIORITIES[rng.randrange(4)],
            "new_budget": round(rng.random() * 100_000, 2),
            "new_startdate": f"2024-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}",
            "ownerid": owner,
            "statecode": 0,
            "statuscode": 1,
            "createdon": created,
            "modifiedon": modified,
            "versionnumber": version,
        }


def _tasks(g: _Gen, ids: list[str], project_ids: list[str], owner: str) -> Iterator[dict[str, Any]]:
    rng = g.rng
    for i, (pk, (created, modified, version)) in enumerate(
        zip(ids, g.stamps(len(ids)), strict=True)
    ):
        yield {
            "new_projecttaskid": pk,
            "new_name": f"Task {i + 1:06d}",
            "new_projectid": project_ids[i % len(project_ids)] if project_ids else None,
            "new_projectid__target": "new_project",
            "new_hours": round(rng.random() * 40, 2),
            "new_priority": PRIORITIES[rng.randrange(4)],
            "ownerid": owner,
            "statecode": 0,
            "statuscode": 1,
            "createdon": created,
            "modifiedon": modified,
            "versionnumber": version,
        }


def _categories(g: _Gen, ids: list[str], _: list[str], owner: str) -> Iterator[dict[str, Any]]:
    for i, (pk, (created, modified, version)) in enumerate(
        zip(ids, g.stamps(len(ids)), strict=True)
    ):
        yield {
            "new_categoryid": pk,
            "new_name": f"Category {i + 1:02d}",
            "new_colour": COLOURS[i % len(COLOURS)],
            "ownerid": owner,
            "statecode": 0,
            "statuscode": 1,
            "createdon": created,
            "modifiedon": modified,
            "versionnumber": version,
        }


SHIPPING = (1, 2, 3, 4, 5, 6, 7, None)
PAYMENT_TERMS = (1, 2, 3, 4, None)
#: (statecode, statuscode) of the seeded orders, weighted: mostly fulfilled or invoiced.
ORDER_STATUSES = (
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (3, 100001),
    (3, 100001),
    (3, 100002),
    (4, 100003),
    (4, 100003),
)


def _salesorders(
    g: _Gen, ids: list[str], customers: tuple[list[str], list[str]], owner: str
) -> Iterator[dict[str, Any]]:
    """Orders, each for a contact (3 in 4) or an account, with amounts and Sales statuses.

    `customerid` points at the customer; `accountid` / `contactid` (read-only in Dynamics 365)
    hold the same id on the side of the customer's table.
    """
    rng = g.rng
    accounts, contacts = customers
    for i, (pk, (created, modified, version)) in enumerate(
        zip(ids, g.stamps(len(ids)), strict=True)
    ):
        bits = rng.getrandbits(64)
        on_contact = bool(contacts) and (not accounts or bits % 4 != 0)
        pool = contacts if on_contact else accounts
        customer = pool[(bits >> 2) % len(pool)] if pool else None
        table = "contact" if on_contact else "account"
        lines = round(50 + rng.random() * 4950, 2)
        discount = round(lines * ((bits >> 20) % 4) * 0.05, 2)
        freight = round(((bits >> 24) % 5) * 7.5, 2)
        tax = round((lines - discount) * 0.2, 2)
        state, status = ORDER_STATUSES[(bits >> 28) % len(ORDER_STATUSES)]
        fulfilled = modified[:10] if state in (3, 4) else None
        yield {
            "salesorderid": pk,
            "name": f"Order {i + 1:06d}",
            "ordernumber": f"ORD-{i + 1:06d}",
            "customerid": customer,
            "customerid__target": table,
            "accountid": customer if table == "account" else None,
            "accountid__target": "account",
            "contactid": customer if table == "contact" else None,
            "contactid__target": "contact",
            "description": None,
            "emailaddress": None,
            "totalamount": round(lines - discount + freight + tax, 2),
            "totallineitemamount": lines,
            "totaltax": tax,
            "discountamount": discount or None,
            "freightamount": freight,
            "discountpercentage": None,
            "exchangerate": 1.0,
            "datefulfilled": fulfilled,
            "submitdate": created[:10] if state else None,
            "requestdeliveryby": None,
            "prioritycode": 1,
            "shippingmethodcode": SHIPPING[(bits >> 32) % len(SHIPPING)],
            "paymenttermscode": PAYMENT_TERMS[(bits >> 36) % len(PAYMENT_TERMS)],
            "willcall": (bits >> 40) % 10 == 0,
            "ispricelocked": state in (3, 4),
            "ownerid": owner,
            "statecode": state,
            "statuscode": status,
            "createdon": created,
            "modifiedon": modified,
            "versionnumber": version,
        }


def _systemusers(g: _Gen, apps: list[RegisteredApp]) -> Iterator[dict[str, Any]]:
    """Yield the application users of the organisation's own app registrations."""
    for app, (created, modified, version) in zip(apps, g.stamps(len(apps)), strict=True):
        yield {
            "systemuserid": app.user_id,
            "fullname": app.user_name,
            "applicationid": app.client_id,
            "createdon": created,
            "modifiedon": modified,
            "versionnumber": version,
        }


def _teams(g: _Gen) -> Iterator[dict[str, Any]]:
    """Yield the business unit's default team."""
    created, modified, version = next(g.stamps(1))
    yield {
        "teamid": DEFAULT_TEAM_ID,
        "name": "CRM Sandbox",
        "createdon": created,
        "modifiedon": modified,
        "versionnumber": version,
    }


_Rows = Callable[[_Gen, list[str], list[str], str], Iterator[dict[str, Any]]]


def _load(conn: sqlite3.Connection, table: Table, rows: Iterator[dict[str, Any]]) -> None:
    """Insert generated rows; each generator yields every storage column (KeyError otherwise)."""
    names = [n for n, _ in storage_columns(table)]
    getter = itemgetter(*names)
    lookups = [(c.logical_name, target_column(c)) for c in table.columns if c.is_lookup]

    def tuples() -> Iterator[tuple[Any, ...]]:
        for row in rows:
            row["ownerid__target"] = "systemuser"
            for col, tcol in lookups:
                if row[col] is None:
                    row[tcol] = None
            yield getter(row)

    sql = (
        f"INSERT INTO {q(table.logical_name)} ({', '.join(map(q, names))})"
        f" VALUES ({', '.join('?' * len(names))})"
    )
    conn.executemany(sql, tuples())


def seed(store: Store, sizes: SeedSizes, seed_value: int = 42) -> dict[str, int]:
    """Replace all data with a deterministic sample; return the row count per table."""
    counts = sizes.resolved()
    orders = counts.pop("salesorder")
    g = _Gen(seed_value)
    ids = {name: g.ids(n) for name, n in counts.items()}
    owner = APPS[0].user_id
    plan: list[tuple[str, _Rows, str]] = [
        ("account", _accounts, "contact"),
        ("contact", _contacts, "account"),
        ("new_project", _projects, "contact"),
        ("new_projecttask", _tasks, "new_project"),
        ("new_category", _categories, "new_category"),
    ]
    users = [app for app in APPS if app.tenant_id == TENANT_ID]
    with fresh_database(store, seed_signature(sizes, seed_value)) as conn:
        store.create_schema(conn, indexes=False)
        for name, make, related in plan:
            _load(conn, store.table(name), make(g, ids[name], ids[related], owner))
        _load(conn, store.table("systemuser"), _systemusers(g, users))
        _load(conn, store.table("team"), _teams(g))
        # Drawn last, so the other tables' rows do not depend on the number of orders.
        customers = (ids["account"], ids["contact"])
        _load(conn, store.table("salesorder"), _salesorders(g, g.ids(orders), customers, owner))
        for table in store.tables:
            for stmt in index_statements(table):
                conn.execute(stmt)
    return {**counts, "systemuser": len(users), "team": 1, "salesorder": orders}


def seed_signature(sizes: SeedSizes, seed_value: int) -> str:
    """Return the `_meta.seed` value a store seeded with these parameters carries.

    The application users count too: a store seeded before one was added lacks its systemuser.
    """
    return repr((seed_value, asdict(sizes), [app.client_id for app in APPS]))
