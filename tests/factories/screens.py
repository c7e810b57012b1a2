"""Actors with full screens: a provider's dashboard and a staff member's providers screen,
``rows`` lines each (statement counts, caches and memory are measured on them)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from models.catalog import ProviderServiceStatus
from models.dispatch import Dispatch, DispatchAnswerAudit, DispatchStatus, RequestStatus
from models.dispatch import ServiceRequest as RequestModel
from models.intervention import Intervention, InterventionStatus
from models.membership import MembershipStatus
from models.messaging import Message, ParticipantRole
from presta import clock
from resolvers.actor import Actor
from tests.factories.account import actor_of, make_client, make_marketplace, make_staff
from tests.factories.catalog import make_service, offer
from tests.factories.document import make_company_document, publish_terms, require_types
from tests.factories.membership import make_company, make_membership
from tests.factories.messaging import make_cast, make_conversation


async def provider_with(rows: int) -> Actor:
    """A provider with ``rows`` services, requests, upcoming visits and conversations."""
    cast = await make_cast()
    marketplace, membership = cast.marketplace, cast.membership
    await publish_terms(marketplace)
    start = clock.now() + timedelta(days=1)
    for n in range(rows):
        service = await make_service(marketplace)
        await offer(membership, service, ProviderServiceStatus.ACCEPTED)
        client = await make_client(marketplace, with_login=False)
        request = await RequestModel.create(
            marketplace=marketplace,
            client=client,
            service=service,
            status=RequestStatus.ACCEPTED,
            postal_code="75011",
            city="Paris",
            selected_membership=membership,
        )
        dispatch = await Dispatch.create(
            request=request, membership=membership, status=DispatchStatus.SELECTED
        )
        await DispatchAnswerAudit.create(
            dispatch=dispatch,
            round=1,
            from_status=DispatchStatus.PENDING,
            to_status=DispatchStatus.INTERESTED,
        )
        await Intervention.create(
            marketplace=marketplace,
            membership=membership,
            request=request,
            client=client,
            service=service,
            status=InterventionStatus.SCHEDULED,
            starts_at=start + timedelta(hours=n),
            ends_at=start + timedelta(hours=n, minutes=90),
            price=Decimal("80.00"),
            commission_rate=Decimal("15.00"),
        )
        conversation = await make_conversation(membership, client=client)
        message = await Message.create(
            conversation=conversation,
            sender=cast.staff,
            sender_role=ParticipantRole.CLIENT,
            sender_name=client.full_name,
            text=f"Hello {n}",
        )
        conversation.last_message_id = message.id
        conversation.last_message_at = message.created_at
        await conversation.save(update_fields=["last_message_id", "last_message_at"])
    return await cast.provider_actor()


async def staff_with(rows: int) -> Actor:
    """A marketplace with ``rows`` providers, each with services and company documents."""
    marketplace = await make_marketplace()
    staff = await make_staff(marketplace)
    await require_types(marketplace, "KBIS", "RC_PRO")
    services = [await make_service(marketplace) for _ in range(3)]
    statuses = [MembershipStatus.ACCEPTED, MembershipStatus.APPLIED, MembershipStatus.SUSPENDED]
    for n in range(rows):
        membership = await make_membership(marketplace, statuses[n % 3], await make_company())
        for service in services[: 1 + n % 3]:
            await offer(membership, service)
        await make_company_document(
            membership.company, "KBIS", expires_on=clock.now().date() + timedelta(days=n)
        )
    return await actor_of(staff, marketplace)
