"""Who calls: the actor of a request, from its bearer token or its partner API key and the
acting marketplace it names."""

from __future__ import annotations

from dataclasses import dataclass

from models.account import ApiScope, Client, StaffMember, StaffRole, User
from models.membership import Membership, MembershipStatus
from presta import db
from presta.i18n import _
from presta.security import TokenError, decode_access_token, sha256_hex
from resolvers.actor import ANONYMOUS, Actor, RoleGrant
from resolvers.errors import marketplace_not_found, unauthenticated

API_KEY_PREFIX = "pk_"


@dataclass(frozen=True, slots=True)
class Profile:
    """The signed-in user's own row, read with its roles while authenticating one request."""

    user_id: int
    email: str
    full_name: str
    locale: str | None = None


async def authenticate(
    *,
    bearer: str | None,
    api_key: str | None,
    marketplace_id: int | None,
    named: bool | None = None,
) -> Actor:
    """Build the actor of a request from its credentials and the acting marketplace it names."""
    actor, _profile = await authenticate_with_profile(
        bearer=bearer, api_key=api_key, marketplace_id=marketplace_id, named=named
    )
    return actor


async def authenticate_with_profile(
    *,
    bearer: str | None,
    api_key: str | None,
    marketplace_id: int | None,
    named: bool | None = None,
) -> tuple[Actor, Profile | None]:
    """The actor, and for a bearer token the user's profile as read in the same statement.

    ``named``: the request names an acting marketplace (``X-Marketplace``), ``marketplace_id``
    (None when no marketplace has that name); by default, whether ``marketplace_id`` is given.
    A named marketplace the caller may not act in is refused (``MARKETPLACE_NOT_FOUND``) once
    the credentials are known to be valid; never silently replaced by another one.
    """
    if named is None:
        named = marketplace_id is not None
    if api_key:
        return await _authenticate_api_key(api_key, marketplace_id, named), None
    if not bearer:
        if named:
            raise marketplace_not_found(anonymous=True)
        return ANONYMOUS, None
    actor, profile, _fingerprint = await authenticate_user(
        user_of(bearer), marketplace_id, named=named
    )
    return actor, profile


def user_of(bearer: str) -> int:
    """The user id of a valid access token; refused (``UNAUTHENTICATED``) otherwise."""
    try:
        return decode_access_token(bearer)
    except TokenError as exc:
        raise unauthenticated(
            _("Access token expired.") if exc.reason == "expired" else _("Invalid access token.")
        ) from None


async def authenticate_user(
    user_id: int, marketplace_id: int | None, *, named: bool
) -> tuple[Actor, Profile, str]:
    """The actor of a valid token's user, its profile and the fingerprint of the rows read."""
    found = await _user_with_roles(user_id)
    if found is None:
        raise unauthenticated(_("Invalid access token."))
    actor = _actor(found, marketplace_id, named=named)
    return (
        actor,
        Profile(found.user_id, found.email, found.full_name, found.locale),
        found.fingerprint,
    )


# What an actor is built from, as one text: the user row (is_active filters it; its profile,
# admin flag, company and locale) and the same role rows as _USER_WITH_ROLES (a membership's
# status too, so that a suspension counts as a change). Written once: the authentication
# statement reads it with the actor, and a kept actor's compiled statement recomputes it
# (``resolvers.credentials``), so both sides agree by construction. NULL: no active user.
USER_FINGERPRINT = """(SELECT md5(CAST(ROW(
    fu.email, fu.full_name, fu.is_platform_admin, fu.provider_company_id, fu.locale,
    (SELECT array_agg(ROW(fs.marketplace_id, fs.role, fs.id) ORDER BY fs.id)
     FROM account_staff_member fs WHERE fs.user_id = fu.id),
    (SELECT array_agg(ROW(fm.marketplace_id, fm.id, fm.status) ORDER BY fm.id)
     FROM membership fm WHERE fm.company_id = fu.provider_company_id AND fm.status <> 'DELETED'),
    (SELECT array_agg(ROW(fc.marketplace_id, fc.id) ORDER BY fc.id)
     FROM account_client fc WHERE fc.user_id = fu.id)
) AS text)) FROM account_user fu WHERE fu.id = {subject} AND fu.is_active)"""

# The same for a partner API key: its row while it is not revoked.
API_KEY_FINGERPRINT = """(SELECT md5(CAST(
    ROW(fk.prefix, fk.secret_hash, fk.marketplace_id, fk.scope) AS text))
FROM account_api_key fk WHERE fk.id = {subject} AND fk.revoked_at IS NULL)"""


# Every request of a logged-in user runs this: the user and all its roles in one statement.
_USER_WITH_ROLES = """
SELECT u.id, u.email, u.full_name, u.is_platform_admin, u.provider_company_id, u.locale,
       r.kind, r.marketplace_id, r.ref, r.role, {fingerprint} AS fingerprint
FROM account_user u
LEFT JOIN (
    SELECT 'S' AS kind, s.user_id AS user_id, s.marketplace_id AS marketplace_id,
           s.id AS ref, s.role AS role
    FROM account_staff_member s WHERE s.user_id = :user_id
    UNION ALL
    SELECT 'P', pu.id, m.marketplace_id, m.id, ''
    FROM membership m JOIN account_user pu ON pu.provider_company_id = m.company_id
    WHERE pu.id = :user_id AND m.status <> 'DELETED'
    UNION ALL
    SELECT 'C', c.user_id, c.marketplace_id, c.id, ''
    FROM account_client c WHERE c.user_id = :user_id
) r ON r.user_id = u.id
WHERE u.id = :user_id AND u.is_active
""".format(fingerprint=USER_FINGERPRINT.format(subject=":user_id"))


@dataclass(frozen=True, slots=True)
class _UserRoles:
    user_id: int
    email: str
    full_name: str
    is_platform_admin: bool
    company_id: int | None
    locale: str | None
    staff: list[tuple[int, str]]
    memberships: list[tuple[int, int]]
    clients: list[tuple[int, int]]
    fingerprint: str = ""


async def _user_with_roles(user_id: int) -> _UserRoles | None:
    rows = await db.rows(_USER_WITH_ROLES, user_id=user_id)
    if not rows:
        return None
    first = rows[0]
    found = _UserRoles(
        user_id=int(first["id"]),
        email=first["email"],
        full_name=first["full_name"],
        is_platform_admin=bool(first["is_platform_admin"]),
        company_id=first["provider_company_id"],
        locale=first["locale"],
        staff=[],
        memberships=[],
        clients=[],
        fingerprint=first["fingerprint"],
    )
    for row in sorted((r for r in rows if r["kind"]), key=lambda r: (r["kind"], r["ref"])):
        marketplace_id, ref = int(row["marketplace_id"]), int(row["ref"])
        if row["kind"] == "S":
            found.staff.append((marketplace_id, StaffRole(row["role"])))
        elif row["kind"] == "P":
            found.memberships.append((marketplace_id, ref))
        else:
            found.clients.append((marketplace_id, ref))
    return found


async def actor_for_user(user: User, marketplace_id: int | None) -> Actor:
    staff = await StaffMember.filter(user_id=user.id).values_list("marketplace_id", "role")
    clients = await Client.filter(user_id=user.id).values_list("marketplace_id", "id")
    memberships: list[tuple[int, int]] = []
    if user.provider_company_id is not None:
        memberships = (
            await Membership.filter(
                company_id=user.provider_company_id,
            )
            .exclude(status=MembershipStatus.DELETED)
            .values_list("marketplace_id", "id")
        )
    found = _UserRoles(
        user_id=user.id,
        email=user.email,
        full_name=user.full_name,
        is_platform_admin=user.is_platform_admin,
        company_id=user.provider_company_id,
        locale=user.locale,
        staff=list(staff),
        memberships=list(memberships),
        clients=list(clients),
    )
    return _actor(found, marketplace_id)


def _actor(found: _UserRoles, marketplace_id: int | None, *, named: bool = False) -> Actor:
    staff, memberships, clients = found.staff, found.memberships, found.clients
    grants = (
        [RoleGrant(m, str(role)) for m, role in staff]
        + [RoleGrant(m, "PROVIDER") for m, _ in memberships]
        + [RoleGrant(m, "CLIENT") for m, _ in clients]
    )
    if named and not (
        marketplace_id is not None
        and (found.is_platform_admin or any(g.marketplace_id == marketplace_id for g in grants))
    ):
        # The platform admin acts in any marketplace that exists; others only where they
        # have a role.
        raise marketplace_not_found()
    if marketplace_id is None:
        # One marketplace only: it is the acting one without asking.
        distinct = {g.marketplace_id for g in grants}
        if len(distinct) == 1:
            marketplace_id = distinct.pop()
    in_marketplace = marketplace_id is not None and any(
        g.marketplace_id == marketplace_id for g in grants
    )
    if marketplace_id is not None and not in_marketplace and not found.is_platform_admin:
        # Code asking for an actor in a marketplace it has no role in (actor_for_user) gets
        # one acting nowhere.
        marketplace_id = None
    return Actor(
        user_id=found.user_id,
        is_platform_admin=found.is_platform_admin,
        marketplace_id=marketplace_id,
        staff_role=next((StaffRole(role) for m, role in staff if m == marketplace_id), None),
        company_id=found.company_id,
        membership_id=next((mid for m, mid in memberships if m == marketplace_id), None),
        client_id=next((cid for m, cid in clients if m == marketplace_id), None),
        roles=tuple(grants),
        locale=found.locale,
    )


_API_KEY = """
SELECT k.id, k.marketplace_id, k.scope, k.secret_hash, {fingerprint} AS fingerprint
FROM account_api_key k WHERE k.prefix = :prefix AND k.revoked_at IS NULL
""".format(fingerprint=API_KEY_FINGERPRINT.format(subject="k.id"))


async def _authenticate_api_key(raw: str, marketplace_id: int | None, named: bool) -> Actor:
    actor, _fingerprint = await authenticate_api_key(raw, marketplace_id, named=named)
    return actor


async def authenticate_api_key(
    raw: str, marketplace_id: int | None, *, named: bool
) -> tuple[Actor, str]:
    """The actor of a partner API key and the fingerprint of its row."""
    prefix, _sep, secret = raw.removeprefix(API_KEY_PREFIX).partition("_")
    found = await db.rows(_API_KEY, prefix=prefix) if secret else []
    if not found or sha256_hex(secret) != found[0]["secret_hash"]:
        raise unauthenticated(_("Invalid or revoked API key."))
    key = found[0]
    key_marketplace = int(key["marketplace_id"])
    if named and marketplace_id != key_marketplace:
        # A key acts in its own marketplace only; any other name, existing or not, is refused
        # alike.
        raise marketplace_not_found()
    actor = Actor(
        marketplace_id=key_marketplace,
        api_key_id=int(key["id"]),
        api_scope=ApiScope(key["scope"]),
        roles=(RoleGrant(key_marketplace, "PARTNER"),),
    )
    return actor, key["fingerprint"]
