"""E-mails of the dispatch flow, sent by jobs after commit.

Each notice has a key stored once sent (``Notice``): a redelivered job skips what was already
sent. A crash between the SMTP send and the key's insert re-sends that one e-mail on
redelivery; SMTP gives no stronger guarantee.
"""

from __future__ import annotations

import contextlib
from typing import cast

from tortoise.exceptions import IntegrityError

from models.account import Client, User
from models.catalog import Service
from models.dispatch import Dispatch, DispatchStatus, Notice, Proposal, ServiceRequest
from models.membership import Membership
from presta.mail import send_mail
from presta.settings import settings
from resolvers.proposal import proposal_of


async def _once(key: str, *, to: list[str], subject: str, body: str) -> bool:
    if not to or await Notice.filter(key=key).exists():
        return False
    for address in to:
        await send_mail(to=address, subject=subject, body=body)
    with contextlib.suppress(IntegrityError):
        await Notice.create(key=key)
    return True


async def provider_addresses(membership: Membership) -> list[str]:
    company_id = membership.company_id  # type: ignore[attr-defined]
    users = cast(
        list[str],
        await User.filter(provider_company_id=company_id, is_active=True).values_list(
            "email", flat=True
        ),
    )
    company = await membership.company
    return list(dict.fromkeys([*([company.email] if company.email else []), *users]))


async def _describe(request: ServiceRequest) -> str:
    service = await Service.get(id=request.service_id)  # type: ignore[attr-defined]
    return f"{service.name} in {request.postal_code} {request.city}"


async def notify_dispatch_round(request_id: int, round: int) -> int:
    """Tell each provider asked in this round that a request awaits its answer."""
    request = await ServiceRequest.get_or_none(id=request_id)
    if request is None:
        return 0
    what = await _describe(request)
    sent = 0
    dispatches = await Dispatch.filter(
        request_id=request_id, round=round, status=DispatchStatus.PENDING
    ).select_related("membership__company")
    for dispatch in dispatches:
        reminder = " (reminder)" if round > 1 else ""
        sent += await _once(
            f"dispatch:{dispatch.id}:round:{round}",
            to=await provider_addresses(dispatch.membership),
            subject=f"New request{reminder}: {what}",
            body=f"A client asks for {what}.\n\n{request.description}\n\n"
            f"Answer from your Requests tab: {settings().public_url}\n",
        )
    return sent


async def send_proposal_mail(proposal_id: int) -> bool:
    """Tell the client which providers want the job (company, services, message, price)."""
    proposal = await Proposal.get_or_none(id=proposal_id).select_related("request")
    if proposal is None:
        return False
    request = proposal.request
    client = await Client.get(id=request.client_id)  # type: ignore[attr-defined]
    _, entries = await proposal_of(request.id)
    lines = [await _entry_line(d) for d in entries]
    return await _once(
        f"proposal:{proposal.id}",
        to=[client.email],
        subject=f"Providers for your request: {await _describe(request)}",
        body="These providers want the job:\n\n"
        + "\n".join(lines)
        + "\n\nChoose one in the app.\n",
    )


async def notify_proposal_extended(dispatch_id: int) -> bool:
    """Tell the client that one more provider joined the proposal."""
    dispatch = await Dispatch.get_or_none(id=dispatch_id).select_related(
        "request", "membership__company"
    )
    if dispatch is None or dispatch.proposed_at is None:
        return False
    client = await Client.get(id=dispatch.request.client_id)  # type: ignore[attr-defined]
    return await _once(
        f"proposal-late:{dispatch.id}",
        to=[client.email],
        subject="One more provider for your request",
        body="A provider answered after your proposal was sent:\n\n"
        + await _entry_line(dispatch)
        + "\n",
    )


async def notify_selection(request_id: int) -> int:
    """Tell the chosen provider, and each one not chosen."""
    sent = 0
    dispatches = await Dispatch.filter(
        request_id=request_id, status__in=[DispatchStatus.SELECTED, DispatchStatus.NOT_SELECTED]
    ).select_related("membership__company", "request")
    for dispatch in dispatches:
        what = await _describe(dispatch.request)
        chosen = dispatch.status is DispatchStatus.SELECTED
        sent += await _once(
            f"selection:{dispatch.id}",
            to=await provider_addresses(dispatch.membership),
            subject=("You were chosen: " if chosen else "Another provider was chosen: ") + what,
            body=(
                "The client chose you. Schedule the intervention from the app.\n"
                if chosen
                else "The client chose another provider for this request.\n"
            ),
        )
    return sent


async def _entry_line(dispatch: Dispatch) -> str:
    company = dispatch.membership.company
    services = cast(
        list[str],
        await Service.filter(
            providers__membership_id=dispatch.membership.id, providers__status="ACCEPTED"
        ).values_list("name", flat=True),
    )
    price = f", price {dispatch.price} EUR" if dispatch.price is not None else ""
    message = f"\n  \u201c{dispatch.message}\u201d" if dispatch.message else ""
    return f"- {company.name} ({', '.join(services)}){price}{message}"
