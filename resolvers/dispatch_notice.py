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


async def _once(
    key: str, *, to: list[str], subject: str, body: str, sent: set[str] | None = None
) -> bool:
    """Send unless the key was already sent (``sent``: the keys known sent, read in one go)."""
    if not to or key in (sent or ()):
        return False
    if sent is None and await Notice.filter(key=key).exists():
        return False
    for address in to:
        await send_mail(to=address, subject=subject, body=body)
    with contextlib.suppress(IntegrityError):
        await Notice.create(key=key)
    return True


async def _sent_keys(keys: list[str]) -> set[str]:
    return set(cast(list[str], await Notice.filter(key__in=keys).values_list("key", flat=True)))


async def provider_addresses(membership: Membership) -> list[str]:
    return (await addresses_of([membership]))[membership.id]


async def addresses_of(memberships: list[Membership]) -> dict[int, list[str]]:
    """Each provider's addresses (its company's, then its active users'), in one query.

    The memberships come with their company (``select_related``).
    """
    companies = {m.company_id for m in memberships}  # type: ignore[attr-defined]
    users: dict[int, list[str]] = {c: [] for c in companies}
    rows = (
        await User.filter(provider_company_id__in=companies, is_active=True)
        .order_by("id")
        .values_list("provider_company_id", "email")
    )
    for company_id, email in rows:
        users[company_id].append(email)
    return {
        m.id: list(
            dict.fromkeys(
                [*([m.company.email] if m.company.email else []), *users[m.company_id]]  # type: ignore[attr-defined]
            )
        )
        for m in memberships
    }


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
    # One query for the addresses and one for what a redelivery already sent, not two per
    # provider: a round of 100 providers otherwise hammers the database during the fan-out.
    keys = {d.id: f"dispatch:{d.id}:round:{round}" for d in dispatches}
    done = await _sent_keys(list(keys.values()))
    addresses = await addresses_of([d.membership for d in dispatches])
    reminder = " (reminder)" if round > 1 else ""
    for dispatch in dispatches:
        sent += await _once(
            keys[dispatch.id],
            to=addresses[dispatch.membership.id],
            subject=f"New request{reminder}: {what}",
            body=f"A client asks for {what}.\n\n{request.description}\n\n"
            f"Answer from your Requests tab: {settings().public_url}\n",
            sent=done,
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
    keys = {d.id: f"selection:{d.id}" for d in dispatches}
    done = await _sent_keys(list(keys.values()))
    addresses = await addresses_of([d.membership for d in dispatches])
    for dispatch in dispatches:
        what = await _describe(dispatch.request)
        chosen = dispatch.status is DispatchStatus.SELECTED
        sent += await _once(
            keys[dispatch.id],
            sent=done,
            to=addresses[dispatch.membership.id],
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
