"""Marketplaces: the tenants of the platform."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry import relay

from models.account import StaffRole as StaffRoleModel
from models.marketplace import Marketplace as MarketplaceModel
from resolvers import marketplace as use_cases
from resolvers.actor import Actor
from schema.base import (
    After,
    Before,
    Connection,
    First,
    Last,
    UserErrorBase,
    connection,
    run_mutation,
)
from schema.context import Info
from schema.node import AuthorizedNode

strawberry.enum(use_cases.MarketplaceErrorCode, description="Why a marketplace operation failed.")
strawberry.enum(StaffRoleModel, description="Role of a staff member.")


@strawberry.type(description="A failure of a marketplace operation.")
class MarketplaceError(UserErrorBase):
    code: use_cases.MarketplaceErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(description="How new client requests reach providers.")
class DispatchSettings:
    dispatch_enabled: bool = strawberry.field(
        description="New requests go at once to every matching provider; off: staff assign."
    )
    proposals_required: int = strawberry.field(
        description="Interested providers needed before the client gets a proposal (1-50)."
    )
    days_before_sending: int = strawberry.field(
        description="Days after which the proposal is sent with whoever answered (0-90)."
    )
    days_before_reminder: int = strawberry.field(
        description="Days of silence before the request is sent again (1-90)."
    )
    max_reminder_rounds: int = strawberry.field(
        description="Reminder rounds without an answer before the request expires (0-20)."
    )


@strawberry.type(description="A marketplace run by an operator, with its network of providers.")
class Marketplace(AuthorizedNode):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Display name.")
    slug: str = strawberry.field(description="Unique short name.")
    created_at: datetime = strawberry.field(description="When it was created.")
    dispatch_settings: DispatchSettings = strawberry.field(
        description="Assignment mode and dispatch timers."
    )
    default_commission_rate: Decimal = strawberry.field(
        description="Commission rate (percent) applied when no provider-specific rate is set."
    )
    terms_grace_period_days: int = strawberry.field(
        description="Days a provider keeps receiving new requests after new terms of use are "
        "published without accepting them; then none until it accepts."
    )
    public_applications_enabled: bool = strawberry.field(
        description="Providers may apply without an invitation, through the public link."
    )
    time_zone: str = strawberry.field(
        description="IANA time zone of the days and hours its e-mails show (Europe/Paris "
        "by default)."
    )
    link: strawberry.Private[str | None]

    @strawberry.field(
        description="Staff: the public link through which providers apply without an "
        "invitation (null while public applications are off, and for anyone else)."
    )
    def public_application_link(self, info: Info) -> str | None:
        actor = info.context.actor
        return self.link if actor.is_staff and actor.marketplace_id == self.id else None

    @classmethod
    def from_model(cls, m: MarketplaceModel) -> Marketplace:
        return cls(
            id=m.id,
            name=m.name,
            slug=m.slug,
            created_at=m.created_at,
            default_commission_rate=m.default_commission_rate,
            terms_grace_period_days=m.terms_grace_days,
            public_applications_enabled=m.public_applications_enabled,
            time_zone=m.time_zone,
            link=use_cases.public_application_link(m),
            dispatch_settings=DispatchSettings(
                dispatch_enabled=m.dispatch_enabled,
                proposals_required=m.proposals_required,
                days_before_sending=m.days_before_sending,
                days_before_reminder=m.days_before_reminder,
                max_reminder_rounds=m.max_reminder_rounds,
            ),
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        return {m.id: cls.from_model(m) for m in await use_cases.visible_marketplaces(actor, ids)}


@strawberry.input(description="A new marketplace and its first ADMIN.")
class CreateMarketplaceInput:
    name: str = strawberry.field(description="Display name, 1 to 200 characters.")
    slug: str = strawberry.field(description="Unique short name: a-z, 0-9 and dashes.")
    admin_email: str = strawberry.field(description="E-mail of the first ADMIN.")
    admin_full_name: str = strawberry.field(default="", description="Name, for a new account.")
    admin_password: str | None = strawberry.field(
        default=None, description="Password, only when no account exists for that e-mail."
    )


@strawberry.type(description="Result of createMarketplace.")
class CreateMarketplacePayload:
    user_errors: list[MarketplaceError] = strawberry.field(description="Expected failures.")
    marketplace: Marketplace | None = strawberry.field(default=None, description="Created.")


@strawberry.input(description="Give an existing account a staff role in the acting marketplace.")
class AddStaffMemberInput:
    email: str = strawberry.field(description="E-mail of the account.")
    role: StaffRoleModel = strawberry.field(description="ADMIN or AGENT.")


@strawberry.type(description="Result of addStaffMember.")
class AddStaffMemberPayload:
    user_errors: list[MarketplaceError] = strawberry.field(description="Expected failures.")
    role: StaffRoleModel | None = strawberry.field(default=None, description="The role now held.")


async def _create(actor: Actor, data: CreateMarketplaceInput) -> dict[str, Any]:
    m = await use_cases.create_marketplace(
        actor,
        name=data.name,
        slug=data.slug,
        admin_email=data.admin_email,
        admin_full_name=data.admin_full_name,
        admin_password=data.admin_password,
    )
    return {"marketplace": Marketplace.from_model(m)}


async def _add_staff(actor: Actor, data: AddStaffMemberInput) -> dict[str, Any]:
    member = await use_cases.add_staff_member(actor, email=data.email, role=data.role)
    return {"role": member.role}


@strawberry.type
class MarketplaceMutation:
    @strawberry.mutation(description="Platform admin: create a marketplace with its first ADMIN.")
    async def create_marketplace(
        self, info: Info, input: CreateMarketplaceInput
    ) -> CreateMarketplacePayload:
        return await run_mutation(
            CreateMarketplacePayload,
            MarketplaceError,
            use_cases.MarketplaceErrorCode,
            _create(info.context.actor, input),
        )

    @strawberry.mutation(description="ADMIN: give an existing account a staff role.")
    async def add_staff_member(
        self, info: Info, input: AddStaffMemberInput
    ) -> AddStaffMemberPayload:
        return await run_mutation(
            AddStaffMemberPayload,
            MarketplaceError,
            use_cases.MarketplaceErrorCode,
            _add_staff(info.context.actor, input),
        )


@strawberry.type
class MarketplaceQuery:
    @strawberry.field(
        description="Marketplaces the viewer has a role in (all, for platform admins), "
        "oldest first."
    )
    async def marketplaces(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Marketplace]:
        page = await use_cases.list_marketplaces(
            info.context.actor, first=first, after=after, last=last, before=before
        )
        return connection(page, Marketplace.from_model)

    @strawberry.field(description="The acting marketplace (header `X-Marketplace`).")
    async def marketplace(self, info: Info) -> Marketplace | None:
        actor = info.context.actor
        if actor.marketplace_id is None:
            return None
        return Marketplace.from_model(await use_cases.get_marketplace(actor, actor.marketplace_id))


@strawberry.input(description="Change the acting marketplace's dispatch settings.")
class UpdateDispatchSettingsInput:
    dispatch_enabled: bool | None = strawberry.field(
        default=None, description="Send new requests at once to every matching provider."
    )
    proposals_required: int | None = strawberry.field(
        default=None, description="Interested providers needed for a proposal, 1 to 50."
    )
    days_before_sending: int | None = strawberry.field(
        default=None, description="Days before the proposal is sent anyway, 0 to 90."
    )
    days_before_reminder: int | None = strawberry.field(
        default=None, description="Days of silence before a reminder round, 1 to 90."
    )
    max_reminder_rounds: int | None = strawberry.field(
        default=None,
        description="Reminder rounds without an answer before the request expires, 0 to 20.",
    )


@strawberry.type(description="Result of updateDispatchSettings.")
class UpdateDispatchSettingsPayload:
    user_errors: list[MarketplaceError] = strawberry.field(
        description="One error per value out of range (OUT_OF_RANGE) or unknown time zone "
        "(INVALID); nothing is changed then."
    )
    marketplace: Marketplace | None = strawberry.field(
        default=None, description="The marketplace with its new settings."
    )


async def _update_dispatch(actor: Actor, data: UpdateDispatchSettingsInput) -> dict[str, Any]:
    m = await use_cases.update_dispatch_settings(
        actor,
        dispatch_enabled=data.dispatch_enabled,
        proposals_required=data.proposals_required,
        days_before_sending=data.days_before_sending,
        days_before_reminder=data.days_before_reminder,
        max_reminder_rounds=data.max_reminder_rounds,
    )
    return {"marketplace": Marketplace.from_model(m)}


@strawberry.type
class DispatchSettingsMutation:
    @strawberry.mutation(
        description="ADMIN: change the assignment mode and timers; omitted values are kept."
    )
    async def update_dispatch_settings(
        self, info: Info, input: UpdateDispatchSettingsInput
    ) -> UpdateDispatchSettingsPayload:
        return await run_mutation(
            UpdateDispatchSettingsPayload,
            MarketplaceError,
            use_cases.MarketplaceErrorCode,
            _update_dispatch(info.context.actor, input),
        )


@strawberry.input(description="Change the acting marketplace's commercial and provider settings.")
class UpdateMarketplaceSettingsInput:
    default_commission_rate: Decimal | None = strawberry.field(
        default=None,
        description="Commission (percent, 0 to 100) of providers without a rate of their own; "
        "visits already scheduled keep the rate frozen on them.",
    )
    terms_grace_period_days: int | None = strawberry.field(
        default=None,
        description="Days (0 to 365) a provider keeps receiving new requests after new terms "
        "of use are published without accepting them.",
    )
    public_applications_enabled: bool | None = strawberry.field(
        default=None, description="Let providers apply without an invitation (public link)."
    )
    new_public_application_link: bool = strawberry.field(
        default=False, description="Replace the public link: the old one stops working."
    )
    time_zone: str | None = strawberry.field(
        default=None,
        description="IANA time zone name (such as Europe/Paris) of the days and hours its "
        "e-mails show; INVALID otherwise.",
    )


@strawberry.type(description="Result of updateMarketplaceSettings.")
class UpdateMarketplaceSettingsPayload:
    user_errors: list[MarketplaceError] = strawberry.field(
        description="One error per value out of range (OUT_OF_RANGE) or unknown time zone "
        "(INVALID); nothing is changed then."
    )
    marketplace: Marketplace | None = strawberry.field(
        default=None, description="The marketplace with its new settings."
    )


async def _update_settings(actor: Actor, data: UpdateMarketplaceSettingsInput) -> dict[str, Any]:
    m = await use_cases.update_marketplace_settings(
        actor,
        default_commission_rate=data.default_commission_rate,
        terms_grace_days=data.terms_grace_period_days,
        public_applications_enabled=data.public_applications_enabled,
        new_public_application_link=data.new_public_application_link,
        time_zone=data.time_zone,
    )
    return {"marketplace": Marketplace.from_model(m)}


@strawberry.type
class MarketplaceSettingsMutation:
    @strawberry.mutation(
        description="ADMIN: change the default commission, the grace period of new terms of "
        "use and public applications; omitted values are kept."
    )
    async def update_marketplace_settings(
        self, info: Info, input: UpdateMarketplaceSettingsInput
    ) -> UpdateMarketplaceSettingsPayload:
        return await run_mutation(
            UpdateMarketplaceSettingsPayload,
            MarketplaceError,
            use_cases.MarketplaceErrorCode,
            _update_settings(info.context.actor, input),
        )
