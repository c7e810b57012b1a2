"""Idempotency keys: a creating mutation replayed under the same key has one effect."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class IdempotencyState(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"


class IdempotencyKey(Model):
    """A creating mutation run under its caller's Idempotency-Key, and the response it gave.

    The caller's key is never stored: ``key`` is a hash derived from it (HKDF under the server
    secret, per principal) and ``request_hash`` an HMAC of the request under another key derived
    from it, so a database dump neither reveals keys nor lets one test guesses of the input.
    The principal names the caller and its acting marketplace, so a key never replays across
    callers or marketplaces. A RUNNING row whose lock has lapsed was abandoned by a dead process
    and may be taken over. Derivation and sealing: ``presta.security.Vault``, used by
    ``schema/http/idempotency.py``."""

    id = fields.BigIntField(primary_key=True)
    principal = fields.CharField(max_length=128)
    key = fields.CharField(max_length=255)
    request_hash = fields.CharField(max_length=64)
    state = fields.CharEnumField(IdempotencyState, max_length=16)
    # ``v1:`` + base64(nonce + AES-GCM ciphertext) of the response as sent, sealed under a key
    # derived from the caller's: only a request presenting that key can open it, and a replay
    # repeats it byte for byte.
    response = fields.TextField(null=True)
    locked_until = fields.DatetimeField()
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "idempotency_key"
        unique_together = (("principal", "key"),)
