"""A provider company's own account (its details, its colleagues) and a marketplace's staff."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from models.account import StaffRole
from resolvers import company as use_cases
from resolvers import staff as staff_cases
from resolvers.actor import Actor
from resolvers.marketplace import MarketplaceErrorCode
from schema.base import Mutations, UserErrorBase
from schema.context import Info
from schema.marketplace import MarketplaceError
from schema.membership.types import ProviderCompany

strawberry.enum(use_cases.CompanyErrorCode, description="Why an operation on a company failed.")


@strawberry.type(description="A failure of an operation on a provider company's account.")
class CompanyError(UserErrorBase):
    code: use_cases.CompanyErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(description="A person who uses a provider company's account.")
class Colleague:
    email: str = strawberry.field(description="Their login e-mail.")
    full_name: str = strawberry.field(description="Their name, or empty.")


@strawberry.type(description="An invitation to share a company's account, not used yet.")
class ColleagueInvitation:
    email: str = strawberry.field(description="The address invited.")
    expires_at: datetime = strawberry.field(description="When the link stops working.")


@strawberry.type(description="The signed-in provider user's company account.")
class CompanyAccount:
    company: ProviderCompany = strawberry.field(description="The company's details.")
    colleagues: list[Colleague] = strawberry.field(
        description="Everyone who uses the account, oldest first."
    )
    pending_invitations: list[ColleagueInvitation] = strawberry.field(
        description="Colleagues invited who have not joined yet, newest first."
    )


@strawberry.type(description="A person with a staff role in the acting marketplace.")
class StaffMember:
    email: str = strawberry.field(description="Their login e-mail.")
    full_name: str = strawberry.field(description="Their name, or empty.")
    role: StaffRole = strawberry.field(description="ADMIN or AGENT.")
    since: datetime = strawberry.field(description="When they were given a role here.")


@strawberry.input(description="New details of the signed-in user's provider company.")
class UpdateProviderCompanyInput:
    name: str = strawberry.field(description="Trade name, 1 to 200 characters.")
    siret: str = strawberry.field(
        default="", description="SIRET number: 14 digits with a valid check digit, or empty."
    )
    email: str = strawberry.field(default="", description="Contact e-mail, or empty.")
    phone: str = strawberry.field(default="", description="Contact phone, or empty.")
    listed_in_directory: bool = strawberry.field(
        default=False,
        description="Appear in the platform directory, where other marketplaces may invite it.",
    )


@strawberry.type(description="Result of updateProviderCompany.")
class UpdateProviderCompanyPayload:
    user_errors: list[CompanyError] = strawberry.field(
        description="One error per invalid field; nothing is changed then."
    )
    company: ProviderCompany | None = strawberry.field(default=None, description="As it now is.")


@strawberry.input(description="Invite someone to share the company account.")
class InviteColleagueInput:
    email: str = strawberry.field(description="Their e-mail: the link is sent there.")


@strawberry.type(description="Result of inviteColleague.")
class InviteColleaguePayload:
    user_errors: list[CompanyError] = strawberry.field(description="Expected failures.")
    invitation: ColleagueInvitation | None = strawberry.field(
        default=None, description="The invitation sent."
    )


@strawberry.input(description="Join a company's account with the link of an invitation.")
class AcceptColleagueInvitationInput:
    token: str = strawberry.field(description="Token of the link received by e-mail.")


@strawberry.type(description="Result of acceptColleagueInvitation.")
class AcceptColleagueInvitationPayload:
    user_errors: list[CompanyError] = strawberry.field(description="Expected failures.")
    company: ProviderCompany | None = strawberry.field(
        default=None, description="The company whose account you now share."
    )


@strawberry.input(description="Change the role of a staff member of the acting marketplace.")
class ChangeStaffRoleInput:
    email: str = strawberry.field(description="E-mail of the staff member.")
    role: StaffRole = strawberry.field(description="ADMIN or AGENT.")


@strawberry.type(description="Result of changeStaffRole.")
class ChangeStaffRolePayload:
    user_errors: list[MarketplaceError] = strawberry.field(
        description="LAST_ADMIN when the marketplace would be left without an ADMIN."
    )
    staff_member: StaffMember | None = strawberry.field(default=None, description="As it now is.")


@strawberry.input(description="Take someone off the signed-in user's company account.")
class RemoveColleagueInput:
    email: str = strawberry.field(
        description="Their login e-mail (your own to leave the company account)."
    )


@strawberry.type(description="Result of removeColleague.")
class RemoveColleaguePayload:
    user_errors: list[CompanyError] = strawberry.field(
        description="NOT_FOUND for someone not on the account; LAST_USER for its last user."
    )
    colleague: Colleague | None = strawberry.field(default=None, description="Who was removed.")


@strawberry.input(description="Remove a staff member from the acting marketplace.")
class RemoveStaffMemberInput:
    email: str = strawberry.field(description="E-mail of the staff member.")


@strawberry.type(description="Result of removeStaffMember.")
class RemoveStaffMemberPayload:
    user_errors: list[MarketplaceError] = strawberry.field(
        description="LAST_ADMIN when the marketplace would be left without an ADMIN."
    )
    staff_member: StaffMember | None = strawberry.field(
        default=None, description="Who was removed, with the role they held."
    )


def _staff(member: Any) -> StaffMember:
    return StaffMember(
        email=member.user.email,
        full_name=member.user.full_name,
        role=member.role,
        since=member.created_at,
    )


async def _update_company(actor: Actor, data: UpdateProviderCompanyInput) -> dict[str, Any]:
    company = await use_cases.update_provider_company(
        actor,
        data=use_cases.CompanyData(
            name=data.name,
            siret=data.siret,
            email=data.email,
            phone=data.phone,
            listed_in_directory=data.listed_in_directory,
        ),
    )
    return {"company": ProviderCompany.from_model(company)}


async def _invite(actor: Actor, data: InviteColleagueInput) -> dict[str, Any]:
    invitation = await use_cases.invite_colleague(actor, email=data.email)
    return {
        "invitation": ColleagueInvitation(email=invitation.email, expires_at=invitation.expires_at)
    }


async def _join(actor: Actor, data: AcceptColleagueInvitationInput) -> dict[str, Any]:
    company = await use_cases.accept_colleague_invitation(actor, token=data.token)
    return {"company": ProviderCompany.from_model(company)}


async def _remove_colleague(actor: Actor, data: RemoveColleagueInput) -> dict[str, Any]:
    user = await use_cases.remove_colleague(actor, email=data.email)
    return {"colleague": Colleague(email=user.email, full_name=user.full_name)}


async def _change_role(actor: Actor, data: ChangeStaffRoleInput) -> dict[str, Any]:
    member = await staff_cases.change_staff_role(actor, email=data.email, role=data.role)
    return {"staff_member": _staff(member)}


async def _remove(actor: Actor, data: RemoveStaffMemberInput) -> dict[str, Any]:
    member = await staff_cases.remove_staff_member(actor, email=data.email)
    return {"staff_member": _staff(member)}


_company = Mutations(CompanyError, use_cases.CompanyErrorCode)
_staffing = Mutations(MarketplaceError, MarketplaceErrorCode)


@strawberry.type
class CompanyMutation:
    @strawberry.mutation(
        description="Provider user: change its company's name, SIRET, contacts and directory "
        "listing; the staff of its marketplaces see the change."
    )
    async def update_provider_company(
        self, info: Info, input: UpdateProviderCompanyInput
    ) -> UpdateProviderCompanyPayload:
        return await _company(
            UpdateProviderCompanyPayload, _update_company(info.context.actor, input)
        )

    @strawberry.mutation(
        description="Provider user: invite a colleague to share the company account (a "
        "single-use link by e-mail, for that address)."
    )
    async def invite_colleague(
        self, info: Info, input: InviteColleagueInput
    ) -> InviteColleaguePayload:
        return await _company(InviteColleaguePayload, _invite(info.context.actor, input))

    @strawberry.mutation(
        description="Signed in with the invited address: join the company account; you act "
        "for the company in its marketplaces from your next request on."
    )
    async def accept_colleague_invitation(
        self, info: Info, input: AcceptColleagueInvitationInput
    ) -> AcceptColleagueInvitationPayload:
        return await _company(AcceptColleagueInvitationPayload, _join(info.context.actor, input))

    @strawberry.mutation(
        description="Provider user: take a colleague (or yourself) off the company account; "
        "they stop acting for the company from their next request and their provider live "
        "feeds stop. The account keeps at least one user."
    )
    async def remove_colleague(
        self, info: Info, input: RemoveColleagueInput
    ) -> RemoveColleaguePayload:
        return await _company(RemoveColleaguePayload, _remove_colleague(info.context.actor, input))

    @strawberry.mutation(
        description="ADMIN: change a staff member's role; the last ADMIN cannot be demoted."
    )
    async def change_staff_role(
        self, info: Info, input: ChangeStaffRoleInput
    ) -> ChangeStaffRolePayload:
        return await _staffing(ChangeStaffRolePayload, _change_role(info.context.actor, input))

    @strawberry.mutation(
        description="ADMIN: remove a staff member (never the last ADMIN); they lose access "
        "from their next request. API keys they created stay the marketplace's."
    )
    async def remove_staff_member(
        self, info: Info, input: RemoveStaffMemberInput
    ) -> RemoveStaffMemberPayload:
        return await _staffing(RemoveStaffMemberPayload, _remove(info.context.actor, input))


@strawberry.type
class CompanyQuery:
    @strawberry.field(description="The signed-in provider user's company account.")
    async def my_company(self, info: Info) -> CompanyAccount:
        actor = info.context.actor
        company = await use_cases.my_company(actor)
        return CompanyAccount(
            company=ProviderCompany.from_model(company),
            colleagues=[
                Colleague(email=u.email, full_name=u.full_name)
                for u in await use_cases.colleagues(actor)
            ],
            pending_invitations=[
                ColleagueInvitation(email=i.email, expires_at=i.expires_at)
                for i in await use_cases.pending_colleague_invitations(actor)
            ],
        )

    @strawberry.field(description="The staff of the acting marketplace, ADMINs first.")
    async def staff_members(self, info: Info) -> list[StaffMember]:
        return [_staff(m) for m in await staff_cases.list_staff(info.context.actor)]
