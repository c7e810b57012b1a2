"""The ADMIN's webhook operations: endpoints (create, update, rotate, disable, delete), their
deliveries, and sending one again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from models.webhook import WebhookDeliveryStatus
from resolvers.actor import Actor
from resolvers.webhook import endpoint as use_cases
from resolvers.webhook import fanout
from schema.base import (
    After,
    Before,
    Connection,
    First,
    Last,
    Mutations,
    connection,
    decode_id,
)
from schema.context import Info
from schema.webhook.types import EVENT_TYPES_TEXT, WebhookDelivery, WebhookEndpoint, WebhookError

SECRET_TEXT = (
    "The signing secret (`whsec_` + base64), shown only here: store it now. Verify each "
    "delivery with it, e.g. `standardwebhooks.Webhook(secret).verify(body, headers)`."
)


@strawberry.input(description="A new webhook endpoint of the acting marketplace.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(
        description="Where to POST: https (http outside production), a public address."
    )
    events: list[str] | None = strawberry.field(
        default=None,
        description=f"Event types to receive; null or empty: every one ({EVENT_TYPES_TEXT}).",
    )
    description: str = strawberry.field(default="", description="What it is for (max 500).")
    ordered: bool = strawberry.field(
        default=False,
        description="Send one at a time in event order (slower; a failing delivery holds "
        "back the later ones until it succeeds or its retry window closes).",
    )


@strawberry.input(description="Change an endpoint; what is left out stays as it is.")
class UpdateWebhookEndpointInput:
    id: relay.GlobalID = strawberry.field(description="The endpoint.")
    url: str | None = strawberry.field(default=None, description="A new URL.")
    events: list[str] | None = strawberry.field(
        default=None, description="New event types; empty: every one."
    )
    description: str | None = strawberry.field(default=None, description="A new description.")
    ordered: bool | None = strawberry.field(default=None, description="Order deliveries.")
    enabled: bool | None = strawberry.field(
        default=None,
        description="true enables a disabled endpoint (its pending deliveries are sent again "
        "now; events recorded while it was disabled are not sent); false disables it.",
    )


@strawberry.input(description="The endpoint whose secret to replace.")
class RotateWebhookSecretInput:
    id: relay.GlobalID = strawberry.field(description="The endpoint.")
    previous_secret_valid_hours: int = strawberry.field(
        default=use_cases.PREVIOUS_SECRET_HOURS,
        description="How long the old secret keeps signing too, so the receiver can switch "
        f"without losing a message: 0 to {use_cases.MAX_PREVIOUS_SECRET_HOURS} hours; 0 stops "
        "it at once (a leaked secret).",
    )


@strawberry.input(description="The endpoint to disable.")
class DisableWebhookEndpointInput:
    id: relay.GlobalID = strawberry.field(description="The endpoint.")


@strawberry.input(description="The endpoint to delete, with its deliveries.")
class DeleteWebhookEndpointInput:
    id: relay.GlobalID = strawberry.field(description="The endpoint.")


@strawberry.input(description="A delivery to send again.")
class RedeliverWebhookInput:
    id: relay.GlobalID = strawberry.field(description="The delivery (WebhookDelivery).")


@strawberry.type(description="Result of createWebhookEndpoint.")
class CreateWebhookEndpointPayload:
    user_errors: list[WebhookError] = strawberry.field(description="Expected failures.")
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        default=None, description="The endpoint."
    )
    secret: str | None = strawberry.field(default=None, description=SECRET_TEXT)


@strawberry.type(description="Result of rotateWebhookSecret.")
class RotateWebhookSecretPayload:
    user_errors: list[WebhookError] = strawberry.field(description="Expected failures.")
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        default=None, description="The endpoint."
    )
    secret: str | None = strawberry.field(
        default=None,
        description="The new secret, shown only here; the old one also signs until "
        "`webhookEndpoint.previousSecretExpiresAt`.",
    )


@strawberry.type(description="Result of updateWebhookEndpoint.")
class UpdateWebhookEndpointPayload:
    user_errors: list[WebhookError] = strawberry.field(description="Expected failures.")
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        default=None, description="The endpoint as it now is."
    )


@strawberry.type(description="Result of disableWebhookEndpoint.")
class DisableWebhookEndpointPayload:
    user_errors: list[WebhookError] = strawberry.field(description="Expected failures.")
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        default=None, description="The endpoint, disabled."
    )


@strawberry.type(description="Result of deleteWebhookEndpoint.")
class DeleteWebhookEndpointPayload:
    user_errors: list[WebhookError] = strawberry.field(description="Expected failures.")
    deleted_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The endpoint that was deleted."
    )


@strawberry.input(description="The events an endpoint missed, to send it now.")
class RecoverWebhookEventsInput:
    id: relay.GlobalID = strawberry.field(description="The endpoint (enabled).")
    since: datetime = strawberry.field(
        description="From this time on (with a UTC offset, within the event log's retention)."
    )


@strawberry.type(description="Result of recoverWebhookEvents.")
class RecoverWebhookEventsPayload:
    user_errors: list[WebhookError] = strawberry.field(description="Expected failures.")
    recovered: int = strawberry.field(
        default=0, description="How many deliveries were created, to be sent now."
    )


@strawberry.type(description="Result of redeliverWebhook.")
class RedeliverWebhookPayload:
    user_errors: list[WebhookError] = strawberry.field(description="Expected failures.")
    webhook_delivery: WebhookDelivery | None = strawberry.field(
        default=None, description="The delivery, pending again."
    )


def _endpoint_id(gid: relay.GlobalID) -> int:
    return decode_id(gid, "WebhookEndpoint")


async def _create(actor: Actor, data: CreateWebhookEndpointInput) -> dict[str, Any]:
    endpoint, secret = await use_cases.create_webhook_endpoint(
        actor,
        url=data.url,
        events=data.events,
        description=data.description,
        ordered=data.ordered,
    )
    return {"webhook_endpoint": WebhookEndpoint.from_model(endpoint), "secret": secret}


async def _update(actor: Actor, data: UpdateWebhookEndpointInput) -> dict[str, Any]:
    endpoint = await use_cases.update_webhook_endpoint(
        actor,
        endpoint_id=_endpoint_id(data.id),
        url=data.url,
        events=data.events,
        description=data.description,
        ordered=data.ordered,
        enabled=data.enabled,
    )
    return {"webhook_endpoint": WebhookEndpoint.from_model(endpoint)}


async def _rotate(actor: Actor, data: RotateWebhookSecretInput) -> dict[str, Any]:
    endpoint, secret = await use_cases.rotate_webhook_secret(
        actor,
        endpoint_id=_endpoint_id(data.id),
        previous_valid_hours=data.previous_secret_valid_hours,
    )
    return {"webhook_endpoint": WebhookEndpoint.from_model(endpoint), "secret": secret}


async def _disable(actor: Actor, data: DisableWebhookEndpointInput) -> dict[str, Any]:
    endpoint = await use_cases.disable_webhook_endpoint(actor, endpoint_id=_endpoint_id(data.id))
    return {"webhook_endpoint": WebhookEndpoint.from_model(endpoint)}


async def _delete(actor: Actor, data: DeleteWebhookEndpointInput) -> dict[str, Any]:
    deleted = await use_cases.delete_webhook_endpoint(actor, endpoint_id=_endpoint_id(data.id))
    return {"deleted_id": relay.GlobalID("WebhookEndpoint", str(deleted))}


async def _redeliver(actor: Actor, data: RedeliverWebhookInput) -> dict[str, Any]:
    delivery = await use_cases.redeliver_webhook(
        actor, delivery_id=decode_id(data.id, "WebhookDelivery")
    )
    return {"webhook_delivery": WebhookDelivery.from_model(delivery)}


async def _recover(actor: Actor, data: RecoverWebhookEventsInput) -> dict[str, Any]:
    recovered = await fanout.recover_webhook_events(
        actor, endpoint_id=_endpoint_id(data.id), since=data.since
    )
    return {"recovered": recovered}


_run = Mutations(WebhookError, use_cases.WebhookErrorCode)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        description="ADMIN: add a webhook endpoint; it receives the events recorded from now "
        "on. The secret is in the payload, once."
    )
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointPayload:
        return await _run(CreateWebhookEndpointPayload, _create(info.context.actor, input))

    @strawberry.mutation(description="ADMIN: change, enable or disable a webhook endpoint.")
    async def update_webhook_endpoint(
        self, info: Info, input: UpdateWebhookEndpointInput
    ) -> UpdateWebhookEndpointPayload:
        return await _run(UpdateWebhookEndpointPayload, _update(info.context.actor, input))

    @strawberry.mutation(
        description="ADMIN: replace an endpoint's signing secret; the new one is in the "
        "payload, once, and the old one stops signing at once."
    )
    async def rotate_webhook_secret(
        self, info: Info, input: RotateWebhookSecretInput
    ) -> RotateWebhookSecretPayload:
        return await _run(RotateWebhookSecretPayload, _rotate(info.context.actor, input))

    @strawberry.mutation(
        description="ADMIN: stop sending to an endpoint; pending deliveries wait and "
        "everything stays readable (enable it again with updateWebhookEndpoint)."
    )
    async def disable_webhook_endpoint(
        self, info: Info, input: DisableWebhookEndpointInput
    ) -> DisableWebhookEndpointPayload:
        return await _run(DisableWebhookEndpointPayload, _disable(info.context.actor, input))

    @strawberry.mutation(description="ADMIN: delete an endpoint and its deliveries.")
    async def delete_webhook_endpoint(
        self, info: Info, input: DeleteWebhookEndpointInput
    ) -> DeleteWebhookEndpointPayload:
        return await _run(DeleteWebhookEndpointPayload, _delete(info.context.actor, input))

    @strawberry.mutation(
        description="ADMIN: send a delivery again now, with the same `webhook-id` and a new "
        "retry window (its endpoint must be enabled)."
    )
    async def redeliver_webhook(
        self, info: Info, input: RedeliverWebhookInput
    ) -> RedeliverWebhookPayload:
        return await _run(RedeliverWebhookPayload, _redeliver(info.context.actor, input))

    @strawberry.mutation(
        description="ADMIN: send an enabled endpoint, now, the events of its topics recorded "
        "since a time that it never got (while it was disabled, before it took a topic); each "
        "is a new delivery. Within the event log's retention."
    )
    async def recover_webhook_events(
        self, info: Info, input: RecoverWebhookEventsInput
    ) -> RecoverWebhookEventsPayload:
        return await _run(RecoverWebhookEventsPayload, _recover(info.context.actor, input))


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="ADMIN: the webhook endpoints of the acting marketplace.")
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        found = await use_cases.webhook_endpoints(info.context.actor)
        return [WebhookEndpoint.from_model(e) for e in found]

    @strawberry.field(
        description="ADMIN: what was sent, or is to be sent, to an endpoint, newest first."
    )
    async def webhook_deliveries(
        self,
        info: Info,
        endpoint_id: Annotated[relay.GlobalID, strawberry.argument(description="The endpoint.")],
        status: Annotated[
            WebhookDeliveryStatus | None, strawberry.argument(description="Only this status.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[WebhookDelivery]:
        page = await use_cases.webhook_deliveries(
            info.context.actor,
            endpoint_id=decode_id(endpoint_id, "WebhookEndpoint", field="endpointId"),
            status=status,
            first=first,
            after=after,
            last=last,
            before=before,
        )
        return connection(page, WebhookDelivery.from_model)
