from __future__ import annotations

import itertools

from models.account import Client, StaffMember, StaffRole, User
from models.marketplace import Marketplace
from presta.security import hash_password
from resolvers.actor import Actor
from resolvers.authentication import actor_for_user

PASSWORD = "correct horse battery"
_seq = itertools.count(1)


async def make_user(*, email: str | None = None, platform_admin: bool = False, **kw) -> User:
    n = next(_seq)
    return await User.create(
        email=email or f"user{n}@example.test",
        password_hash=hash_password(PASSWORD),
        full_name=kw.pop("full_name", f"User {n}"),
        is_platform_admin=platform_admin,
        **kw,
    )


async def make_marketplace(*, slug: str | None = None, **kw) -> Marketplace:
    n = next(_seq)
    return await Marketplace.create(name=kw.pop("name", f"Market {n}"), slug=slug or f"m{n}", **kw)


async def make_staff(marketplace: Marketplace, role: StaffRole = StaffRole.ADMIN) -> User:
    user = await make_user()
    await StaffMember.create(user=user, marketplace=marketplace, role=role)
    return user


async def make_client(marketplace: Marketplace, *, with_login: bool = True) -> Client:
    user = await make_user() if with_login else None
    n = next(_seq)
    return await Client.create(
        marketplace=marketplace,
        user=user,
        full_name=f"Client {n}",
        email=user.email if user else f"client{n}@example.test",
    )


async def actor_of(user: User, marketplace: Marketplace | None = None) -> Actor:
    await user.refresh_from_db()
    return await actor_for_user(user, marketplace.id if marketplace else None)
