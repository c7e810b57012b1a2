"""Monthly commission invoices: totals, gapless numbering per marketplace, idempotency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from models.account import StaffRole
from models.document import CommissionInvoice, Document, DocumentKind
from models.intervention import Intervention, InterventionStatus
from presta import storage
from resolvers.invoice import build_commission_invoices
from schema.base import encode_id
from tests.factories.account import actor_of, make_client, make_marketplace, make_staff
from tests.factories.catalog import make_service
from tests.factories.document import stored_files
from tests.factories.membership import make_membership, make_provider_user
from tests.support.graphql import ok


async def _intervention(
    membership: Any,
    client: Any,
    service: Any,
    *,
    day: int,
    price: str,
    rate: str,
    status: str = "DONE",
) -> Intervention:
    starts = datetime(2026, 3, day, 9, tzinfo=UTC)
    return await Intervention.create(
        marketplace_id=membership.marketplace_id,
        membership=membership,
        client=client,
        service=service,
        status=InterventionStatus(status),
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        price=Decimal(price),
        commission_rate=Decimal(rate),
    )


async def _world() -> Any:
    marketplace = await make_marketplace(name="Ménage Plus")
    client = await make_client(marketplace)
    service = await make_service(marketplace, name="Repassage")
    alice = await make_membership(marketplace)
    bob = await make_membership(marketplace)
    return marketplace, client, service, alice, bob


async def test_each_provider_with_done_interventions_gets_one_invoice_with_the_frozen_rates():
    marketplace, client, service, alice, bob = await _world()
    idle = await make_membership(marketplace)
    await _intervention(alice, client, service, day=3, price="100.00", rate="15.00")
    await _intervention(alice, client, service, day=20, price="80.50", rate="10.00")
    await _intervention(
        alice, client, service, day=21, price="999.00", rate="15.00", status="CANCELLED"
    )
    await _intervention(bob, client, service, day=5, price="60.00", rate="12.50")
    # April's work belongs to another invoice.
    await Intervention.create(
        marketplace=marketplace,
        membership=idle,
        client=client,
        service=service,
        status=InterventionStatus.DONE,
        starts_at=datetime(2026, 4, 1, 0, 0, tzinfo=UTC),
        ends_at=datetime(2026, 4, 1, 2, 0, tzinfo=UTC),
        price=Decimal("50"),
        commission_rate=Decimal("15"),
    )

    created = await build_commission_invoices(2026, 3)
    assert len(created) == 2
    invoices = {i.membership_id: i for i in await CommissionInvoice.all()}
    assert set(invoices) == {alice.id, bob.id}
    a = invoices[alice.id]
    assert (a.interventions, a.total_price, a.total_commission) == (
        2,
        Decimal("180.50"),
        Decimal("23.05"),  # 15.00 + 8.05: each line at its own frozen rate
    )
    assert invoices[bob.id].total_commission == Decimal("7.50")
    assert sorted(i.number for i in invoices.values()) == [1, 2]

    document = await Document.get(id=a.document_id)
    assert document.kind is DocumentKind.INVOICE
    assert document.membership_id == alice.id
    data = storage.path_of(document.storage_key).read_bytes()
    assert data.startswith(b"%PDF-")
    assert document.size == len(data)


async def test_running_the_job_twice_for_a_month_creates_nothing_new():
    _marketplace, client, service, alice, _bob = await _world()
    await _intervention(alice, client, service, day=3, price="100.00", rate="15.00")
    first = await build_commission_invoices(2026, 3)
    files = stored_files()
    again = await build_commission_invoices(2026, 3)
    assert len(first) == 1
    assert again == []
    assert await CommissionInvoice.all().count() == 1
    assert await Document.filter(kind=DocumentKind.INVOICE).count() == 1
    assert stored_files() == files


async def test_numbers_run_without_gaps_per_marketplace_across_months_and_concurrent_runs():
    marketplace, client, service, alice, bob = await _world()
    other = await make_marketplace()
    other_client = await make_client(other)
    other_service = await make_service(other)
    carol = await make_membership(other)
    await _intervention(alice, client, service, day=3, price="10", rate="10")
    await _intervention(bob, client, service, day=4, price="10", rate="10")
    await _intervention(carol, other_client, other_service, day=4, price="10", rate="10")
    # Two workers racing on the same month: the lock and the re-check keep one invoice each.
    await asyncio.gather(build_commission_invoices(2026, 3), build_commission_invoices(2026, 3))
    starts = datetime(2026, 4, 2, 9, tzinfo=UTC)
    await Intervention.create(
        marketplace=marketplace,
        membership=alice,
        client=client,
        service=service,
        status=InterventionStatus.DONE,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        price=Decimal("20"),
        commission_rate=Decimal("10"),
    )
    await build_commission_invoices(2026, 4)

    numbers = {
        (i.marketplace_id, i.month, i.membership_id): i.number
        for i in await CommissionInvoice.all()
    }
    assert sorted(n for (m, _, _), n in numbers.items() if m == marketplace.id) == [1, 2, 3]
    assert numbers[(marketplace.id, 4, alice.id)] == 3
    assert numbers[(other.id, 3, carol.id)] == 1


async def test_the_invoice_appears_in_the_documents_tab_of_that_provider_only():
    marketplace, client, service, alice, bob = await _world()
    await _intervention(alice, client, service, day=3, price="100.00", rate="15.00")
    await build_commission_invoices(2026, 3)
    tab = """query($m: ID!) { membershipDocuments(membershipId: $m) {
        invoices { title contentType downloadUrl } } }"""
    alice_actor = await actor_of(await make_provider_user(alice), marketplace)
    bob_actor = await actor_of(await make_provider_user(bob), marketplace)
    agent = await actor_of(await make_staff(marketplace, StaffRole.AGENT), marketplace)

    mine = await ok(tab, {"m": str(encode_id("Membership", alice.id))}, actor=alice_actor)
    [invoice] = mine["membershipDocuments"]["invoices"]
    assert invoice["title"].startswith("Commission invoice COM-000001")
    assert invoice["contentType"] == "application/pdf"
    staff_view = await ok(tab, {"m": str(encode_id("Membership", alice.id))}, actor=agent)
    assert len(staff_view["membershipDocuments"]["invoices"]) == 1
    bob_view = await ok(tab, {"m": str(encode_id("Membership", bob.id))}, actor=bob_actor)
    assert bob_view["membershipDocuments"]["invoices"] == []
