"""End to end over HTTP: an invitation e-mail's link is used to sign up, apply with documents
and get accepted; what is missing is refused with typed errors."""

from __future__ import annotations

import re
from email.header import decode_header, make_header
from typing import Any

from models.invitation import Invitation, InvitationStatus
from models.membership import Membership, MembershipStatus
from presta import jobs
from presta.security import make_access_token
from schema.base import encode_id
from tests.factories.account import PASSWORD, make_marketplace, make_staff
from tests.factories.document import PDF_BYTES, multipart, publish_terms, require_types
from tests.support.graphql import http_client

INVITE = """mutation($emails: [String!]!) { inviteProviders(input: {emails: $emails}) {
  userErrors { field code message email } invitations { id email status } } }"""
PREVIEW = """query($token: String!) { invitation(token: $token) {
  email status marketplaceName marketplaceSlug
  termsOfUse { number text } requiredDocumentTypes { code } } }"""
SIGN_UP = """mutation($email: String!, $password: String!) {
  signUp(input: {email: $email, password: $password, fullName: "Paul Plombier"}) {
    userErrors { code } accessToken } }"""
ACCEPT_INVITATION = """mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) {
  userErrors { field code message } membership { id status company { name siret } } } }"""
SUBMIT = """mutation($id: ID!) { submitApplication(input: {membershipId: $id}) {
  userErrors { field code message } membership { id status appliedAt } } }"""
ACCEPT_TERMS = """mutation { acceptTermsOfUse(input: {}) { userErrors { code } } }"""
UPLOAD = """mutation($input: UploadDocumentInput!) { uploadDocument(input: $input) {
  userErrors { field code message } document { id } } }"""
ACCEPT_APPLICATION = """mutation($id: ID!) { acceptApplication(input: {membershipId: $id}) {
  userErrors { code } membership { status decidedAt } } }"""
MY_FILE = """{ myMemberships { id status mustAcceptTerms marketplaceName } }"""


async def _post(client, query, variables=None, *, token=None, marketplace=None) -> Any:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if marketplace:
        headers["X-Marketplace"] = marketplace
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def _subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def _link_token(body: str) -> str:
    match = re.search(r"/signup\?invitation=(\S+)", body)
    assert match, body
    return match.group(1)


async def test_an_invited_provider_signs_up_from_the_e_mail_applies_and_is_accepted(mailbox):
    marketplace = await make_marketplace(name="Ménage Plus", slug="menage-plus")
    staff = await make_staff(marketplace)
    staff_token, _ = make_access_token(staff.id)
    await publish_terms(marketplace, "Be on time.")
    kbis, rc_pro = await require_types(marketplace, "KBIS", "RC_PRO")

    async with http_client() as client:
        invited = await _post(
            client,
            INVITE,
            {"emails": ["Paul@Plomberie.example", "not an address"]},
            token=staff_token,
            marketplace="menage-plus",
        )
        assert [i["email"] for i in invited["inviteProviders"]["invitations"]] == [
            "paul@plomberie.example"
        ]
        [bad] = invited["inviteProviders"]["userErrors"]
        assert (bad["code"], bad["email"]) == ("INVALID_EMAIL", "not an address")

        await jobs.drain()
        [mail] = mailbox.to("paul@plomberie.example")
        assert "Ménage Plus" in _subject(mail)
        token = _link_token(mailbox.body(mail))

        preview = (await _post(client, PREVIEW, {"token": token}))["invitation"]
        assert preview["status"] == "PENDING"
        assert preview["marketplaceName"] == "Ménage Plus"
        assert preview["termsOfUse"] == {"number": 1, "text": "Be on time."}
        assert [t["code"] for t in preview["requiredDocumentTypes"]] == ["KBIS", "RC_PRO"]

        signed_up = await _post(
            client, SIGN_UP, {"email": "paul@plomberie.example", "password": PASSWORD}
        )
        access = signed_up["signUp"]["accessToken"]
        company = {"name": "Plomberie Paul", "siret": "732 829 320 00074"}
        joined = (
            await _post(
                client,
                ACCEPT_INVITATION,
                {"input": {"token": token, "company": company}},
                token=access,
            )
        )["acceptInvitation"]
        assert joined["userErrors"] == []
        assert joined["membership"]["status"] == "INVITED"
        assert joined["membership"]["company"] == {
            "name": "Plomberie Paul",
            "siret": "73282932000074",
        }
        membership_id = joined["membership"]["id"]

        mine = await _post(client, MY_FILE, token=access, marketplace="menage-plus")
        assert mine["myMemberships"] == [
            {
                "id": membership_id,
                "status": "INVITED",
                "mustAcceptTerms": True,
                "marketplaceName": "Ménage Plus",
            }
        ]

        incomplete = (
            await _post(
                client, SUBMIT, {"id": membership_id}, token=access, marketplace="menage-plus"
            )
        )["submitApplication"]
        assert incomplete["membership"] is None
        missing = {(e["field"], e["code"]) for e in incomplete["userErrors"]}
        assert missing == {
            ("terms", "APPLICATION_INCOMPLETE"),
            ("documents", "APPLICATION_INCOMPLETE"),
        }
        messages = " ".join(e["message"] for e in incomplete["userErrors"])
        assert "KBIS" in messages
        assert "RC_PRO" in messages

        accepted_terms = await _post(client, ACCEPT_TERMS, token=access, marketplace="menage-plus")
        assert accepted_terms["acceptTermsOfUse"]["userErrors"] == []
        for doc_type in (kbis, rc_pro):
            body = multipart(
                UPLOAD,
                {
                    "input": {
                        "file": None,
                        "documentTypeId": str(encode_id("DocumentType", doc_type.id)),
                    }
                },
                {"input.file": (f"{doc_type.code}.pdf", PDF_BYTES, "application/pdf")},
            )
            response = await client.post(
                "/graphql",
                headers={
                    "Authorization": f"Bearer {access}",
                    "X-Marketplace": "menage-plus",
                    "Apollo-Require-Preflight": "true",
                },
                **body,
            )
            assert response.json()["data"]["uploadDocument"]["userErrors"] == []

        applied = (
            await _post(
                client, SUBMIT, {"id": membership_id}, token=access, marketplace="menage-plus"
            )
        )["submitApplication"]
        assert applied["userErrors"] == []
        assert applied["membership"]["status"] == "APPLIED"

        decided = (
            await _post(
                client,
                ACCEPT_APPLICATION,
                {"id": membership_id},
                token=staff_token,
                marketplace="menage-plus",
            )
        )["acceptApplication"]
        assert decided["membership"]["status"] == "ACCEPTED"
        await jobs.drain()
        assert any("acceptée" in _subject(m) for m in mailbox.to("paul@plomberie.example"))

        again = (await _post(client, ACCEPT_INVITATION, {"input": {"token": token}}, token=access))[
            "acceptInvitation"
        ]
        assert [e["code"] for e in again["userErrors"]] == ["INVITATION_USED"]

    invitation = await Invitation.get(email="paul@plomberie.example")
    assert invitation.status is InvitationStatus.ACCEPTED
    membership = await Membership.get(marketplace_id=marketplace.id)
    assert membership.status is MembershipStatus.ACCEPTED
