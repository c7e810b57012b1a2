"""Invitations by e-mail: validation per address, single-use links, expiry, resend, revoke."""

from __future__ import annotations

import re
from datetime import timedelta
from email.header import decode_header, make_header

import pytest

from models.account import StaffRole
from models.invitation import Invitation, InvitationStatus
from models.membership import Membership, MembershipStatus, ProviderCompany
from presta import clock, jobs
from presta.settings import settings
from resolvers import application
from resolvers import invitation as use_cases
from resolvers.actor import ANONYMOUS, Actor
from resolvers.document_upload import UploadedFile
from resolvers.errors import AuthError, UserError, UserErrors
from resolvers.terms import add_internal_document
from schema.base import encode_id
from tests.factories.account import actor_of, make_marketplace, make_staff, make_user
from tests.factories.document import PDF_BYTES, publish_terms, require_types
from tests.factories.membership import make_company, make_membership, make_provider_user
from tests.support.graphql import execute, http_client, ok

Code = use_cases.InvitationErrorCode
INVITE = """mutation($emails: [String!]!) { inviteProviders(input: {emails: $emails}) {
  userErrors { field code message email } invitations { id email status sentCount } } }"""
PREVIEW = """query($token: String!) { invitation(token: $token) {
  email status marketplaceName termsOfUse { number }
  requiredDocumentTypes { code } internalDocuments { title downloadUrl } } }"""


async def _staff(marketplace, role=StaffRole.ADMIN) -> Actor:
    return await actor_of(await make_staff(marketplace, role), marketplace)


def _token(mailbox, address: str) -> str:
    [message] = mailbox.to(address)
    match = re.search(r"invitation=(\S+)", mailbox.body(message))
    assert match is not None
    return match.group(1)


async def _invite_one(staff, email: str = "new@example.com") -> Invitation:
    [invitation], rejected = await use_cases.invite_providers(staff, emails=[email])
    assert rejected == []
    await jobs.drain()
    return invitation


async def test_valid_addresses_are_invited_while_bad_ones_each_get_a_typed_error(mailbox):
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    member = await make_membership(marketplace)
    member_user = await make_provider_user(member, email="already@example.com")
    await _invite_one(staff, "pending@example.com")
    mailbox.clear()

    emails = [
        " Alice@Example.com ",
        "alice@example.com",
        "not-an-email",
        "bob@@example.com",
        member_user.email.upper(),
        "pending@example.com",
        "carol@example.com",
    ]
    data = await ok(INVITE, {"emails": emails}, actor=staff)

    payload = data["inviteProviders"]
    assert [i["email"] for i in payload["invitations"]] == [
        "alice@example.com",
        "carol@example.com",
    ]
    assert all(i["status"] == "PENDING" and i["sentCount"] == 1 for i in payload["invitations"])
    refused = [(e["code"], e["email"]) for e in payload["userErrors"]]
    assert refused == [
        ("DUPLICATE_EMAIL", "alice@example.com"),
        ("INVALID_EMAIL", "not-an-email"),
        ("INVALID_EMAIL", "bob@@example.com"),
        ("ALREADY_MEMBER", "already@example.com"),
        ("ALREADY_INVITED", "pending@example.com"),
    ]
    assert all(e["field"] == "emails" for e in payload["userErrors"])
    await jobs.drain()
    assert len(mailbox.to("alice@example.com")) == 1
    assert len(mailbox.to("carol@example.com")) == 1
    assert mailbox.to("already@example.com") == []
    assert await Invitation.filter(marketplace_id=marketplace.id).count() == 3


async def test_more_than_100_addresses_are_refused_as_a_whole_and_nothing_is_sent(mailbox):
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)

    data = await ok(INVITE, {"emails": [f"p{i}@example.com" for i in range(101)]}, actor=staff)

    assert [e["code"] for e in data["inviteProviders"]["userErrors"]] == ["TOO_MANY_EMAILS"]
    assert data["inviteProviders"]["invitations"] == []
    await jobs.drain()
    assert mailbox.messages == []
    assert not await Invitation.exists()


async def test_only_staff_of_the_marketplace_invite():
    marketplace = await make_marketplace()
    membership = await make_membership(marketplace)
    provider = await actor_of(await make_provider_user(membership), marketplace)

    result = await execute(INVITE, {"emails": ["x@example.com"]}, actor=provider)

    assert result.codes == ["FORBIDDEN"]
    assert not await Invitation.exists()


async def test_anyone_with_the_link_reads_the_marketplace_terms_and_required_documents(mailbox):
    marketplace = await make_marketplace(name="Jardins & Co")
    staff = await _staff(marketplace)
    await publish_terms(marketplace, "Rules.")
    await require_types(marketplace, "URSSAF")
    await add_internal_document(
        staff, title="Charter", upload=UploadedFile(data=PDF_BYTES, filename="charter.pdf")
    )
    await _invite_one(staff)
    token = _token(mailbox, "new@example.com")

    preview = (await ok(PREVIEW, {"token": token}))["invitation"]

    assert preview["email"] == "new@example.com"
    assert preview["status"] == "PENDING"
    assert preview["marketplaceName"] == "Jardins & Co"
    assert preview["termsOfUse"] == {"number": 1}
    assert preview["requiredDocumentTypes"] == [{"code": "URSSAF"}]
    [charter] = preview["internalDocuments"]
    assert charter["title"] == "Charter"
    async with http_client() as client:
        download = await client.get(charter["downloadUrl"])
    assert download.status_code == 200
    assert download.content == PDF_BYTES
    assert (await ok(PREVIEW, {"token": token + "x"}))["invitation"] is None


async def test_an_expired_link_is_refused_and_nothing_is_created(mailbox):
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    await _invite_one(staff)
    token = _token(mailbox, "new@example.com")
    user = await make_user(email="new@example.com")
    clock.advance(timedelta(days=settings().invitation_ttl_days, seconds=1))

    preview = (await ok(PREVIEW, {"token": token}))["invitation"]
    assert preview["status"] == "EXPIRED"
    assert preview["termsOfUse"] is None
    with pytest.raises(UserError) as refused:
        await application.accept_invitation(
            await actor_of(user), token=token, company=application.CompanyData(name="Late Co")
        )

    assert refused.value.code is Code.INVITATION_EXPIRED
    assert not await ProviderCompany.exists()
    assert not await Membership.exists()
    await user.refresh_from_db()
    assert user.provider_company_id is None


async def test_resending_mails_the_same_link_again_with_a_new_expiry(mailbox):
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    invitation = await _invite_one(staff)
    first_token = _token(mailbox, "new@example.com")
    clock.advance(timedelta(days=settings().invitation_ttl_days + 3))
    mailbox.clear()

    resent = await use_cases.resend_invitation(staff, invitation_id=invitation.id)
    await jobs.drain()

    assert resent.sent_count == 2
    assert resent.expires_at > clock.now() + timedelta(days=settings().invitation_ttl_days - 1)
    assert _token(mailbox, "new@example.com") == first_token
    user = await make_user(email="new@example.com")
    membership = await application.accept_invitation(
        await actor_of(user), token=first_token, company=application.CompanyData(name="On Time")
    )
    assert membership.status is MembershipStatus.INVITED


async def test_a_revoked_link_stops_working_and_cannot_be_resent(mailbox):
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    invitation = await _invite_one(staff)
    token = _token(mailbox, "new@example.com")

    revoke = """mutation($id: ID!) { revokeInvitation(input: {id: $id}) {
      userErrors { code } invitation { status } } }"""
    gid = str(encode_id("Invitation", invitation.id))
    assert (await ok(revoke, {"id": gid}, actor=staff))["revokeInvitation"]["invitation"] == {
        "status": "REVOKED"
    }

    user = await actor_of(await make_user())
    with pytest.raises(UserError) as refused:
        await application.accept_invitation(
            user, token=token, company=application.CompanyData(name="X")
        )
    assert refused.value.code is Code.INVITATION_REVOKED
    with pytest.raises(UserError) as again:
        await use_cases.resend_invitation(staff, invitation_id=invitation.id)
    assert again.value.code is Code.INVITATION_REVOKED
    assert not await Membership.exists()


async def test_a_link_works_only_once(mailbox):
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    await _invite_one(staff)
    token = _token(mailbox, "new@example.com")
    first = await actor_of(await make_user())
    await application.accept_invitation(
        first, token=token, company=application.CompanyData(name="First Co")
    )

    second = await actor_of(await make_user())
    with pytest.raises(UserError) as refused:
        await application.accept_invitation(
            second, token=token, company=application.CompanyData(name="Second Co")
        )

    assert refused.value.code is Code.INVITATION_USED
    assert [c.name for c in await ProviderCompany.all()] == ["First Co"]
    assert await Membership.all().count() == 1


async def test_a_user_who_already_works_for_a_company_joins_with_it(mailbox):
    marketplace, other = await make_marketplace(), await make_marketplace()
    staff = await _staff(marketplace)
    existing = await make_membership(other)
    user = await make_provider_user(existing, email="boss@example.com")
    await _invite_one(staff, "boss@example.com")

    membership = await application.accept_invitation(
        await actor_of(user), token=_token(mailbox, "boss@example.com")
    )

    assert membership.company_id == existing.company_id
    assert membership.marketplace_id == marketplace.id
    assert await ProviderCompany.all().count() == 1


async def test_a_new_user_must_describe_a_valid_company():
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    invitation = await _invite_one(staff)
    token = use_cases.token_of(invitation)
    actor = await actor_of(await make_user())

    with pytest.raises(UserError) as missing:
        await application.accept_invitation(actor, token=token)
    assert missing.value.code is Code.COMPANY_REQUIRED
    with pytest.raises(UserErrors) as invalid:
        await application.accept_invitation(
            actor,
            token=token,
            company=application.CompanyData(name=" ", siret="12", email="nope"),
        )
    assert {e.field for e in invalid.value.errors} == {
        "company.name",
        "company.siret",
        "company.email",
    }
    await invitation.refresh_from_db()
    assert invitation.status is InvitationStatus.PENDING


async def test_staff_of_another_marketplace_see_and_touch_no_invitation():
    marketplace, elsewhere = await make_marketplace(), await make_marketplace()
    staff = await _staff(marketplace)
    intruder = await _staff(elsewhere)
    invitation = await _invite_one(staff)
    gid = str(encode_id("Invitation", invitation.id))

    listing = await ok("{ invitations { nodes { id } } }", actor=intruder)
    node = await ok("query($id: ID!) { node(id: $id) { id } }", {"id": gid}, actor=intruder)
    for use_case in (use_cases.resend_invitation, use_cases.revoke_invitation):
        with pytest.raises(UserError) as refused:
            await use_case(intruder, invitation_id=invitation.id)
        assert refused.value.code == "NOT_FOUND"

    assert listing["invitations"]["nodes"] == []
    assert node["node"] is None
    mine = await ok("{ invitations { nodes { id status } } }", actor=staff)
    assert mine["invitations"]["nodes"] == [{"id": gid, "status": "PENDING"}]


async def test_accepting_needs_a_logged_in_user():
    with pytest.raises(AuthError):
        await application.accept_invitation(ANONYMOUS, token="whatever")


async def test_a_provider_of_marketplace_a_cannot_apply_in_marketplace_b():
    a, b = await make_marketplace(), await make_marketplace()
    membership_a = await make_membership(a, MembershipStatus.INVITED)
    membership_b = await make_membership(b, MembershipStatus.INVITED, company=await make_company())
    user = await make_provider_user(membership_a)
    actor = await actor_of(user, a)

    with pytest.raises(UserError) as refused:
        await application.submit_application(actor, membership_id=membership_b.id)
    assert refused.value.code == "NOT_FOUND"
    await membership_b.refresh_from_db()
    assert membership_b.status is MembershipStatus.INVITED
    # Naming marketplace B in the header grants nothing there either.
    in_b = await actor_of(user, b)
    assert in_b.marketplace_id is None


def _subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def test_days_left_counts_a_started_day_as_a_whole_one():
    now = clock.now()
    assert use_cases.days_left(now + timedelta(days=14)) == 14
    assert use_cases.days_left(now + timedelta(days=14, minutes=-1)) == 14
    assert use_cases.days_left(now + timedelta(days=13)) == 13
    assert use_cases.days_left(now + timedelta(days=13, seconds=2)) == 14
    assert use_cases.days_left(now + timedelta(hours=1)) == 1


async def test_the_invitation_mail_says_the_days_the_link_lasts_in_the_recipients_language(
    mailbox,
):
    marketplace = await make_marketplace(name="Ménage <Pro>")
    staff = await _staff(marketplace)
    await make_user(email="english@example.com", locale="en")
    await _invite_one(staff, "french@example.com")
    await _invite_one(staff, "english@example.com")
    days = settings().invitation_ttl_days
    [french] = mailbox.to("french@example.com")
    assert _subject(french) == "Ménage <Pro> vous invite à rejoindre ses prestataires"
    assert f"expire dans {days} jours." in mailbox.body(french)
    html = french.get_payload(1).get_payload(decode=True).decode()
    assert "Ménage &lt;Pro&gt; vous invite" in html
    [english] = mailbox.to("english@example.com")
    assert _subject(english) == "Ménage <Pro> invites you to join its providers"
    assert f"expires in {days} days." in mailbox.body(english)
