"""The event log: every live event is stored here, in the transaction of its change."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Event(Model):
    """A change that viewers may see. Its id is monotonic: it is the subscription cursor."""

    id = fields.BigIntField(primary_key=True)
    marketplace_id = fields.BigIntField(null=True, db_index=True)
    topic = fields.CharField(max_length=64)
    object_type = fields.CharField(max_length=64)
    object_id = fields.BigIntField()
    # Who may see it: audience keys such as "company:12", "staff:3", "user:7", "client:5".
    audience: list[str] = fields.JSONField(default=list)
    payload: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "event"
