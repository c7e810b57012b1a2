"""The GraphQL types of webhooks: endpoints, deliveries, and their enums."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from models.webhook import WebhookDelivery as WebhookDeliveryModel
from models.webhook import WebhookDeliveryStatus, WebhookDisabledReason, WebhookEndpointStatus
from models.webhook import WebhookEndpoint as WebhookEndpointModel
from presta import clock
from resolvers.actor import Actor
from resolvers.events import event_cursor
from resolvers.webhook import endpoint as use_cases
from schema.base import UserErrorBase, encode_id
from schema.node import AuthorizedNode

strawberry.enum(use_cases.WebhookErrorCode, description="Why a webhook operation failed.")
strawberry.enum(
    WebhookEndpointStatus, description="ACTIVE endpoints receive events; DISABLED ones do not."
)
strawberry.enum(
    WebhookDisabledReason,
    description="BY_ADMIN: an admin disabled it; FAILING: no delivery succeeded for too long.",
)
strawberry.enum(
    WebhookDeliveryStatus,
    description="PENDING: to be sent (again); DELIVERED: the receiver answered 2xx; FAILED: "
    "the retry window closed without success.",
)

EVENT_TYPES_TEXT = ", ".join(f"`{t}`" for t in use_cases.EVENT_TYPES)


@strawberry.type(description="A failure of a webhook operation.")
class WebhookError(UserErrorBase):
    code: use_cases.WebhookErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(
    description="A URL that receives the marketplace's events as Standard Webhooks: JSON "
    "`{type, timestamp, data}` POSTed with `webhook-id`, `webhook-timestamp` and "
    "`webhook-signature` headers, signed with the endpoint's secret."
)
class WebhookEndpoint(AuthorizedNode):
    id: relay.NodeID[int]
    url: str = strawberry.field(description="Where deliveries are POSTed.")
    description: str = strawberry.field(description="What it is for, as given.")
    events: list[str] | None = strawberry.field(
        description=f"The event types it receives; null: every one ({EVENT_TYPES_TEXT})."
    )
    ordered: bool = strawberry.field(
        description="Deliveries are sent one at a time in event order: one waits while an "
        "earlier one is pending (retries included)."
    )
    status: WebhookEndpointStatus = strawberry.field(description="ACTIVE or DISABLED.")
    disabled_reason: WebhookDisabledReason | None = strawberry.field(
        description="Why it is disabled, if it is."
    )
    disabled_at: datetime | None = strawberry.field(description="When it was disabled.")
    failing_since: datetime | None = strawberry.field(
        description="First failure since its last success; null while it succeeds."
    )
    last_success_at: datetime | None = strawberry.field(description="Last delivery that succeeded.")
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="After a rotation: until when the previous secret signs too (each "
        "message then carries both signatures); null when only the current one signs."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")

    @classmethod
    def from_model(cls, e: WebhookEndpointModel) -> WebhookEndpoint:
        return cls(
            id=e.id,
            url=e.url,
            description=e.description,
            events=e.topics,
            ordered=e.ordered,
            status=e.status,
            disabled_reason=e.disabled_reason,
            disabled_at=e.disabled_at,
            failing_since=e.failing_since,
            last_success_at=e.last_success_at,
            previous_secret_expires_at=_in_future(e.previous_secret_expires_at),
            created_at=e.created_at,
            updated_at=e.updated_at,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        return {e.id: cls.from_model(e) for e in await use_cases.visible_endpoints(actor, ids)}


@strawberry.type(description="One event sent (or to be sent) to one endpoint.")
class WebhookDelivery(AuthorizedNode):
    id: relay.NodeID[int]
    endpoint_id: relay.GlobalID = strawberry.field(description="The endpoint (WebhookEndpoint).")
    webhook_id: str = strawberry.field(
        description="The `webhook-id` header: the same on every attempt, so a receiver that "
        "remembers it processes the event once."
    )
    event_type: str = strawberry.field(description="The event's type (`type` in the body).")
    event_cursor: str = strawberry.field(
        description="The event's cursor: subscriptions resume after it with `after`."
    )
    object_id: relay.GlobalID = strawberry.field(description="The object the event is about.")
    body: str = strawberry.field(description="The JSON body, exactly as signed and sent.")
    status: WebhookDeliveryStatus = strawberry.field(description="PENDING, DELIVERED or FAILED.")
    attempts: int = strawberry.field(description="Attempts made so far.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is sent next, while pending (an ordered endpoint's delivery also "
        "waits for the earlier ones)."
    )
    last_attempt_at: datetime | None = strawberry.field(description="When it was last sent.")
    last_response_status: int | None = strawberry.field(
        description="HTTP status of the last answer; null when none came (time-out, refusal)."
    )
    last_error: str | None = strawberry.field(description="Why the last attempt failed.")
    delivered_at: datetime | None = strawberry.field(description="When the receiver took it.")
    created_at: datetime = strawberry.field(description="When the event was fanned out to it.")

    @classmethod
    def from_model(cls, d: WebhookDeliveryModel) -> WebhookDelivery:
        return cls(
            id=d.id,
            endpoint_id=encode_id("WebhookEndpoint", d.endpoint_id),
            webhook_id=d.message_id,
            event_type=d.topic,
            event_cursor=event_cursor(d.event_id),
            object_id=encode_id(d.object_type, d.object_id),
            body=d.body,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_attempt_at=d.last_attempt_at,
            last_response_status=d.last_response_status,
            last_error=d.last_error or None,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        return {d.id: cls.from_model(d) for d in await use_cases.visible_deliveries(actor, ids)}


def _in_future(moment: datetime | None) -> datetime | None:
    return moment if moment is not None and moment > clock.now() else None
