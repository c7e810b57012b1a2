"""Notifications: who is told of a fact, by e-mail (if they want it) and live (always).

A use case enqueues ``send_notification`` in the transaction of its fact (the job outbox),
with a key naming the fact. The job writes one ``Notification`` per person, unique by key and
address, and records a ``notification.created`` event for those with an account (what their
``notificationReceived`` subscription delivers), then e-mails those whose preference for the
kind is on and who were not e-mailed yet: a redelivered job tells nobody twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from models.account import User
from models.membership import ProviderCompany
from models.notification import Notification, NotificationKind, NotificationPreference
from presta import clock
from presta.i18n import Text, _, locale_or_default, render
from presta.mail import Letter, MailNotSent, send_mails
from presta.settings import settings
from presta.tx import atomic
from resolvers.actor import Actor
from resolvers.errors import UserError
from resolvers.events import record_event
from resolvers.pagination import Page, keyset_page

log = logging.getLogger(__name__)

NOTIFICATION_CREATED = "notification.created"


@dataclass(frozen=True, slots=True)
class Person:
    """Someone to tell: an address, its language, and its account if it has one (only an
    account is told live and has preferences)."""

    email: str
    locale: str | None = None
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    """What a job tells: the letter (its subject is the notification's title), to whom, and
    about which object."""

    kind: NotificationKind
    letter: Letter
    people: Sequence[Person]
    marketplace_id: int | None
    object_type: str
    object_id: int
    # The person whose action is the fact: not told of it.
    by_user_id: int | None = None


# Preferences


async def notification_preferences(actor: Actor) -> dict[NotificationKind, bool]:
    """Each kind with the signed-in user's e-mail choice (on unless turned off)."""
    user_id = actor.require_user()
    chosen = dict(await NotificationPreference.filter(user_id=user_id).values_list("kind", "email"))
    return {kind: bool(chosen.get(kind, True)) for kind in NotificationKind}


class NotificationErrorCode(StrEnum):
    INVALID = "INVALID"


async def update_notification_preferences(
    actor: Actor, choices: Sequence[tuple[NotificationKind, bool]]
) -> dict[NotificationKind, bool]:
    """A user turns the e-mail of some kinds on or off (live notifications stay on)."""
    user_id = actor.require_user()
    kinds = [kind for kind, _email in choices]
    if len(set(kinds)) != len(kinds):
        raise UserError(
            NotificationErrorCode.INVALID, _("Give each kind once."), field="preferences"
        )
    async with atomic():
        for kind, email in choices:
            updated = await NotificationPreference.filter(user_id=user_id, kind=kind).update(
                email=email
            )
            if not updated:
                await NotificationPreference.create(user_id=user_id, kind=kind, email=email)
    return await notification_preferences(actor)


async def _emails_off(user_ids: Iterable[int], kind: NotificationKind) -> set[int]:
    ids = list(set(user_ids))
    if not ids:
        return set()
    off = NotificationPreference.filter(user_id__in=ids, kind=kind, email=False)
    return {row.user_id for row in await off.only("id", "user_id")}


# Who is told


def users_as_people(users: Iterable[User]) -> list[Person]:
    return [Person(u.email, u.locale, u.id) for u in users]


async def provider_people(company_id: int) -> list[Person]:
    """A provider company's active users, and its contact address if no user has it."""
    users = await User.filter(provider_company_id=company_id, is_active=True).order_by("id")
    people = users_as_people(users)
    company = await ProviderCompany.get_or_none(id=company_id)
    if company is not None and company.email and company.email not in {p.email for p in people}:
        people.append(Person(company.email))
    return people


async def staff_people(marketplace_id: int) -> list[Person]:
    """The marketplace's staff members with an active account."""
    users = (
        await User.filter(staff_roles__marketplace_id=marketplace_id, is_active=True)
        .distinct()
        .order_by("id")
    )
    return users_as_people(users)


# Telling


async def tell(key: str, fact: Fact) -> int:
    """Record the fact for each person (once per key and address) and e-mail those who want
    it and were not e-mailed yet; returns how many e-mails went out."""
    people = list(
        {
            p.email: p
            for p in fact.people
            if p.email and (p.user_id is None or p.user_id != fact.by_user_id)
        }.values()
    )
    off = await _emails_off((p.user_id for p in people if p.user_id is not None), fact.kind)
    due: list[tuple[Notification, Person]] = []
    for person in people:
        row = await _record(key, fact, person)
        if row.emailed_at is None and person.user_id not in off:
            due.append((row, person))
    if not due or not settings().mail_enabled:
        return 0
    mails = [fact.letter.to(p.email, p.locale) for _, p in due]
    try:
        await send_mails(mails)
    except MailNotSent as failure:
        await _mark_emailed([row.id for row, _ in due[: failure.sent]])
        raise
    await _mark_emailed([row.id for row, _ in due])
    return len(due)


async def _record(key: str, fact: Fact, person: Person) -> Notification:
    locale = locale_or_default(person.locale)
    async with atomic() as tx:
        existing = await Notification.filter(key=key, email=person.email).first()
        if existing is not None:
            return existing
        row = await Notification.create(
            key=key,
            kind=fact.kind,
            marketplace_id=fact.marketplace_id,
            user_id=person.user_id,
            email=person.email,
            title=render(fact.letter.subject, locale)[:300],
            body=_first_paragraph(fact.letter, locale),
            object_type=fact.object_type,
            object_id=fact.object_id,
        )
        if person.user_id is not None:
            # A person's own, like their account's events: it follows them into every
            # marketplace they act in, and is never offered to partners' webhooks.
            await record_event(
                tx,
                topic=NOTIFICATION_CREATED,
                marketplace_id=None,
                object_type="Notification",
                object_id=row.id,
                audience=[f"user:{person.user_id}"],
                payload={"kind": fact.kind.value},
            )
    return row


def _first_paragraph(letter: Letter, locale: str) -> str:
    for paragraph in letter.paragraphs:
        if isinstance(paragraph, Text | str):
            return render(paragraph, locale)
    return ""


async def _mark_emailed(ids: list[int]) -> None:
    if ids:
        await Notification.filter(id__in=ids, emailed_at=None).update(emailed_at=clock.now())


# Reading


async def list_notifications(
    actor: Actor, *, first: int | None = None, after: str | None = None
) -> Page[Notification]:
    """The signed-in user's notifications, newest first (what ``notificationReceived``
    pushed, kept beyond the event log's retention)."""
    user_id = actor.require_user()
    return await keyset_page(Notification.filter(user_id=user_id), first=first, after=after)


async def own_notification(actor: Actor, envelope: dict[str, Any]) -> Notification | None:
    """A notification of the viewer's own (the live feed re-checks it for every event)."""
    if actor.user_id is None:
        return None
    return await Notification.get_or_none(id=envelope["object_id"], user_id=actor.user_id)
