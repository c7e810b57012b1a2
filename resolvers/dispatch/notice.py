"""E-mails of the dispatch flow, sent by jobs after commit.

Each notice has a key stored once sent (``Notice``): a redelivered job skips what was already
sent. A round tells its providers in batches of ``BATCH`` over one SMTP session, and stores
the batch's keys in one statement: a crash between the sends and that insert re-sends at
most one batch on redelivery (a single notice, just that one); SMTP gives no stronger
guarantee.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

from models.account import Client, User
from models.catalog import Service
from models.dispatch import Dispatch, DispatchStatus, Notice, Proposal, ServiceRequest
from models.membership import Membership
from presta.i18n import Join, Text, _
from presta.mail import Letter, Link, Mail, MailNotSent, Recipient, send_mails
from presta.settings import settings
from resolvers.account import client_recipient, recipients
from resolvers.dispatch.proposal import proposal_of

# Providers told per SMTP session and per insert of their keys.
BATCH = 25


async def _once(key: str, *, to: list[Recipient], letter: Letter) -> bool:
    """Send unless the key was already sent."""
    if not to or await Notice.filter(key=key).exists():
        return False
    return bool(await _send_batch([(key, [letter.to(r.email, r.locale) for r in to])]))


async def _tell_each(
    dispatches: Sequence[Dispatch],
    key_of: Callable[[Dispatch], str],
    compose: Callable[[Dispatch], Letter],
) -> int:
    """Send each dispatch's provider its notice (``compose``) in each recipient's language
    unless its key was sent before, ``BATCH`` providers per SMTP session; one query reads the
    addresses and one what a redelivery already sent, not two per provider."""
    keys = {d.id: key_of(d) for d in dispatches}
    done = await _sent_keys(list(keys.values()))
    addresses = await addresses_of([d.membership for d in dispatches])
    due = []
    for d in dispatches:
        to = addresses[d.membership.id]
        if keys[d.id] not in done and to:
            letter = compose(d)
            due.append((keys[d.id], [letter.to(r.email, r.locale) for r in to]))
    sent = 0
    for start in range(0, len(due), BATCH):
        sent += await _send_batch(due[start : start + BATCH])
    return sent


async def _send_batch(notices: Sequence[tuple[str, list[Mail]]]) -> int:
    """Send each notice's e-mails over one session, then store the keys of those sent; on a
    failure, the keys of the notices sent before it are stored and the failure raised."""
    mails = [mail for _, batch in notices for mail in batch]
    try:
        await send_mails(mails)
    except MailNotSent as failure:
        await _record(_fully_sent(notices, failure.sent))
        raise
    await _record([key for key, _ in notices])
    return len(notices)


def _fully_sent(notices: Sequence[tuple[str, list[Mail]]], sent: int) -> list[str]:
    keys = []
    for key, batch in notices:
        sent -= len(batch)
        if sent < 0:
            break
        keys.append(key)
    return keys


async def _record(keys: list[str]) -> None:
    if keys:
        await Notice.bulk_create([Notice(key=k) for k in keys], ignore_conflicts=True)


async def _sent_keys(keys: list[str]) -> set[str]:
    return set(cast(list[str], await Notice.filter(key__in=keys).values_list("key", flat=True)))


async def provider_addresses(membership: Membership) -> list[Recipient]:
    return (await addresses_of([membership]))[membership.id]


async def addresses_of(memberships: list[Membership]) -> dict[int, list[Recipient]]:
    """Each provider's addresses (its company's, then its active users') with their
    languages, in two queries.

    The memberships come with their company (``select_related``).
    """
    companies = {m.company_id for m in memberships}
    users: dict[int, list[Recipient]] = {c: [] for c in companies}
    rows = (
        await User.filter(provider_company_id__in=companies, is_active=True)
        .order_by("id")
        .values_list("provider_company_id", "email", "locale")
    )
    for company_id, email, locale in rows:
        users[company_id].append(Recipient(email, locale))
    contacts = {r.email: r for r in await recipients(m.company.email for m in memberships)}
    return {
        m.id: list(
            {
                r.email: r
                for r in [
                    *([contacts[m.company.email]] if m.company.email else []),
                    *users[m.company_id],
                ]
            }.values()
        )
        for m in memberships
    }


async def _describe(request: ServiceRequest) -> Text:
    service = await Service.get(id=request.service_id)
    return _(
        "{service} in {postal_code} {city}",
        service=service.name,
        postal_code=request.postal_code,
        city=request.city,
    )


async def notify_dispatch_round(request_id: int, round: int) -> int:
    """Tell each provider asked in this round that a request awaits its answer."""
    request = await ServiceRequest.get_or_none(id=request_id)
    if request is None:
        return 0
    what = await _describe(request)
    dispatches = await Dispatch.filter(
        request_id=request_id, round=round, status=DispatchStatus.PENDING
    ).select_related("membership__company")
    letter = dispatch_round_letter(what, request.description, reminder=round > 1)
    return await _tell_each(
        dispatches, lambda d: f"dispatch:{d.id}:round:{round}", lambda d: letter
    )


def dispatch_round_letter(what: Text, description: str, *, reminder: bool) -> Letter:
    """A provider is asked to answer a request (again, for a reminder round)."""
    subject = _("New request (reminder): {what}", what=what) if reminder else None
    return Letter(
        subject=subject or _("New request: {what}", what=what),
        paragraphs=[
            _("A client asks for {what}.", what=what),
            description,
            Link(settings().public_url, _("Answer from your Requests tab:")),
        ],
    )


async def send_proposal_mail(proposal_id: int) -> bool:
    """Tell the client which providers want the job (company, services, message, price)."""
    proposal = await Proposal.get_or_none(id=proposal_id).select_related("request")
    if proposal is None:
        return False
    request = proposal.request
    client = await Client.get(id=request.client_id)
    _proposal, entries = await proposal_of(request.id)
    lines = [await _entry_line(d) for d in entries]
    letter = Letter(
        subject=_("Providers for your request: {what}", what=await _describe(request)),
        paragraphs=[
            _("These providers want the job:"),
            Join("\n", lines),
            _("Choose one in the app."),
        ],
    )
    return await _once(
        f"proposal:{proposal.id}", to=[await client_recipient(client)], letter=letter
    )


async def notify_proposal_extended(dispatch_id: int) -> bool:
    """Tell the client that one more provider joined the proposal."""
    dispatch = await Dispatch.get_or_none(id=dispatch_id).select_related(
        "request", "membership__company"
    )
    if dispatch is None or dispatch.proposed_at is None:
        return False
    client = await Client.get(id=dispatch.request.client_id)
    letter = Letter(
        subject=_("One more provider for your request"),
        paragraphs=[
            _("A provider answered after your proposal was sent:"),
            await _entry_line(dispatch),
        ],
    )
    return await _once(
        f"proposal-late:{dispatch.id}", to=[await client_recipient(client)], letter=letter
    )


async def notify_selection(request_id: int) -> int:
    """Tell the chosen provider, and each one not chosen."""
    dispatches = await Dispatch.filter(
        request_id=request_id, status__in=[DispatchStatus.SELECTED, DispatchStatus.NOT_SELECTED]
    ).select_related("membership__company", "request")
    if not dispatches:
        return 0
    what = await _describe(dispatches[0].request)

    chosen = Letter(
        subject=_("You were chosen: {what}", what=what),
        paragraphs=[_("The client chose you. Schedule the intervention from the app.")],
    )
    not_chosen = Letter(
        subject=_("Another provider was chosen: {what}", what=what),
        paragraphs=[_("The client chose another provider for this request.")],
    )

    def compose(d: Dispatch) -> Letter:
        return chosen if d.status is DispatchStatus.SELECTED else not_chosen

    return await _tell_each(dispatches, lambda d: f"selection:{d.id}", compose)


async def _entry_line(dispatch: Dispatch) -> Join:
    company = dispatch.membership.company
    services = cast(
        list[str],
        await Service.filter(
            providers__membership_id=dispatch.membership.id, providers__status="ACCEPTED"
        ).values_list("name", flat=True),
    )
    price = _(", price {price} EUR", price=dispatch.price) if dispatch.price is not None else ""
    message = f"\n  \u201c{dispatch.message}\u201d" if dispatch.message else ""
    return Join("", [f"- {company.name} ({', '.join(services)})", price, message])
