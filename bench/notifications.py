"""The notification sweep, run every minute: what it costs when nothing is due, and when
digests and document expiries are; and how fast the jobs it enqueues tell people.

A fresh PostgreSQL database holds ``BENCH_NOTIFY_PROVIDERS`` providers of one marketplace,
each with one user, a conversation with staff (two participants, three messages) and a Kbis;
``DUE_SHARE`` of them left a message unread for more than 10 minutes, and as many have their
Kbis expiring within 30 days. E-mail is off: the jobs write the notifications and their live
events, which is what the database pays.

    python -m bench notifications    BENCH_NOTIFY_PROVIDERS=10000
"""

from __future__ import annotations

import os
import secrets
import statistics
import time
from datetime import timedelta

from bench import Row
from bench._seed import migrated
from bench._servers import database

SIZE = int(os.environ.get("BENCH_NOTIFY_PROVIDERS", "10000"))
DUE_SHARE = 0.01
QUIET_RUNS = 5


async def _seed() -> None:
    from models.account import User
    from models.document import Document, DocumentKind, DocumentType
    from models.marketplace import Marketplace
    from models.membership import Membership, MembershipStatus, ProviderCompany
    from models.messaging import (
        Conversation,
        ConversationKind,
        Message,
        Participant,
        ParticipantRole,
    )
    from presta import clock
    from resolvers.document import ensure_document_types

    await ensure_document_types()
    market = await Marketplace.create(name="Bench notify", slug="bench-notify")
    staff = await User.create(email="staff@bench.test", password_hash="x")
    await ProviderCompany.bulk_create(
        [ProviderCompany(name=f"Company {n}", email=f"c{n}@bench.test") for n in range(SIZE)],
        batch_size=5000,
    )
    companies = await ProviderCompany.all().order_by("id")
    await Membership.bulk_create(
        [
            Membership(marketplace=market, company=c, status=MembershipStatus.ACCEPTED)
            for c in companies
        ],
        batch_size=5000,
    )
    memberships = await Membership.filter(marketplace=market).order_by("id")
    await User.bulk_create(
        [
            User(email=f"p{n}@bench.test", password_hash="x", provider_company=c)
            for n, c in enumerate(companies)
        ],
        batch_size=5000,
    )
    providers = await User.filter(provider_company_id__not_isnull=True).order_by("id")
    now = clock.now()
    await Conversation.bulk_create(
        [
            Conversation(
                marketplace=market,
                membership=m,
                kind=ConversationKind.STAFF_PROVIDER,
                subject_key=f"bench:{n}",
                last_message_at=now,
            )
            for n, m in enumerate(memberships)
        ],
        batch_size=5000,
    )
    conversations = await Conversation.filter(marketplace=market).order_by("id")
    await Message.bulk_create(
        [
            Message(conversation=c, sender=sender, sender_role=role, text="Hello")
            for c, provider in zip(conversations, providers, strict=True)
            for sender, role in (
                (staff, ParticipantRole.STAFF),
                (provider, ParticipantRole.PROVIDER),
                (staff, ParticipantRole.STAFF),
            )
        ],
        batch_size=5000,
    )
    last = dict(await Message.all().order_by("id").values_list("conversation_id", "id"))
    due_every = int(1 / DUE_SHARE)
    participants = []
    for n, (c, provider) in enumerate(zip(conversations, providers, strict=True)):
        read = last[c.id] - 1 if n % due_every == 0 else last[c.id]
        participants += [
            Participant(
                conversation=c,
                user=provider,
                role=ParticipantRole.PROVIDER,
                last_read_message_id=read,
            ),
            Participant(
                conversation=c,
                user=staff,
                role=ParticipantRole.STAFF,
                last_read_message_id=last[c.id],
            ),
        ]
    await Participant.bulk_create(participants, batch_size=5000)
    for c in conversations:
        c.last_message_id = last[c.id]
    await Conversation.bulk_update(conversations, fields=["last_message_id"], batch_size=5000)

    kbis = await DocumentType.get(code="KBIS")
    today = now.date()
    await Document.bulk_create(
        [
            Document(
                kind=DocumentKind.COMPANY,
                company=c,
                document_type=kbis,
                title="Kbis",
                filename="kbis.pdf",
                content_type="application/pdf",
                size=1,
                sha256="0" * 64,
                storage_key=f"bench-{n}",
                expires_on=today + timedelta(days=20 if n % due_every == 0 else 200),
            )
            for n, c in enumerate(companies)
        ],
        batch_size=5000,
    )


async def _measure() -> list[Row]:
    from models.notification import Notification
    from presta import clock, jobs
    from presta.settings import settings
    from resolvers import notification_sweep

    settings().mail_enabled = False
    clock.advance(timedelta(minutes=11))
    try:
        # The jobs run as tasks of this process while the sweep goes on: each figure is the
        # sweep and its jobs, until every notification is written.
        started = time.perf_counter()
        digests = await notification_sweep.sweep_unread_messages()
        await jobs.drain()
        unread_due = time.perf_counter() - started
        started = time.perf_counter()
        expiring = await notification_sweep.sweep_expiring_documents()
        await jobs.drain()
        documents_due = time.perf_counter() - started
        told = await Notification.all().count()
        quiet = []
        for _ in range(QUIET_RUNS):
            started = time.perf_counter()
            assert await notification_sweep.sweep_notifications() == 0
            quiet.append(time.perf_counter() - started)
    finally:
        clock.reset()
    return [
        Row(
            f"sweep, nothing due ({SIZE} conversations, {SIZE} documents)",
            statistics.median(quiet) * 1000,
            "ms",
        ),
        Row(f"{digests} unread digests: swept and told", unread_due * 1000, "ms"),
        Row(f"{expiring} expiring documents: swept and told", documents_due * 1000, "ms"),
        Row("notifications written", told, "rows"),
    ]


async def run() -> list[Row]:
    secret = secrets.token_urlsafe(32)
    async with database("notify") as url:
        async with migrated(url, secret):
            await _seed()
        async with migrated(url, secret):
            import workers.actors  # noqa: F401  (the jobs run in this process)

            return await _measure()
