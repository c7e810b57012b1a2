"""Demo data for requests: one waiting for answers, one with a proposal, one accepted with its
visits (one DONE), and one nobody matches. Built through the use cases, like a real client."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from models.account import Client, User
from models.catalog import ProviderService, ProviderServiceStatus
from models.dispatch import (
    Dispatch,
    DispatchStatus,
    Frequency,
    ProposalTrigger,
    ServiceRequest,
)
from models.intervention import InterventionStatus
from models.zone import ZoneEntry, ZoneEntryKind
from presta import clock
from presta.tx import atomic
from resolvers.account import actor_for_user
from resolvers.actor import Actor
from resolvers.dispatch.proposal import (
    Answer,
    accept_proposal,
    respond_to_service_request,
    send_proposal,
)
from resolvers.dispatch.request import NewRequest, create_service_request
from resolvers.intervention import change_intervention_status, schedule_intervention
from resolvers.matching import matching_membership_ids


async def _best_address(marketplace_id: int) -> tuple[int, str, list[int]] | None:
    """The (service, postal code) that the most demo providers match."""
    best: tuple[int, str, list[int]] | None = None
    offers = await ProviderService.filter(
        membership__marketplace_id=marketplace_id, status=ProviderServiceStatus.ACCEPTED
    ).select_related("membership")
    for offer in offers[:20]:
        codes = await ZoneEntry.filter(
            company_id=offer.membership.company_id,
            kind=ZoneEntryKind.POSTAL_CODE,
        ).values_list("code", flat=True)
        for code in list(codes)[:5]:
            matched = await matching_membership_ids(
                marketplace_id=marketplace_id,
                service_id=offer.service_id,
                postal_code=str(code),
            )
            if best is None or len(matched) > len(best[2]):
                best = (offer.service_id, str(code), matched)
    return best


async def _provider_actor(membership_id: int, marketplace_id: int) -> Actor | None:
    user = await User.filter(provider_company__memberships__id=membership_id).first()
    return await actor_for_user(user, marketplace_id) if user is not None else None


async def load(ctx: dict[str, Any]) -> list[str]:
    marketplace = ctx["marketplace"]
    client: Client = ctx["client"]
    client_actor = await actor_for_user(ctx["client_user"], marketplace.id)
    found = await _best_address(marketplace.id)
    if found is None:
        return ["requests: no provider offers an accepted service with a zone; none made"]
    service_id, code, matched = found

    async def ask(description: str, *, weekly: bool = False, postal_code: str = code) -> int:
        request = await create_service_request(
            client_actor,
            NewRequest(
                service_id=service_id,
                postal_code=postal_code,
                city="Paris" if postal_code.startswith("75") else "Demo city",
                description=description,
                wished_start=clock.now() + timedelta(days=7),
                frequency=Frequency.WEEKLY if weekly else None,
                duration_minutes=120,
            ),
        )
        return int(request.id)

    providers = [a for m in matched if (a := await _provider_actor(m, marketplace.id)) is not None]
    waiting = await ask("Deep cleaning of a 3-room flat before moving in.")
    if providers:
        await respond_to_service_request(
            providers[0],
            request_id=waiting,
            answer=Answer(DispatchStatus.INTERESTED, "Free next Monday.", Decimal("180.00")),
        )

    proposed = await ask("Ironing, 2 hours a week.", weekly=True)
    for n, actor in enumerate(providers[:3]):
        await respond_to_service_request(
            actor,
            request_id=proposed,
            answer=Answer(DispatchStatus.INTERESTED, f"Offer {n + 1}", Decimal(40 + 5 * n)),
        )
    async with atomic() as tx:
        request = await ServiceRequest.get(id=proposed)
        if await Dispatch.filter(request_id=proposed, status=DispatchStatus.INTERESTED).exists():
            await send_proposal(tx, request, ProposalTrigger.DEADLINE)

    accepted = await ask("Weekly cleaning, Tuesday mornings.", weekly=True)
    lines = [f"requests: {client.email} has an OPEN request, a proposal to accept, and more"]
    if providers:
        chosen = providers[0]
        await respond_to_service_request(
            chosen, request_id=accepted, answer=Answer(DispatchStatus.INTERESTED, "Glad to.")
        )
        async with atomic() as tx:
            await send_proposal(tx, await ServiceRequest.get(id=accepted), ProposalTrigger.DEADLINE)
        assert chosen.membership_id is not None
        await accept_proposal(client_actor, request_id=accepted, membership_id=chosen.membership_id)
        start = (clock.now() + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
        visits = await schedule_intervention(
            chosen,
            request_id=accepted,
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            price=Decimal("50.00"),
            occurrences=4,
        )
        for to in (InterventionStatus.IN_PROGRESS, InterventionStatus.DONE):
            await change_intervention_status(chosen, intervention_id=visits[0].id, to=to)
        lines.append("interventions: 4 weekly visits scheduled for that client, the first DONE")
    await ask("Window cleaning far away.", postal_code="97400")
    return [*lines, "requests: one UNMATCHED request (postal code 97400) for staff to assign"]
