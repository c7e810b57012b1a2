"""Idempotency keys: a creating mutation replayed under the same key has one effect."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class IdempotencyState(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"


class IdempotencyKey(Model):
    """A mutation run under a key chosen by its caller, with the hash of its input and the
    response it gave. The principal names the caller and its acting marketplace, so a key
    never replays across callers or marketplaces. A RUNNING row whose lock has lapsed was
    abandoned by a dead process and may be taken over."""

    id = fields.BigIntField(primary_key=True)
    principal = fields.CharField(max_length=128)
    key = fields.CharField(max_length=255)
    request_hash = fields.CharField(max_length=64)
    state = fields.CharEnumField(IdempotencyState, max_length=16)
    # The response as sent, in JSON text: a replay repeats it byte for byte (jsonb would not
    # keep the order of its keys).
    response = fields.TextField(null=True)
    locked_until = fields.DatetimeField()
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "idempotency_key"
        unique_together = (("principal", "key"),)
