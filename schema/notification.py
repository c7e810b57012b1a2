"""Notifications: the viewer's live feed of what concerns it, and its e-mail preferences."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from models.notification import Notification as NotificationModel
from models.notification import NotificationKind
from resolvers import notification as use_cases
from resolvers.actor import Actor
from schema.base import After, Connection, First, UserErrorBase, connection, encode_id, run_mutation
from schema.context import Info
from schema.http.live import decode_event_cursor, encode_event_cursor, follow

strawberry.enum(
    NotificationKind,
    description="What a notification is about: VISIT_SCHEDULED, VISIT_MOVED, VISIT_CANCELLED "
    "(client and provider), SERVICE_ACCEPTED, SERVICE_REJECTED (provider), "
    "APPLICATION_RECEIVED (staff), DOCUMENT_EXPIRING (provider, 30 days before), "
    "DOCUMENT_EXPIRED (provider and staff), UNREAD_MESSAGES (a digest, 10 minutes after a "
    "message left unread).",
)
strawberry.enum(use_cases.NotificationErrorCode, description="Why a notification operation failed.")


@strawberry.type(description="Something the viewer is told of, as its e-mail said it.")
class Notification:
    kind: NotificationKind = strawberry.field(description="What it is about.")
    title: str = strawberry.field(description="One line, in the viewer's language.")
    body: str = strawberry.field(description="The first paragraph of the e-mail.")
    subject_id: relay.GlobalID = strawberry.field(
        description="The object it is about (Intervention, ProviderService, Membership, "
        "Document, or the viewer's User for unread messages)."
    )
    emailed: bool = strawberry.field(
        description="Whether it was also e-mailed (false when the viewer turned e-mails of "
        "this kind off, or while the e-mail is on its way)."
    )
    created_at: datetime = strawberry.field(description="When it was told.")

    @classmethod
    def from_model(cls, n: NotificationModel) -> Notification:
        return cls(
            kind=n.kind,
            title=n.title,
            body=n.body,
            subject_id=encode_id(n.object_type, n.object_id),
            emailed=n.emailed_at is not None,
            created_at=n.created_at,
        )


@strawberry.type(description="A notification for the viewer.")
class NotificationEvent:
    cursor: str = strawberry.field(description="Pass as `after` to resume after this event.")
    notification: Notification = strawberry.field(description="What the viewer is told.")


@strawberry.type(description="The viewer's choice for one kind of notification.")
class NotificationPreference:
    kind: NotificationKind = strawberry.field(description="The kind.")
    email: bool = strawberry.field(description="Sent by e-mail (on unless turned off).")
    live: bool = strawberry.field(
        description="Pushed to `notificationReceived`: always on, so apps can show it."
    )


@strawberry.input(description="E-mail on or off for one kind.")
class NotificationPreferenceInput:
    kind: NotificationKind = strawberry.field(description="The kind.")
    email: bool = strawberry.field(description="Whether to send it by e-mail.")


@strawberry.input(description="The kinds to change; the others keep their choice.")
class UpdateNotificationPreferencesInput:
    preferences: list[NotificationPreferenceInput] = strawberry.field(
        description="Each kind at most once."
    )


@strawberry.type(description="A failure of a notification operation.")
class NotificationError(UserErrorBase):
    code: use_cases.NotificationErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type
class UpdateNotificationPreferencesPayload:
    preferences: list[NotificationPreference] | None = strawberry.field(
        default=None, description="Every kind with the viewer's choice, after the change."
    )
    user_errors: list[NotificationError] = strawberry.field(
        description="Expected failures; empty on success."
    )


def _preferences(chosen: dict[NotificationKind, bool]) -> list[NotificationPreference]:
    return [NotificationPreference(kind=k, email=e, live=True) for k, e in chosen.items()]


async def _update(actor: Actor, input: UpdateNotificationPreferencesInput) -> dict[str, Any]:
    chosen = await use_cases.update_notification_preferences(
        actor, [(p.kind, p.email) for p in input.preferences]
    )
    return {"preferences": _preferences(chosen)}


async def _load_notification(actor: Actor, envelope: dict[str, Any]) -> Notification | None:
    found = await use_cases.own_notification(actor, envelope)
    return Notification.from_model(found) if found is not None else None


@strawberry.type
class NotificationQuery:
    @strawberry.field(
        description="The viewer's notification preferences, one per kind (e-mail on unless "
        "turned off; live always on)."
    )
    async def notification_preferences(self, info: Info) -> list[NotificationPreference]:
        return _preferences(await use_cases.notification_preferences(info.context.actor))

    @strawberry.field(
        description="The viewer's notifications, newest first: the notification centre an app "
        "opens with, then follows with `notificationReceived`."
    )
    async def notifications(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[Notification]:
        found = await use_cases.list_notifications(info.context.actor, first=first, after=after)
        return connection(found, Notification.from_model)


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(description="Turn the e-mail of some kinds of notification on or off.")
    async def update_notification_preferences(
        self, info: Info, input: UpdateNotificationPreferencesInput
    ) -> UpdateNotificationPreferencesPayload:
        return await run_mutation(
            UpdateNotificationPreferencesPayload,
            NotificationError,
            use_cases.NotificationErrorCode,
            _update(info.context.actor, input),
        )


@strawberry.type
class NotificationSubscription:
    @strawberry.subscription(
        description="Everything the viewer is told of, live, whatever its e-mail preferences: "
        "visits, services, applications, documents, unread messages. One feed for every kind "
        "(an app shows it as a notification centre); `after` replays what was missed."
    )
    async def notification_received(
        self, info: Info, after: After = None
    ) -> AsyncGenerator[NotificationEvent, None]:
        actor = info.context.actor
        actor.require_user()
        async for event_id, item in follow(
            actor,
            topics=[use_cases.NOTIFICATION_CREATED],
            after=decode_event_cursor(after),
            load=_load_notification,
        ):
            yield NotificationEvent(cursor=encode_event_cursor(event_id), notification=item)
