"""Terms of use (versions, acceptance, re-acceptance) and internal documents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from models.account import StaffRole
from models.document import Document, DocumentKind
from models.membership import Membership
from models.terms import TermsAcceptance, TermsVersion
from presta import clock
from presta.settings import settings
from resolvers.document import current_terms_version
from schema.base import encode_id
from tests.factories.account import actor_of, make_marketplace, make_staff
from tests.factories.document import (
    HTML_BYTES,
    PDF_BYTES,
    auth_headers,
    post_multipart,
    stored_files,
)
from tests.factories.membership import make_membership, make_provider_user
from tests.support.graphql import execute, http_client, ok

PUBLISH = """
mutation($text: String!) {
  publishTermsOfUse(input: {text: $text}) {
    userErrors { field code message }
    termsOfUse { id number text publishedAt document { id } }
  }
}
"""
PUBLISH_FILE = """
mutation($input: PublishTermsOfUseInput!) {
  publishTermsOfUse(input: $input) {
    userErrors { field code }
    termsOfUse { number document { contentType downloadUrl } }
  }
}
"""
ACCEPT = """
mutation($version: Int) {
  acceptTermsOfUse(input: {version: $version}) {
    userErrors { field code message }
    acceptance { membershipId version acceptedAt acceptedById }
  }
}
"""
ADD_INTERNAL = """
mutation($input: AddInternalDocumentInput!) {
  addInternalDocument(input: $input) {
    userErrors { field code }
    document { id kind title downloadUrl }
  }
}
"""
REMOVE_INTERNAL = """
mutation($id: ID!) {
  removeInternalDocument(input: {documentId: $id}) { userErrors { field code } documentId }
}
"""


async def _setting() -> Any:
    marketplace = await make_marketplace()
    admin = await actor_of(await make_staff(marketplace), marketplace)
    membership = await make_membership(marketplace)
    user = await make_provider_user(membership)
    return marketplace, admin, membership, user


async def test_publishing_numbers_versions_and_every_member_must_accept_again():
    marketplace, admin, membership, user = await _setting()
    provider = await actor_of(user, marketplace)
    assert await current_terms_version(marketplace.id) is None

    first = await ok(PUBLISH, {"text": "Version one."}, actor=admin)
    assert first["publishTermsOfUse"]["termsOfUse"]["number"] == 1
    accepted = await ok(ACCEPT, {"version": 1}, actor=provider)
    acceptance = accepted["acceptTermsOfUse"]["acceptance"]
    assert acceptance["version"] == 1
    assert acceptance["acceptedById"] == str(encode_id("User", user.id))
    assert acceptance["membershipId"] == str(encode_id("Membership", membership.id))
    await membership.refresh_from_db()
    assert membership.terms_version_accepted == 1

    second = await ok(PUBLISH, {"text": "Version two."}, actor=admin)
    assert second["publishTermsOfUse"]["termsOfUse"]["number"] == 2
    assert await current_terms_version(marketplace.id) == 2
    await membership.refresh_from_db()
    # Still on version 1: the provider must accept version 2.
    assert membership.terms_version_accepted == 1

    current = await ok("{ termsOfUse { number text } }", actor=provider)
    assert current["termsOfUse"] == {"number": 2, "text": "Version two."}
    await ok(ACCEPT, {"version": 2}, actor=provider)
    await membership.refresh_from_db()
    assert membership.terms_version_accepted == 2
    history = await TermsAcceptance.filter(membership=membership).order_by("id")
    assert [(a.user_id, a.accepted_at is not None) for a in history] == [
        (user.id, True),
        (user.id, True),
    ]


async def test_accepting_a_version_that_is_no_longer_current_is_refused_and_changes_nothing():
    marketplace, admin, membership, user = await _setting()
    provider = await actor_of(user, marketplace)
    await ok(PUBLISH, {"text": "One."}, actor=admin)
    await ok(PUBLISH, {"text": "Two."}, actor=admin)
    result = await ok(ACCEPT, {"version": 1}, actor=provider)
    assert [(e["field"], e["code"]) for e in result["acceptTermsOfUse"]["userErrors"]] == [
        ("version", "TERMS_OUTDATED")
    ]
    await membership.refresh_from_db()
    assert membership.terms_version_accepted is None
    assert await TermsAcceptance.all().count() == 0


async def test_accepting_twice_records_one_acceptance_and_no_terms_is_a_typed_error():
    marketplace, admin, _membership, user = await _setting()
    provider = await actor_of(user, marketplace)
    none_yet = await ok(ACCEPT, {}, actor=provider)
    assert none_yet["acceptTermsOfUse"]["userErrors"][0]["code"] == "NO_TERMS"

    await ok(PUBLISH, {"text": "One."}, actor=admin)
    once = await ok(ACCEPT, {}, actor=provider)
    twice = await ok(ACCEPT, {}, actor=provider)
    assert once["acceptTermsOfUse"]["acceptance"] == twice["acceptTermsOfUse"]["acceptance"]
    assert await TermsAcceptance.all().count() == 1


async def test_only_an_admin_publishes_and_only_a_provider_of_the_marketplace_accepts():
    marketplace, admin, membership, user = await _setting()
    agent = await actor_of(await make_staff(marketplace, StaffRole.AGENT), marketplace)
    assert (await execute(PUBLISH, {"text": "x"}, actor=agent)).codes == ["FORBIDDEN"]
    await ok(PUBLISH, {"text": "A's terms."}, actor=admin)

    other = await make_marketplace()
    await ok(PUBLISH, {"text": "B's terms."}, actor=await actor_of(await make_staff(other), other))
    # A provider of A naming B as its marketplace has no role there.
    outsider = await actor_of(user, other)
    assert (await execute(ACCEPT, {}, actor=outsider)).codes == ["FORBIDDEN"]
    assert (await execute("{ termsOfUse { number } }", actor=outsider)).errors
    assert await TermsAcceptance.all().count() == 0
    assert (await Membership.get(id=membership.id)).terms_version_accepted is None


async def test_empty_terms_are_refused():
    _marketplace, admin, _membership, _user = await _setting()
    result = await ok(PUBLISH, {"text": "   "}, actor=admin)
    assert result["publishTermsOfUse"]["userErrors"][0]["code"] == "INVALID"
    assert await TermsVersion.all().count() == 0


async def test_terms_published_as_a_pdf_are_downloadable_by_providers():
    marketplace, _admin, _membership, user = await _setting()
    staff_user = await make_staff(marketplace)
    async with http_client() as client:
        result = await post_multipart(
            client,
            staff_user,
            marketplace,
            PUBLISH_FILE,
            {"input": {"text": "", "file": None}},
            {"input.file": ("terms.pdf", PDF_BYTES, "application/pdf")},
        )
        terms = result["data"]["publishTermsOfUse"]["termsOfUse"]
        assert terms["number"] == 1
        assert terms["document"]["contentType"] == "application/pdf"

        seen = await client.post(
            "/graphql",
            json={"query": "{ termsOfUse { document { downloadUrl } } }"},
            headers=auth_headers(user, marketplace),
        )
        link = seen.json()["data"]["termsOfUse"]["document"]["downloadUrl"]
        download = await client.get(link.removeprefix(settings().public_url))
        assert download.status_code == 200
        assert download.content == PDF_BYTES


async def test_terms_given_as_an_html_file_are_refused_and_nothing_is_kept():
    marketplace, _admin, _membership, _user = await _setting()
    staff_user = await make_staff(marketplace)
    before = stored_files()
    async with http_client() as client:
        result = await post_multipart(
            client,
            staff_user,
            marketplace,
            PUBLISH_FILE,
            {"input": {"text": "", "file": None}},
            {"input.file": ("terms.pdf", HTML_BYTES, "application/pdf")},
        )
    payload = result["data"]["publishTermsOfUse"]
    assert [e["code"] for e in payload["userErrors"]] == ["UNSUPPORTED_TYPE"]
    assert await TermsVersion.all().count() == 0
    assert await Document.all().count() == 0
    assert stored_files() == before


async def test_internal_documents_are_added_listed_for_providers_and_removed():
    marketplace, admin, _membership, user = await _setting()
    staff_user = await make_staff(marketplace)
    provider = await actor_of(user, marketplace)
    async with http_client() as client:
        added = await post_multipart(
            client,
            staff_user,
            marketplace,
            ADD_INTERNAL,
            {"input": {"title": "Provider guide", "file": None}},
            {"input.file": ("guide.pdf", PDF_BYTES, "application/pdf")},
        )
        doc = added["data"]["addInternalDocument"]["document"]
        assert doc["kind"] == "INTERNAL"
        assert doc["title"] == "Provider guide"
        link = doc["downloadUrl"].removeprefix(settings().public_url)

        listed = await ok("{ internalDocuments { id title } }", actor=provider)
        assert listed["internalDocuments"] == [{"id": doc["id"], "title": "Provider guide"}]

        removed = await ok(REMOVE_INTERNAL, {"id": doc["id"]}, actor=admin)
        assert removed["removeInternalDocument"]["documentId"] == doc["id"]
        assert (await ok("{ internalDocuments { id } }", actor=provider))["internalDocuments"] == []
        assert (await client.get(link)).status_code == 404
        again = await ok(REMOVE_INTERNAL, {"id": doc["id"]}, actor=admin)
        assert again["removeInternalDocument"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_staff_of_another_marketplace_cannot_remove_or_see_internal_documents():
    marketplace, _admin, _membership, _user = await _setting()
    stored = await Document.create(
        kind=DocumentKind.INTERNAL,
        marketplace=marketplace,
        title="Charter",
        filename="charter.pdf",
        content_type="application/pdf",
        size=1,
        sha256="0" * 64,
        storage_key="abc123",
    )
    other = await make_marketplace()
    foreign_admin = await actor_of(await make_staff(other), other)
    result = await ok(
        REMOVE_INTERNAL, {"id": str(encode_id("Document", stored.id))}, actor=foreign_admin
    )
    assert result["removeInternalDocument"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await ok("{ internalDocuments { id } }", actor=foreign_admin))[
        "internalDocuments"
    ] == []
    node = await ok(
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": str(encode_id("Document", stored.id))},
        actor=foreign_admin,
    )
    assert node["node"] is None
    await stored.refresh_from_db()
    assert stored.deleted_at is None


async def test_a_download_link_to_the_terms_expires():
    marketplace, _admin, _membership, _user = await _setting()
    staff_user = await make_staff(marketplace)
    async with http_client() as client:
        result = await post_multipart(
            client,
            staff_user,
            marketplace,
            PUBLISH_FILE,
            {"input": {"text": "", "file": None}},
            {"input.file": ("terms.pdf", PDF_BYTES, "application/pdf")},
        )
        link = result["data"]["publishTermsOfUse"]["termsOfUse"]["document"]["downloadUrl"]
        path = link.removeprefix(settings().public_url)
        clock.advance(timedelta(seconds=settings().download_url_ttl_seconds - 5))
        assert (await client.get(path)).status_code == 200
        clock.advance(timedelta(seconds=10))
        assert (await client.get(path)).status_code == 404
