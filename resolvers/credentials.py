"""Authenticated actors kept for a minute, so that a compiled read costs one statement.

Authenticating reads the user and all its roles (one statement); a compiled read is one
more. A request whose credentials were authenticated lately gets the actor kept then, as
*provisional*: a compiled statement run for it carries a guard (``Guard``), the fingerprint of
the rows the actor was built from recomputed in that same statement, and returns its data only
when they are unchanged. Everything else a provisional actor runs (the standard executor, a
mutation, a subscription) is first made sure of (``verify_kept``: the guard alone, in a
statement of its own, else a full authentication). A guard that fails drops the entry: the
request is then answered as a first one would be.

The fingerprint is one SQL expression per kind of credentials, written once in
``resolvers.authentication`` and read by the authentication statement itself, so the kept
value and the guard's agree by construction. Entries are kept per process, for ``KEPT_FOR``
at most (what the fingerprint does not cover, such as a deleted marketplace, shows by then).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from presta import clock, db
from presta.security import sha256_hex
from resolvers.actor import Actor
from resolvers.authentication import (
    API_KEY_FINGERPRINT,
    USER_FINGERPRINT,
    Profile,
    authenticate_api_key,
    authenticate_user,
    authenticate_with_profile,
    user_of,
)

KEPT_FOR = timedelta(seconds=60)
KEPT_AT_MOST = 10_000


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request presents: its bearer token or API key and the marketplace it names."""

    bearer: str | None
    api_key: str | None
    marketplace_id: int | None
    # The request names a marketplace (``marketplace_id`` None: no marketplace has that name).
    named: bool


@dataclass(frozen=True, slots=True)
class Guard:
    """The proof a kept actor's statement carries: the fingerprint of ``subject``'s rows
    (a user id or an API key id) as it was when the actor was built."""

    fingerprint_sql: str
    subject: int
    fingerprint: str

    def check(self, subject: str, fingerprint: str) -> str:
        """SQL true when the rows are unchanged, given the placeholders of both values."""
        found = self.fingerprint_sql.format(subject=subject)
        return f"coalesce({found} = {fingerprint}, false)"


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The actor of a request; ``guard`` set while it is a kept one, not verified yet."""

    actor: Actor
    profile: Profile | None
    credentials: Credentials
    guard: Guard | None = None


@dataclass(frozen=True, slots=True)
class _Kept:
    actor: Actor
    profile: Profile | None
    guard: Guard
    until: datetime


_KEPT: OrderedDict[tuple[object, ...], _Kept] = OrderedDict()


def _key(credentials: Credentials) -> tuple[object, ...] | None:
    """What identifies the credentials (a token is decoded, and refused, here); None for an
    anonymous request."""
    named = (credentials.marketplace_id, credentials.named)
    if credentials.api_key:
        return ("key", sha256_hex(credentials.api_key), *named)
    if credentials.bearer:
        return ("user", user_of(credentials.bearer), *named)
    return None


async def authenticate_kept(credentials: Credentials) -> Authenticated:
    """The kept actor of these credentials (provisional, with its guard), else ``verify``."""
    key = _key(credentials)
    kept = _KEPT.get(key) if key is not None else None
    if key is None or kept is None or clock.now() >= kept.until:
        return await verify(credentials)
    _KEPT.move_to_end(key)
    return Authenticated(kept.actor, kept.profile, credentials, kept.guard)


async def verify_kept(kept: Authenticated) -> Authenticated:
    """A kept actor made sure of for this request: its guard alone (one small statement)
    when its rows are unchanged, else a full authentication (``verify``)."""
    if kept.guard is None:
        return kept
    guard = kept.guard
    found = await db.rows(
        _holds(guard.fingerprint_sql), subject=guard.subject, fp=guard.fingerprint
    )
    if found[0]["ok"]:
        return Authenticated(kept.actor, kept.profile, kept.credentials)
    return await verify(kept.credentials)


_HOLDS: dict[str, str] = {}


def _holds(fingerprint_sql: str) -> str:
    found = _HOLDS.get(fingerprint_sql)
    if found is None:
        check = Guard(fingerprint_sql, 0, "").check(":subject", ":fp")
        found = _HOLDS[fingerprint_sql] = f"SELECT {check} AS ok"
    return found


async def verify(credentials: Credentials) -> Authenticated:
    """Authenticate fully (one statement, refusals raised as always) and keep the actor."""
    key = _key(credentials)
    if key is None:
        actor, profile = await authenticate_with_profile(
            bearer=None,
            api_key=None,
            marketplace_id=credentials.marketplace_id,
            named=credentials.named,
        )
        return Authenticated(actor, profile, credentials)
    _KEPT.pop(key, None)
    if credentials.api_key:
        actor, fingerprint = await authenticate_api_key(
            credentials.api_key, credentials.marketplace_id, named=credentials.named
        )
        assert actor.api_key_id is not None
        guard = Guard(API_KEY_FINGERPRINT, actor.api_key_id, fingerprint)
        profile = None
    else:
        user_id = key[1]
        assert isinstance(user_id, int)
        actor, profile, fingerprint = await authenticate_user(
            user_id, credentials.marketplace_id, named=credentials.named
        )
        guard = Guard(USER_FINGERPRINT, user_id, fingerprint)
    _KEPT[key] = _Kept(actor, profile, guard, clock.now() + KEPT_FOR)
    if len(_KEPT) > KEPT_AT_MOST:
        _KEPT.popitem(last=False)
    return Authenticated(actor, profile, credentials)


def forget_all() -> None:
    """Tests: a new database reuses ids."""
    _KEPT.clear()
