"""Client requests, their dispatch to providers, answers, rounds and proposals."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.account import Client, User
    from models.catalog import Service
    from models.marketplace import Marketplace
    from models.membership import Membership


class RequestStatus(StrEnum):
    OPEN = "OPEN"
    PROPOSAL_SENT = "PROPOSAL_SENT"
    ACCEPTED = "ACCEPTED"
    CANCELLED = "CANCELLED"
    UNMATCHED = "UNMATCHED"
    EXPIRED = "EXPIRED"


class Frequency(StrEnum):
    WEEKLY = "WEEKLY"
    EVERY_TWO_WEEKS = "EVERY_TWO_WEEKS"
    MONTHLY = "MONTHLY"


class DispatchStatus(StrEnum):
    PENDING = "PENDING"
    INTERESTED = "INTERESTED"
    DECLINED = "DECLINED"
    SELECTED = "SELECTED"
    NOT_SELECTED = "NOT_SELECTED"


class ProposalTrigger(StrEnum):
    THRESHOLD = "THRESHOLD"  # enough providers were interested
    DEADLINE = "DEADLINE"  # days_before_sending passed with at least one interested


class ServiceRequest(Model):
    """A client's request for a service at an address. Its deadlines drive the sweep."""

    id = fields.BigIntField(primary_key=True)
    marketplace: fields.ForeignKeyRelation[Marketplace] = fields.ForeignKeyField(
        "models.Marketplace", related_name="requests", on_delete=fields.CASCADE
    )
    marketplace_id: int
    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="requests", on_delete=fields.CASCADE, db_index=True
    )
    client_id: int
    service: fields.ForeignKeyRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="requests", on_delete=fields.RESTRICT, db_index=True
    )
    service_id: int
    status = fields.CharEnumField(RequestStatus, max_length=16, db_index=True)
    postal_code = fields.CharField(max_length=5, db_index=True)
    city = fields.CharField(max_length=100)
    address_line = fields.CharField(max_length=255, default="")
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    description = fields.TextField(default="")
    wished_start = fields.DatetimeField(null=True)
    frequency = fields.CharEnumField(Frequency, max_length=16, null=True)
    duration_minutes = fields.IntField(null=True)
    round = fields.IntField(default=0)
    round_started_at = fields.DatetimeField(null=True)
    send_proposal_at = fields.DatetimeField(null=True, db_index=True)
    remind_at = fields.DatetimeField(null=True, db_index=True)
    selected_membership: fields.ForeignKeyNullableRelation[Membership] = fields.ForeignKeyField(
        "models.Membership",
        related_name="won_requests",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    selected_membership_id: int | None
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="created_requests", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    cancel_reason = fields.TextField(default="")
    closed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "service_request"
        indexes = (("marketplace_id", "status", "created_at"),)


class RequestRound(Model):
    """One sending of a request to providers: round 1 is the dispatch, then reminders."""

    id = fields.BigIntField(primary_key=True)
    request: fields.ForeignKeyRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="rounds", on_delete=fields.CASCADE
    )
    request_id: int
    number = fields.IntField()
    providers_asked = fields.IntField(default=0)
    started_at = fields.DatetimeField()

    class Meta:
        table = "request_round"
        unique_together = (("request", "number"),)


class Dispatch(Model):
    """A request sent to one provider, and that provider's answer."""

    id = fields.BigIntField(primary_key=True)
    request: fields.ForeignKeyRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="dispatches", on_delete=fields.CASCADE
    )
    request_id: int
    membership: fields.ForeignKeyRelation[Membership] = fields.ForeignKeyField(
        "models.Membership", related_name="dispatches", on_delete=fields.CASCADE
    )
    membership_id: int
    round = fields.IntField(default=1)
    status = fields.CharEnumField(DispatchStatus, max_length=16, default=DispatchStatus.PENDING)
    message = fields.TextField(default="")
    price = fields.DecimalField(max_digits=10, decimal_places=2, null=True)
    answered_at = fields.DatetimeField(null=True)
    proposed_at = fields.DatetimeField(null=True)
    assigned_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="assigned_dispatches", null=True, on_delete=fields.SET_NULL
    )
    assigned_by_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "dispatch"
        unique_together = (("request", "membership"),)
        indexes = (("membership_id", "id"),)


class DispatchAnswerAudit(Model):
    """Append-only trail of a provider's answers, changes of mind included."""

    id = fields.BigIntField(primary_key=True)
    dispatch: fields.ForeignKeyRelation[Dispatch] = fields.ForeignKeyField(
        "models.Dispatch", related_name="answers", on_delete=fields.CASCADE, db_index=True
    )
    dispatch_id: int
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="dispatch_answers", null=True, on_delete=fields.SET_NULL
    )
    user_id: int | None
    round = fields.IntField()
    from_status = fields.CharEnumField(DispatchStatus, max_length=16)
    to_status = fields.CharEnumField(DispatchStatus, max_length=16)
    message = fields.TextField(default="")
    price = fields.DecimalField(max_digits=10, decimal_places=2, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "dispatch_answer_audit"


class Proposal(Model):
    """The proposal sent to the client, at most one per request (unique request)."""

    id = fields.BigIntField(primary_key=True)
    request: fields.OneToOneRelation[ServiceRequest] = fields.OneToOneField(
        "models.ServiceRequest", related_name="proposal", on_delete=fields.CASCADE
    )
    request_id: int
    trigger = fields.CharEnumField(ProposalTrigger, max_length=16)
    sent_at = fields.DatetimeField()
    accepted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "proposal"


class Notice(Model):
    """A notification already sent, by key, so a redelivered job does not send it twice."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=128, unique=True)
    sent_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notice"


class DispatchJob(Model):
    """A job of the dispatch flow written in the transaction of its change (an outbox).
    The sweep enqueues again any job not done in time, so a crash between the commit and the
    enqueue loses nothing (the jobs are idempotent)."""

    id = fields.BigIntField(primary_key=True)
    actor_name = fields.CharField(max_length=64)
    kwargs: dict[str, Any] = fields.JSONField(default=dict)
    attempts = fields.IntField(default=1)
    retry_at = fields.DatetimeField()
    done_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "dispatch_job"
        indexes = (("done_at", "retry_at"),)
