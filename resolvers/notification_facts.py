"""The facts people are told of: for each kind, who hears it and the e-mail (one function per
letter, in French and English through ``presta.i18n``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from tortoise.expressions import Q

from models.account import Client, User
from models.catalog import ProviderService, Service
from models.document import Document
from models.intervention import Intervention
from models.marketplace import Marketplace
from models.membership import Membership, MembershipStatus
from models.messaging import Message, Participant
from models.notification import NotificationKind as K
from presta.i18n import When, _, day, hour, ngettext
from presta.mail import Letter, Link
from presta.settings import settings
from resolvers.notification import (
    Fact,
    Person,
    provider_people,
    staff_people,
    tell,
)

Compose = Callable[[int, dict[str, Any]], Awaitable[Fact | None]]


async def send_notification(
    kind: str, key: str, object_id: int, extra: dict[str, Any] | None = None
) -> int:
    """Job: tell everyone concerned by one fact (idempotent by ``key``)."""
    fact = await _COMPOSERS[K(kind)](object_id, extra or {})
    if fact is None:
        return 0
    return await tell(key, fact)


def _visit_when(visit: Intervention) -> dict[str, When]:
    """The day and hour of a visit in its marketplace's time zone, as each reader writes them."""
    zone = visit.marketplace.time_zone
    return {"day": day(visit.starts_at, zone), "hour": hour(visit.starts_at, zone)}


def _app() -> Link:
    return Link(settings().public_url, _("Open the app:"))


# Visits


async def _visit(kind: K, intervention_id: int, extra: dict[str, Any]) -> Fact | None:
    visit = await Intervention.get_or_none(id=intervention_id).select_related(
        "service", "membership__company", "marketplace"
    )
    if visit is None:
        return None
    client = await Client.get(id=visit.client_id)
    people = await provider_people(visit.membership.company_id)
    login = await User.get_or_none(id=client.user_id) if client.user_id is not None else None
    people.append(
        Person(client.email, login.locale, login.id) if login is not None else Person(client.email)
    )
    occurrences = await Intervention.filter(series_key=visit.series_key).count()
    if kind is K.VISIT_SCHEDULED:
        letter = visit_scheduled_letter(visit, occurrences)
    elif kind is K.VISIT_MOVED:
        letter = visit_moved_letter(visit)
    else:
        letter = visit_cancelled_letter(visit)
    by = extra.get("by")
    return Fact(
        kind,
        letter,
        people,
        visit.marketplace_id,
        "Intervention",
        visit.id,
        by_user_id=int(by) if by is not None else None,
    )


def visit_scheduled_letter(visit: Intervention, occurrences: int) -> Letter:
    what = dict(
        service=visit.service.name, company=visit.membership.company.name, **_visit_when(visit)
    )
    paragraphs: list[Any] = [
        _("{company} will come for {service} on {day} at {hour}.", **what),
    ]
    if occurrences > 1:
        paragraphs.append(
            ngettext(
                "This is the first of {n} visit.", "This is the first of {n} visits.", occurrences
            )
        )
    paragraphs.append(_app())
    return Letter(subject=_("Visit scheduled: {service} on {day}", **what), paragraphs=paragraphs)


def visit_moved_letter(visit: Intervention) -> Letter:
    what = dict(service=visit.service.name, **_visit_when(visit))
    return Letter(
        subject=_("Visit moved: {service}, now on {day}", **what),
        paragraphs=[_("The visit for {service} is now on {day} at {hour}.", **what), _app()],
    )


def visit_cancelled_letter(visit: Intervention) -> Letter:
    what = dict(service=visit.service.name, day=_visit_when(visit)["day"])
    paragraphs: list[Any] = [_("The visit for {service} on {day} was cancelled.", **what)]
    if visit.cancel_reason:
        paragraphs.append(_("Reason: {reason}", reason=visit.cancel_reason))
    paragraphs.append(_app())
    return Letter(subject=_("Visit cancelled: {service} on {day}", **what), paragraphs=paragraphs)


# Services of a provider


async def _service(kind: K, row_id: int, extra: dict[str, Any]) -> Fact | None:
    row = await ProviderService.get_or_none(id=row_id).select_related(
        "service", "membership__marketplace"
    )
    if row is None:
        return None
    marketplace = row.membership.marketplace
    letter = service_decided_letter(kind, row.service, marketplace, row.reason)
    people = await provider_people(row.membership.company_id)
    return Fact(kind, letter, people, marketplace.id, "ProviderService", row.id)


def service_decided_letter(
    kind: K, service: Service, marketplace: Marketplace, reason: str
) -> Letter:
    what = dict(service=service.name, marketplace=marketplace.name)
    if kind is K.SERVICE_ACCEPTED:
        return Letter(
            subject=_("Service accepted: {service}", **what),
            paragraphs=[
                _(
                    "{marketplace} accepted you for {service}: you now receive its requests.",
                    **what,
                ),
                _app(),
            ],
        )
    paragraphs: list[Any] = [_("{marketplace} rejected your application for {service}.", **what)]
    if reason:
        paragraphs.append(_("Reason: {reason}", reason=reason))
    paragraphs.append(_app())
    return Letter(subject=_("Service rejected: {service}", **what), paragraphs=paragraphs)


# Applications


async def _application(kind: K, membership_id: int, extra: dict[str, Any]) -> Fact | None:
    membership = await Membership.get_or_none(id=membership_id).select_related(
        "company", "marketplace"
    )
    if membership is None:
        return None
    letter = application_received_letter(membership.company.name, membership.marketplace.name)
    people = await staff_people(membership.marketplace_id)
    return Fact(kind, letter, people, membership.marketplace_id, "Membership", membership.id)


def application_received_letter(company: str, marketplace: str) -> Letter:
    return Letter(
        subject=_("New application: {company}", company=company),
        paragraphs=[
            _(
                "{company} applied to join {marketplace}: review its file and documents.",
                company=company,
                marketplace=marketplace,
            ),
            _app(),
        ],
    )


# Documents


async def _document(kind: K, document_id: int, extra: dict[str, Any]) -> Fact | None:
    """The provider hears first (30 days before, and on the day); on the day, so do the
    staff of every marketplace the company works with."""
    document = await Document.get_or_none(id=document_id).select_related("company", "document_type")
    if document is None or document.company is None or document.expires_on is None:
        return None
    people = await provider_people(document.company.id)
    memberships = await Membership.filter(
        Q(company_id=document.company.id),
        ~Q(status__in=[MembershipStatus.DELETED, MembershipStatus.REFUSED]),
    ).order_by("id")
    if kind is K.DOCUMENT_EXPIRED:
        for m in memberships:
            people += await staff_people(m.marketplace_id)
    title = document.title or (
        document.document_type.label if document.document_type else document.filename
    )
    letter = document_letter(kind, title, document.company.name, document.expires_on)
    # A provider of one marketplace is told in it; of several, outside any.
    marketplace_id = memberships[0].marketplace_id if len(memberships) == 1 else None
    return Fact(kind, letter, people, marketplace_id, "Document", document.id)


def document_letter(kind: K, title: str, company: str, expires_on: date) -> Letter:
    what = dict(title=title, company=company, day=day(expires_on, "UTC"))  # a date: no zone
    if kind is K.DOCUMENT_EXPIRING:
        return Letter(
            subject=_("Document expiring on {day}: {title}", **what),
            paragraphs=[
                _(
                    "{title} of {company} expires on {day}. Upload a new one before then to "
                    "keep receiving requests.",
                    **what,
                ),
                _app(),
            ],
        )
    return Letter(
        subject=_("Document expired: {title} ({company})", **what),
        paragraphs=[
            _("{title} of {company} expired on {day}: upload a new one.", **what),
            _app(),
        ],
    )


# Unread messages


async def _unread(kind: K, user_id: int, extra: dict[str, Any]) -> Fact | None:
    """One digest of what the user has not read in the conversations the sweep found."""
    user = await User.get_or_none(id=user_id, is_active=True)
    if user is None:
        return None
    conversations: list[int] = list(extra.get("conversations", []))
    unread = 0
    threads = 0
    for p in await Participant.filter(user_id=user_id, conversation_id__in=conversations):
        count = (
            await Message.filter(conversation_id=p.conversation_id, id__gt=p.last_read_message_id)
            .filter(Q(sender_id__isnull=True) | ~Q(sender_id=user_id))
            .count()
        )
        unread += count
        threads += 1 if count else 0
    if not unread:
        return None
    marketplace_id = extra.get("marketplace_id")
    marketplace = await Marketplace.get_or_none(id=marketplace_id) if marketplace_id else None
    letter = unread_letter(unread, threads, marketplace.name if marketplace else "")
    person = Person(user.email, user.locale, user.id)
    return Fact(kind, letter, [person], marketplace_id, "User", user.id)


def unread_letter(unread: int, threads: int, marketplace: str) -> Letter:
    return Letter(
        subject=ngettext(
            "{n} unread message on {marketplace}",
            "{n} unread messages on {marketplace}",
            unread,
            marketplace=marketplace,
        ),
        paragraphs=[
            ngettext(
                "Messages wait for you in {n} conversation.",
                "Messages wait for you in {n} conversations.",
                threads,
            ),
            _app(),
        ],
    )


def _with(kind: K, compose: Callable[[K, int, dict[str, Any]], Awaitable[Fact | None]]) -> Compose:
    return lambda object_id, extra: compose(kind, object_id, extra)


_COMPOSERS: dict[K, Compose] = {
    K.VISIT_SCHEDULED: _with(K.VISIT_SCHEDULED, _visit),
    K.VISIT_MOVED: _with(K.VISIT_MOVED, _visit),
    K.VISIT_CANCELLED: _with(K.VISIT_CANCELLED, _visit),
    K.SERVICE_ACCEPTED: _with(K.SERVICE_ACCEPTED, _service),
    K.SERVICE_REJECTED: _with(K.SERVICE_REJECTED, _service),
    K.APPLICATION_RECEIVED: _with(K.APPLICATION_RECEIVED, _application),
    K.DOCUMENT_EXPIRING: _with(K.DOCUMENT_EXPIRING, _document),
    K.DOCUMENT_EXPIRED: _with(K.DOCUMENT_EXPIRED, _document),
    K.UNREAD_MESSAGES: _with(K.UNREAD_MESSAGES, _unread),
}
