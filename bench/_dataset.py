"""The realistic data set of the read benchmarks, bulk-loaded with COPY and kept between runs.

10 marketplaces; 10,000 provider companies (one user each), each a member of 5 marketplaces
(50,000 memberships, 3 services each); 20,000 clients; 200,000 requests, each sent to 3
providers of its marketplace; 500,000 interventions; one staff-provider conversation per
membership with 20 messages each (1,000,000 messages). Everything is derived from a fixed
seed, so two runs on the same schema read the same rows.

The database is ``presta_bench_data_<hash>``, the hash covering the migration and this
generator: it is built once (about a minute) and reused while neither changes. Each run notes
when it used its database (the database's comment); a data set of another hash is dropped once
unused for ``KEEP_UNUSED`` (550 MB each), not at once: two checkouts of different schemas,
benchmarked in turn on one machine, would otherwise drop each other's, even mid-run.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench._servers import ROOT, admin_url, database_url

MARKETPLACES = 10
COMPANIES = 10_000
MEMBERSHIPS_PER_COMPANY = 5
SERVICES_PER_MARKETPLACE = 20
CLIENTS = 20_000
REQUESTS = 200_000
DISPATCHES_PER_REQUEST = 3
INTERVENTIONS = 500_000
MESSAGES_PER_CONVERSATION = 20
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_VERSION = "1"
KEEP_UNUSED = timedelta(days=1)
Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class Dataset:
    url: str
    slug: str  # the marketplace the workloads act in
    marketplace_id: int
    provider_user_ids: list[int]  # provider users with an accepted membership there
    staff_user_id: int


def _name() -> str:
    digest = hashlib.sha256(_VERSION.encode())
    # Every migration: an index added later changes what the reads cost.
    for migration in sorted((ROOT / "models" / "migrations").glob("0*.py")):
        digest.update(migration.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return f"presta_bench_data_{digest.hexdigest()[:12]}"


async def ensure() -> Dataset:
    """The data set's database, built now if the schema or the generator changed."""
    name = _name()
    url = database_url(name)
    admin = await asyncpg.connect(admin_url())
    try:
        found = await admin.fetch(
            "SELECT datname, shobj_description(oid, 'pg_database') AS used FROM pg_database"
        )
        names = [r["datname"] for r in found]
        now = datetime.now(UTC)
        for row in found:
            old = row["datname"]
            unused = now - _used_at(row["used"]) >= KEEP_UNUSED
            if old.startswith("presta_bench_data_") and old != name and unused:
                await admin.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
        ready = False
        if name in names:
            conn = await asyncpg.connect(url)
            try:
                ready = bool(await conn.fetchval("SELECT to_regclass('bench_ready') IS NOT NULL"))
            finally:
                await conn.close()
            if not ready:
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if not ready:
            await admin.execute(f'CREATE DATABASE "{name}"')
            print(f"[bench] building {name} (once per schema) ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            await _build(url)
            print(f"[bench] built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        await admin.execute(f"COMMENT ON DATABASE \"{name}\" IS 'used {now.isoformat()}'")
    finally:
        await admin.close()
    conn = await asyncpg.connect(url)
    try:
        market = await conn.fetchrow("SELECT id, slug FROM marketplace ORDER BY id LIMIT 1")
        users = await conn.fetch(
            "SELECT u.id FROM account_user u JOIN membership m ON m.company_id = "
            "u.provider_company_id WHERE m.marketplace_id = $1 AND m.status = 'ACCEPTED' "
            "ORDER BY u.id",
            market["id"],
        )
        staff = await conn.fetchval(
            "SELECT user_id FROM account_staff_member WHERE marketplace_id = $1 LIMIT 1",
            market["id"],
        )
    finally:
        await conn.close()
    return Dataset(url, market["slug"], market["id"], [r["id"] for r in users], staff)


def _used_at(comment: str | None) -> datetime:
    """When a data set was last used, from its comment (never noted: long ago)."""
    if comment and comment.startswith("used "):
        try:
            return datetime.fromisoformat(comment.removeprefix("used "))
        except ValueError:
            pass
    return datetime.min.replace(tzinfo=UTC)


async def _build(url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESTA_")}
    env.update(PRESTA_DATABASE_URL=url, PRESTA_LOG_LEVEL="WARNING")
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "service.cli", "migrate"],
        env=env, cwd=ROOT, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    conn = await asyncpg.connect(url)
    try:
        # Rows are consistent by construction: skip the per-row foreign key triggers.
        await conn.execute("SET session_replication_role = replica")
        for table, columns, records in _tables():
            await conn.copy_records_to_table(table, records=records, columns=columns)
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        await conn.execute("SET session_replication_role = DEFAULT")
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CREATE TABLE bench_ready (built_at timestamptz DEFAULT now())")
    finally:
        await conn.close()


def _tables() -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
    rng = random.Random(8)
    t0 = EPOCH
    out: list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]] = []

    def add(table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        out.append((table, tuple(columns.split()), rows))

    add(
        "marketplace",
        "id name slug dispatch_enabled proposals_required days_before_sending "
        "days_before_reminder max_reminder_rounds default_commission_rate "
        "direct_messages_allowed terms_grace_days public_applications_enabled time_zone "
        "created_at",
        [
            (m, f"Market {m}", f"bench-{m}", True, 3, 3, 2, 3, 0.15, True, 30, False,
             "Europe/Paris", t0)
            for m in range(1, MARKETPLACES + 1)
        ],
    )  # fmt: skip
    services = {
        m: list(range((m - 1) * SERVICES_PER_MARKETPLACE + 1, m * SERVICES_PER_MARKETPLACE + 1))
        for m in range(1, MARKETPLACES + 1)
    }
    add(
        "service",
        "id name category description archived_at created_at marketplace_id",
        [(s, f"Service {s}", "Home", "", None, t0, m) for m, ss in services.items() for s in ss],
    )
    add(
        "provider_company",
        "id name siret email phone listed_in_directory created_at",
        [
            (c, f"Provider {c}", f"{c:014d}", f"p{c}@bench.test", "0102030405", True, t0)
            for c in range(1, COMPANIES + 1)
        ],
    )
    hashed = "bench-no-password"
    add(
        "account_user",
        "id email password_hash full_name is_platform_admin is_active created_at "
        "provider_company_id",
        [
            (c, f"p{c}@bench.test", hashed, f"Provider user {c}", False, True, t0, c)
            for c in range(1, COMPANIES + 1)
        ]
        + [
            (COMPANIES + m, f"staff{m}@bench.test", hashed, f"Staff {m}", False, True, t0, None)
            for m in range(1, MARKETPLACES + 1)
        ],
    )
    add(
        "account_staff_member",
        "id role created_at marketplace_id user_id",
        [(m, "ADMIN", t0, m, COMPANIES + m) for m in range(1, MARKETPLACES + 1)],
    )
    memberships: dict[int, list[int]] = {m: [] for m in range(1, MARKETPLACES + 1)}
    member_rows: Rows = []
    offer_rows: Rows = []
    for c in range(1, COMPANIES + 1):
        for j in range(MEMBERSHIPS_PER_COMPANY):
            m = (c + j) % MARKETPLACES + 1
            mid = len(member_rows) + 1
            status = "ACCEPTED" if rng.random() < 0.85 else rng.choice(["APPLIED", "SUSPENDED"])
            applied = t0 - timedelta(days=rng.randint(30, 700))
            member_rows.append((mid, status, 1, applied, applied, applied, t0, c, m))
            memberships[m].append(mid)
            for s in rng.sample(services[m], 3):
                offer_rows.append((len(offer_rows) + 1, "ACCEPTED", "", t0, mid, s))
    add(
        "membership",
        "id status terms_version_accepted applied_at decided_at created_at updated_at "
        "company_id marketplace_id",
        member_rows,
    )
    add("provider_service", "id status reason updated_at membership_id service_id", offer_rows)
    clients = {m: list(range(m, CLIENTS + 1, MARKETPLACES)) for m in range(1, MARKETPLACES + 1)}
    add(
        "account_client",
        "id full_name email phone created_at marketplace_id user_id invitation_sent_count",
        [
            (c, f"Client {c}", f"c{c}@bench.test", "06", t0, (c - 1) % MARKETPLACES + 1, None, 0)
            for c in range(1, CLIENTS + 1)
        ],
    )
    request_rows: Rows = []
    dispatch_rows: Rows = []
    statuses = ["OPEN", "PROPOSAL_SENT", "ACCEPTED", "CANCELLED", "EXPIRED"]
    for r in range(1, REQUESTS + 1):
        m = (r - 1) % MARKETPLACES + 1
        created = t0 - timedelta(minutes=REQUESTS - r)
        request_rows.append(
            (r, rng.choice(statuses), f"75{r % 20:03d}", "Paris", "", None, None,
             f"Request {r}", None, None, None, 1, created, None, None, "", None, created,
             created, rng.choice(clients[m]), None, m, None, rng.choice(services[m]))
        )  # fmt: skip
        for mid in rng.sample(memberships[m], DISPATCHES_PER_REQUEST):
            answered = rng.random() < 0.5
            dispatch_rows.append(
                (len(dispatch_rows) + 1, 1, "INTERESTED" if answered else "PENDING",
                 "Available" if answered else "", 80 if answered else None,
                 created if answered else None, None, created, created, None, mid, r)
            )  # fmt: skip
    add(
        "service_request",
        "id status postal_code city address_line latitude longitude description wished_start "
        "frequency duration_minutes round round_started_at send_proposal_at remind_at "
        "cancel_reason closed_at created_at updated_at client_id created_by_id marketplace_id "
        "selected_membership_id service_id",
        request_rows,
    )
    add(
        "dispatch",
        "id round status message price answered_at proposed_at created_at updated_at "
        "assigned_by_id membership_id request_id",
        dispatch_rows,
    )
    membership_market = {mid: m for m, mids in memberships.items() for mid in mids}
    all_memberships = list(membership_market)
    intervention_rows: Rows = []
    for i in range(1, INTERVENTIONS + 1):
        mid = rng.choice(all_memberships)
        m = membership_market[mid]
        starts = t0 + timedelta(hours=rng.randint(-24 * 365, 24 * 365))
        status = "SCHEDULED" if starts > t0 else "DONE"
        intervention_rows.append(
            (i, status, starts, starts + timedelta(hours=2), 90, 0.15, "", "", 1, None, None,
             None, t0, t0, rng.choice(clients[m]), m, mid, None, rng.choice(services[m]))
        )  # fmt: skip
    add(
        "intervention",
        "id status starts_at ends_at price commission_rate cancel_reason series_key occurrence "
        "started_at completed_at cancelled_at created_at updated_at client_id marketplace_id "
        "membership_id request_id service_id",
        intervention_rows,
    )
    conversation_rows: Rows = []
    message_rows: Rows = []
    participant_rows: Rows = []
    for mid, m in membership_market.items():
        company = (mid - 1) // MEMBERSHIPS_PER_COMPANY + 1
        first = len(message_rows) + 1
        for n in range(MESSAGES_PER_CONVERSATION):
            staff = n % 2 == 0
            message_rows.append(
                (first + n, "STAFF" if staff else "PROVIDER",
                 f"Staff {m}" if staff else f"Provider user {company}", f"Message {n} about "
                 "the documents", t0 + timedelta(minutes=n), mid,
                 COMPANIES + m if staff else company)
            )  # fmt: skip
        last = first + MESSAGES_PER_CONVERSATION - 1
        conversation_rows.append(
            (mid, "STAFF_PROVIDER", f"staff:{mid}", last,
             t0 + timedelta(minutes=MESSAGES_PER_CONVERSATION - 1), t0, None, None, m, mid, None)
        )  # fmt: skip
        participant_rows.append((mid, "PROVIDER", last - 4, last, t0, mid, company))
    add(
        "conversation",
        "id kind subject_key last_message_id last_message_at created_at client_id "
        "intervention_id marketplace_id membership_id request_id",
        conversation_rows,
    )
    add(
        "message",
        "id sender_role sender_name text created_at conversation_id sender_id",
        message_rows,
    )
    add(
        "conversation_participant",
        "id role last_read_message_id notified_message_id joined_at conversation_id user_id",
        participant_rows,
    )
    return out
