"""The job outbox: jobs written in the transaction of the change that asks for them."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class JobOutbox(Model):
    """A job asked for by a committed change and not yet handed to the queue.
    The row is written in the transaction of the change and deleted once the queue holds the
    job. A sweep hands again the rows left behind, so a queue outage or a crash between the
    commit and the enqueue loses no job (every job is idempotent)."""

    id = fields.BigIntField(primary_key=True)
    actor_name = fields.CharField(max_length=64)
    kwargs: dict[str, Any] = fields.JSONField(default=dict)
    attempts = fields.IntField(default=0)
    retry_at = fields.DatetimeField(db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "job_outbox"
