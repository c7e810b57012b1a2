"""Idempotency keys: the first request under a key runs, its replays get its response.

The claim is a row inserted outside any transaction: the unique (principal, key) index makes
exactly one of several concurrent requests the runner. The others wait for its response, up to
``idempotency_wait_seconds``, then are told it is still in progress.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from tortoise.exceptions import IntegrityError

from models.idempotency import IdempotencyKey, IdempotencyState
from presta import clock
from presta.settings import settings

log = logging.getLogger(__name__)

# A runner that has not finished in this long is presumed dead (its process was killed).
LOCK = timedelta(seconds=60)
_POLL_SECONDS = 0.05


class Verdict(StrEnum):
    RUN = "RUN"  # this request executes; finish() or release() afterwards
    REPLAY = "REPLAY"  # the key already has a response: give it again
    REUSED = "REUSED"  # the key was used for a different input
    IN_PROGRESS = "IN_PROGRESS"  # another request under the key is still running


@dataclass(frozen=True, slots=True)
class Claim:
    verdict: Verdict
    record_id: int | None = None
    response: str | None = None  # sealed: v1:<base64 nonce + AES-GCM ciphertext>


def _stored(principal: str) -> str:
    """The principal as the table keeps it: an anonymous caller's address is personal data,
    kept for a day with the row, so only its keyed hash is."""
    if not principal.startswith("ip:"):
        return principal
    secret = settings().secret_key.encode()
    return "ip:" + hmac.new(secret, principal.encode(), hashlib.sha256).hexdigest()[:40]


async def claim(principal: str, key: str, request_hash: str) -> Claim:
    """One request per (principal, key) runs; the same input replays, another input is refused."""
    principal = _stored(principal)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + settings().idempotency_wait_seconds
    while True:
        now = clock.now()
        try:
            created = await IdempotencyKey.create(
                principal=principal,
                key=key,
                request_hash=request_hash,
                state=IdempotencyState.RUNNING,
                locked_until=now + LOCK,
                created_at=now,
                expires_at=now + timedelta(hours=settings().idempotency_ttl_hours),
            )
            return Claim(Verdict.RUN, record_id=created.id)
        except IntegrityError:
            pass
        row = await IdempotencyKey.get_or_none(principal=principal, key=key)
        if row is None:
            continue  # released between our insert and our read
        if row.expires_at <= now:
            await IdempotencyKey.filter(id=row.id, expires_at__lte=now).delete()
            continue
        if row.request_hash != request_hash:
            return Claim(Verdict.REUSED)
        if row.state is IdempotencyState.DONE:
            return Claim(Verdict.REPLAY, record_id=row.id, response=row.response)
        if row.locked_until <= now:
            taken = await IdempotencyKey.filter(
                id=row.id, state=IdempotencyState.RUNNING, locked_until=row.locked_until
            ).update(locked_until=now + LOCK)
            if taken:
                log.warning("idempotency key %s of %s taken over from a dead run", key, principal)
                return Claim(Verdict.RUN, record_id=row.id)
            continue
        if loop.time() >= give_up:
            return Claim(Verdict.IN_PROGRESS)
        await asyncio.sleep(_POLL_SECONDS)


async def finish(record_id: int, response: str) -> None:
    """Keep the response of a run for its replays."""
    await IdempotencyKey.filter(id=record_id).update(state=IdempotencyState.DONE, response=response)


async def release(record_id: int) -> None:
    """Forget a run that had no effect, so the key may be used again."""
    await IdempotencyKey.filter(id=record_id, state=IdempotencyState.RUNNING).delete()


async def purge_expired_idempotency_keys() -> int:
    """Drop keys past their time to live."""
    deleted: int = await IdempotencyKey.filter(expires_at__lt=clock.now()).delete()
    if deleted:
        log.info("purged %d expired idempotency keys", deleted)
    return deleted
