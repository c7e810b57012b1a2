"""Accounts: sign-up, log-in, tokens, API keys and the viewer."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from models.account import ApiKey as ApiKeyModel
from models.account import ApiScope as ApiScopeModel
from models.account import User as UserModel
from presta.i18n import locale_or_default
from resolvers import account
from resolvers.actor import Actor
from schema.base import Mutations, UserErrorBase, decode_id
from schema.context import Info
from schema.http.live import decode_event_cursor, encode_event_cursor, follow
from schema.node import AuthorizedNode

if TYPE_CHECKING:
    from schema.client import Client

strawberry.enum(account.AccountErrorCode, description="Why an account operation failed.")
strawberry.enum(ApiScopeModel, description="What a partner API key may do inside its marketplace.")


@strawberry.type(description="A failure of an account operation.")
class AccountError(UserErrorBase):
    code: account.AccountErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.enum(description="A language Presta writes to people in.")
class Locale(Enum):
    FR = "fr"
    EN = "en"


@strawberry.type(description="A person with a login.")
class User(AuthorizedNode):
    id: relay.NodeID[int]
    email: str = strawberry.field(description="Normalized e-mail address (lower case).")
    full_name: str = strawberry.field(description="Name as the person gave it.")
    locale: Locale = strawberry.field(
        description="The language of their e-mails and of the messages they read: the one "
        "they chose (`updateProfile`), else French."
    )

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(
            id=user.id,
            email=user.email,
            full_name=user.full_name,
            locale=Locale(locale_or_default(user.locale)),
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        return {u.id: cls.from_model(u) for u in await account.visible_users(actor, ids)}


@strawberry.enum(description="A role held in a marketplace.")
class Role(Enum):
    ADMIN = "ADMIN"
    AGENT = "AGENT"
    PROVIDER = "PROVIDER"
    CLIENT = "CLIENT"
    PARTNER = "PARTNER"


@strawberry.type(description="A role the viewer holds in one marketplace.")
class MarketplaceRole:
    marketplace_id: relay.GlobalID = strawberry.field(description="The marketplace.")
    role: Role = strawberry.field(description="The role held there.")


@strawberry.type(description="Who is calling, and what they may act as.")
class Viewer:
    user: User | None = strawberry.field(description="The logged-in user; null for API keys.")
    is_platform_admin: bool = strawberry.field(description="Runs the whole platform.")
    acting_marketplace_id: relay.GlobalID | None = strawberry.field(
        description="The marketplace this request acts in: the one named by `X-Marketplace` "
        "(one the caller may not act in is refused with `MARKETPLACE_NOT_FOUND`), else the "
        "caller's only marketplace; null when none. `marketplace` reads it."
    )
    roles: list[MarketplaceRole] = strawberry.field(description="Roles in every marketplace.")

    @strawberry.field(
        description="The viewer's own client account in the acting marketplace, if it is one."
    )
    async def client(
        self, info: Info
    ) -> Annotated[Client, strawberry.lazy("schema.client")] | None:
        from schema.client import viewer_client

        return await viewer_client(info.context.actor)


@strawberry.type(description="A partner application's key for one marketplace.")
class ApiKey(AuthorizedNode):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Label given at creation.")
    prefix: str = strawberry.field(description="Public part of the key, to recognise it.")
    scope: ApiScopeModel = strawberry.field(description="READ or READ_WRITE.")
    created_at: datetime = strawberry.field(description="When it was created.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked, if it was.")

    @classmethod
    def from_model(cls, key: ApiKeyModel) -> ApiKey:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            scope=key.scope,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        return {k.id: cls.from_model(k) for k in await account.visible_api_keys(actor, ids)}


# --- inputs and payloads -------------------------------------------------------------------


@strawberry.input(description="A new account.")
class SignUpInput:
    email: str = strawberry.field(description="E-mail address; it becomes the login.")
    password: str = strawberry.field(description="10 to 256 characters.")
    full_name: str = strawberry.field(default="", description="Name shown to others.")


@strawberry.input(description="Credentials.")
class LogInInput:
    email: str = strawberry.field(description="E-mail address of the account.")
    password: str = strawberry.field(description="Its password.")


@strawberry.input(description="A refresh token to rotate.")
class RefreshTokenInput:
    refresh_token: str = strawberry.field(description="The refresh token last received.")


@strawberry.input(description="End a session.")
class LogOutInput:
    refresh_token: str = strawberry.field(description="The session's current refresh token.")


@strawberry.type(description="A session: a short-lived access token and a refresh token.")
class AuthPayload:
    user_errors: list[AccountError] = strawberry.field(description="Expected failures.")
    user: User | None = strawberry.field(default=None, description="The logged-in user.")
    access_token: str | None = strawberry.field(
        default=None, description="Send as `Authorization: Bearer <token>`."
    )
    expires_in: int | None = strawberry.field(
        default=None, description="Seconds until the access token expires."
    )
    refresh_token: str | None = strawberry.field(
        default=None, description="Single use: exchange it with `refreshToken`."
    )


SignUpPayload = AuthPayload
LogInPayload = AuthPayload


@strawberry.type(description="Result of logOut.")
class LogOutPayload:
    user_errors: list[AccountError] = strawberry.field(description="Expected failures.")
    ok: bool = strawberry.field(default=False, description="The session is closed.")


@strawberry.input(description="A new partner API key for the acting marketplace.")
class CreateApiKeyInput:
    name: str = strawberry.field(description="Label, 1 to 100 characters.")
    scope: ApiScopeModel = strawberry.field(description="READ or READ_WRITE.")


@strawberry.type(description="The created key; its secret is shown only here, once.")
class CreateApiKeyPayload:
    user_errors: list[AccountError] = strawberry.field(description="Expected failures.")
    api_key: ApiKey | None = strawberry.field(default=None, description="The key.")
    secret: str | None = strawberry.field(
        default=None, description="Send as `X-Api-Key`; store it now, it is never shown again."
    )


@strawberry.input(description="Revoke a partner API key.")
class RevokeApiKeyInput:
    id: relay.GlobalID = strawberry.field(description="The key.")


@strawberry.type(description="Result of revokeApiKey.")
class RevokeApiKeyPayload:
    user_errors: list[AccountError] = strawberry.field(description="Expected failures.")
    api_key: ApiKey | None = strawberry.field(default=None, description="The revoked key.")


def _session_fields(session: account.Session) -> dict[str, Any]:
    return {
        "user": User.from_model(session.user),
        "access_token": session.access_token,
        "expires_in": session.expires_in,
        "refresh_token": session.refresh_token,
    }


async def _sign_up(data: SignUpInput) -> dict[str, Any]:
    return _session_fields(
        await account.sign_up(email=data.email, password=data.password, full_name=data.full_name)
    )


async def _log_in(data: LogInInput) -> dict[str, Any]:
    return _session_fields(await account.log_in(email=data.email, password=data.password))


async def _refresh(data: RefreshTokenInput) -> dict[str, Any]:
    return _session_fields(await account.refresh_session(refresh_token=data.refresh_token))


async def _log_out(data: LogOutInput) -> dict[str, Any]:
    await account.log_out(refresh_token=data.refresh_token)
    return {"ok": True}


async def _create_api_key(actor: Actor, data: CreateApiKeyInput) -> dict[str, Any]:
    key, secret = await account.create_api_key(actor, name=data.name, scope=data.scope)
    return {"api_key": ApiKey.from_model(key), "secret": secret}


async def _revoke_api_key(actor: Actor, data: RevokeApiKeyInput) -> dict[str, Any]:
    key = await account.revoke_api_key(actor, key_id=decode_id(data.id, "ApiKey"))
    return {"api_key": ApiKey.from_model(key)}


_run = Mutations(AccountError, account.AccountErrorCode)


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="Create an account and open a session.")
    async def sign_up(self, input: SignUpInput) -> AuthPayload:
        return await _run(AuthPayload, _sign_up(input))

    @strawberry.mutation(description="Open a session with e-mail and password.")
    async def log_in(self, input: LogInInput) -> AuthPayload:
        return await _run(AuthPayload, _log_in(input))

    @strawberry.mutation(
        description="Exchange a refresh token for a new session (the old token stops working; "
        "presenting it again ends every session of its family)."
    )
    async def refresh_token(self, input: RefreshTokenInput) -> AuthPayload:
        return await _run(AuthPayload, _refresh(input))

    @strawberry.mutation(description="End the session of this refresh token.")
    async def log_out(self, input: LogOutInput) -> LogOutPayload:
        return await _run(LogOutPayload, _log_out(input))

    @strawberry.mutation(description="ADMIN: create a partner API key for this marketplace.")
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        return await _run(CreateApiKeyPayload, _create_api_key(info.context.actor, input))

    @strawberry.mutation(description="ADMIN: revoke a partner API key at once.")
    async def revoke_api_key(self, info: Info, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
        return await _run(RevokeApiKeyPayload, _revoke_api_key(info.context.actor, input))


async def _viewer_user(info: Info) -> User | None:
    actor, profile = info.context.actor, info.context.profile
    if actor.user_id is None:
        return None
    if profile is not None and profile.user_id == actor.user_id:
        # Read with the roles while authenticating this very request: no second statement.
        return User(
            id=profile.user_id,
            email=profile.email,
            full_name=profile.full_name,
            locale=Locale(locale_or_default(profile.locale)),
        )
    user = await account.load_self(actor, actor.user_id)
    return User.from_model(user) if user is not None else None


@strawberry.type
class AccountQuery:
    @strawberry.field(description="Who is calling. Null when anonymous.")
    async def viewer(self, info: Info) -> Viewer | None:
        actor = info.context.actor
        if not actor.is_authenticated:
            return None
        return Viewer(
            user=await _viewer_user(info),
            is_platform_admin=actor.is_platform_admin,
            acting_marketplace_id=relay.GlobalID("Marketplace", str(actor.marketplace_id))
            if actor.marketplace_id is not None
            else None,
            roles=[
                MarketplaceRole(
                    marketplace_id=relay.GlobalID("Marketplace", str(g.marketplace_id)),
                    role=Role(g.role),
                )
                for g in actor.roles
            ],
        )

    @strawberry.field(description="ADMIN: the partner API keys of the acting marketplace.")
    async def api_keys(self, info: Info) -> list[ApiKey]:
        return [ApiKey.from_model(k) for k in await account.list_api_keys(info.context.actor)]


@strawberry.input(description="Change the viewer's own profile.")
class UpdateProfileInput:
    full_name: str | None = strawberry.field(
        default=None, description="New name, at most 200 characters; null keeps it."
    )
    locale: Locale | None = strawberry.field(
        default=None,
        description="The language of their e-mails and messages; null keeps it.",
    )


@strawberry.type(description="Result of updateProfile.")
class UpdateProfilePayload:
    user_errors: list[AccountError] = strawberry.field(description="Expected failures.")
    user: User | None = strawberry.field(default=None, description="The updated user.")


async def _update_profile(actor: Actor, data: UpdateProfileInput) -> dict[str, Any]:
    user = await account.update_profile(
        actor,
        full_name=data.full_name,
        locale=data.locale.value if data.locale is not None else None,
    )
    return {"user": User.from_model(user)}


@strawberry.type
class ProfileMutation:
    @strawberry.mutation(
        description="Change the viewer's name or language; pushed live to `viewerUpdated`."
    )
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UpdateProfilePayload:
        return await _run(UpdateProfilePayload, _update_profile(info.context.actor, input))


@strawberry.type(description="The viewer's account changed.")
class ViewerEvent:
    cursor: str = strawberry.field(description="Pass as `after` to resume after this event.")
    user: User = strawberry.field(description="The user as it now is.")


async def _load_user(actor: Actor, envelope: dict[str, Any]) -> User | None:
    user = await account.load_self(actor, envelope["object_id"])
    return User.from_model(user) if user is not None else None


@strawberry.type
class AccountSubscription:
    @strawberry.subscription(
        description="Changes to the viewer's own account, live; `after` replays what was missed."
    )
    async def viewer_updated(
        self, info: Info, after: str | None = None
    ) -> AsyncGenerator[ViewerEvent, None]:
        actor = info.context.actor
        actor.require_user()
        async for event_id, user in follow(
            actor,
            topics=[account.USER_UPDATED],
            after=decode_event_cursor(after),
            load=_load_user,
        ):
            yield ViewerEvent(cursor=encode_event_cursor(event_id), user=user)
