"""Uploads through the GraphQL multipart request spec, and downloads through signed links."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from models.account import StaffRole, User
from models.document import Document, DocumentKind
from models.membership import MembershipStatus
from presta import clock
from presta.security import make_access_token
from presta.settings import settings
from tests.factories.account import make_marketplace, make_staff
from tests.factories.document import (
    HTML_BYTES,
    JPEG_BYTES,
    PDF_BYTES,
    PNG_BYTES,
    UPLOAD,
    document_type,
    multipart,
    stored_files,
    type_id,
)
from tests.factories.membership import make_membership, make_provider_user
from tests.support.graphql import http_client


def _headers(user, marketplace) -> dict[str, str]:
    token, _ = make_access_token(user.id)
    return {
        "Authorization": f"Bearer {token}",
        "X-Marketplace": marketplace.slug,
        "Apollo-Require-Preflight": "true",
    }


async def _upload(
    client: Any,
    user: Any,
    marketplace: Any,
    variables: dict[str, Any],
    filename: str,
    data: bytes,
    declared: str = "application/pdf",
) -> Any:
    body = multipart(
        UPLOAD, {"input": {**variables, "file": None}}, {"input.file": (filename, data, declared)}
    )
    response = await client.post("/graphql", headers=_headers(user, marketplace), **body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert "errors" not in result, result
    return result["data"]["uploadDocument"]


async def _provider() -> Any:
    marketplace = await make_marketplace()
    membership = await make_membership(marketplace)
    user = await make_provider_user(membership)
    return marketplace, membership, user


async def test_a_provider_uploads_a_pdf_and_downloads_it_back_as_an_attachment():
    marketplace, _membership, user = await _provider()
    urssaf = await document_type("URSSAF")
    async with http_client() as client:
        result = await _upload(
            client, user, marketplace, {"documentTypeId": type_id(urssaf)}, "urssaf.pdf", PDF_BYTES
        )
        assert result["userErrors"] == []
        doc = result["document"]
        assert doc["kind"] == "COMPANY"
        assert doc["contentType"] == "application/pdf"
        assert doc["size"] == len(PDF_BYTES)
        assert doc["sha256"] == hashlib.sha256(PDF_BYTES).hexdigest()
        today = clock.now().date()
        assert doc["validFrom"] == today.isoformat()
        # URSSAF certificates last six months when no end date is given.
        assert doc["expiresOn"] == (today + timedelta(days=180)).isoformat()
        assert doc["state"] == "VALID"

        path = doc["downloadUrl"].removeprefix(settings().public_url)
        assert path.startswith("/files/")
        download = await client.get(path)
        assert download.status_code == 200
        assert download.content == PDF_BYTES
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert "urssaf.pdf" in download.headers["content-disposition"]
        assert download.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("scan.pdf", PNG_BYTES, "TYPE_MISMATCH"),
        ("page.html", HTML_BYTES, "UNSUPPORTED_TYPE"),
        ("page.pdf", HTML_BYTES, "UNSUPPORTED_TYPE"),
        ("empty.pdf", b"", "EMPTY_FILE"),
        ("huge.pdf", PDF_BYTES + b"0" * 5000, "FILE_TOO_LARGE"),
    ],
)
async def test_a_bad_file_is_refused_with_a_typed_error_and_leaves_nothing_behind(
    filename, data, code, monkeypatch
):
    marketplace, _membership, user = await _provider()
    kbis = await document_type("KBIS")
    before = stored_files()
    monkeypatch.setattr(settings(), "max_upload_bytes", 4096)
    async with http_client() as client:
        result = await _upload(
            client, user, marketplace, {"documentTypeId": type_id(kbis)}, filename, data
        )
    assert [e["code"] for e in result["userErrors"]] == [code]
    assert result["userErrors"][0]["field"] == "file"
    assert result["document"] is None
    assert await Document.all().count() == 0
    assert stored_files() == before


async def test_a_png_and_a_jpeg_under_their_own_names_are_accepted():
    marketplace, _membership, user = await _provider()
    rib = await document_type("RIB")
    async with http_client() as client:
        png = await _upload(
            client,
            user,
            marketplace,
            {"documentTypeId": type_id(rib)},
            "rib.png",
            PNG_BYTES,
            "image/png",
        )
        jpeg = await _upload(
            client,
            user,
            marketplace,
            {"documentTypeId": type_id(rib)},
            "rib",
            JPEG_BYTES,
            "application/octet-stream",
        )
    assert png["document"]["contentType"] == "image/png"
    assert png["document"]["expiresOn"] is None
    assert jpeg["document"]["contentType"] == "image/jpeg"
    assert jpeg["document"]["filename"] == "rib.jpeg"


async def test_staff_file_a_contract_that_the_provider_can_download_but_another_cannot():
    marketplace, membership, provider = await _provider()
    staff = await make_staff(marketplace, StaffRole.AGENT)
    other = await make_membership(marketplace)
    other_user = await make_provider_user(other)
    from schema.base import encode_id

    async with http_client() as client:
        result = await _upload(
            client,
            staff,
            marketplace,
            {"membershipId": str(encode_id("Membership", membership.id)), "title": "Contract 2026"},
            "contract.pdf",
            PDF_BYTES,
        )
        assert result["userErrors"] == []
        assert result["document"]["kind"] == "CONTRACT"
        doc_id = result["document"]["id"]

        query = "query($id: ID!) { node(id: $id) { ... on Document { title downloadUrl } } }"
        mine = await client.post(
            "/graphql",
            json={"query": query, "variables": {"id": doc_id}},
            headers=_headers(provider, marketplace),
        )
        node = mine.json()["data"]["node"]
        assert node["title"] == "Contract 2026"
        assert (
            await client.get(node["downloadUrl"].removeprefix(settings().public_url))
        ).content == PDF_BYTES

        theirs = await client.post(
            "/graphql",
            json={"query": query, "variables": {"id": doc_id}},
            headers=_headers(other_user, marketplace),
        )
        assert theirs.json()["data"]["node"] is None


async def test_staff_of_another_marketplace_can_neither_see_nor_download_a_document():
    marketplace, membership, user = await _provider()
    other_marketplace = await make_marketplace()
    foreign_staff = await make_staff(other_marketplace)
    rc = await document_type("RC_PRO")
    from schema.base import encode_id

    async with http_client() as client:
        result = await _upload(
            client, user, marketplace, {"documentTypeId": type_id(rc)}, "rc.pdf", PDF_BYTES
        )
        doc_id = result["document"]["id"]
        query = "query($id: ID!) { node(id: $id) { ... on Document { downloadUrl } } }"
        seen = await client.post(
            "/graphql",
            json={"query": query, "variables": {"id": doc_id}},
            headers=_headers(foreign_staff, other_marketplace),
        )
        assert seen.json()["data"]["node"] is None

        tab = await client.post(
            "/graphql",
            json={
                "query": "query($m: ID!) "
                "{ membershipDocuments(membershipId: $m) { contracts { id } } }",
                "variables": {"m": str(encode_id("Membership", membership.id))},
            },
            headers=_headers(foreign_staff, other_marketplace),
        )
        assert tab.json()["data"]["membershipDocuments"] is None

        # A contract upload aimed at A's provider by B's staff is "not found".
        contract = await _upload(
            client,
            foreign_staff,
            other_marketplace,
            {"membershipId": str(encode_id("Membership", membership.id))},
            "c.pdf",
            PDF_BYTES,
        )
        assert [e["code"] for e in contract["userErrors"]] == ["NOT_FOUND"]
        assert await Document.filter(kind=DocumentKind.CONTRACT).count() == 0


async def test_a_download_link_is_a_404_when_tampered_expired_or_access_is_lost():
    marketplace, membership, user = await _provider()
    staff = await make_staff(marketplace)
    kbis = await document_type("KBIS")
    async with http_client() as client:
        result = await _upload(
            client, user, marketplace, {"documentTypeId": type_id(kbis)}, "kbis.pdf", PDF_BYTES
        )
        query = "query($id: ID!) { node(id: $id) { ... on Document { downloadUrl } } }"
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": {"id": result["document"]["id"]}},
            headers=_headers(staff, marketplace),
        )
        link = response.json()["data"]["node"]["downloadUrl"].removeprefix(settings().public_url)
        assert (await client.get(link)).status_code == 200

        body, _, signature = link.removeprefix("/files/").partition(".")
        forged = f"/files/{body[:-2]}xx.{signature}"
        assert (await client.get(forged)).status_code == 404
        assert (await client.get("/files/garbage")).status_code == 404

        # Staff of a deleted relationship lose access to the company's documents at once.
        membership.status = MembershipStatus.DELETED
        await membership.save()
        assert (await client.get(link)).status_code == 404
        membership.status = MembershipStatus.ACCEPTED
        await membership.save()
        assert (await client.get(link)).status_code == 200

        clock.advance(timedelta(seconds=settings().download_url_ttl_seconds + 1))
        expired = await client.get(link)
        assert expired.status_code == 404
        assert expired.headers["x-content-type-options"] == "nosniff"


async def test_a_provider_cannot_upload_a_document_ending_before_it_starts():
    marketplace, _membership, user = await _provider()
    kbis = await document_type("KBIS")
    today = clock.now().date()
    async with http_client() as client:
        result = await _upload(
            client,
            user,
            marketplace,
            {
                "documentTypeId": type_id(kbis),
                "validFrom": today.isoformat(),
                "expiresOn": (today - timedelta(days=1)).isoformat(),
            },
            "kbis.pdf",
            PDF_BYTES,
        )
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [("expiresOn", "INVALID")]
    assert await Document.all().count() == 0


async def test_a_client_files_a_message_attachment_that_only_they_and_staff_can_see():
    from tests.factories.account import make_client

    marketplace = await make_marketplace()
    client = await make_client(marketplace)
    client_user = await User.get(id=client.user_id)
    other = await make_client(marketplace)
    other_client_user = await User.get(id=other.user_id)
    staff = await make_staff(marketplace, StaffRole.AGENT)
    async with http_client() as http:
        result = await _upload(
            http,
            client_user,
            marketplace,
            {"forMessage": True},
            "photo.jpg",
            JPEG_BYTES,
            "image/jpeg",
        )
        assert result["userErrors"] == []
        doc = result["document"]
        assert doc["kind"] == "ATTACHMENT"
        query = "query($id: ID!) { node(id: $id) { ... on Document { filename } } }"
        for user, expected in ((staff, "photo.jpg"), (other_client_user, None)):
            response = await http.post(
                "/graphql",
                json={"query": query, "variables": {"id": doc["id"]}},
                headers=_headers(user, marketplace),
            )
            node = response.json()["data"]["node"]
            assert (node and node["filename"]) == expected


async def test_a_link_presented_with_someone_elses_credentials_is_a_404():
    marketplace, _membership, user = await _provider()
    other_marketplace = await make_marketplace()
    foreign_staff = await make_staff(other_marketplace)
    kbis = await document_type("KBIS")
    async with http_client() as client:
        result = await _upload(
            client, user, marketplace, {"documentTypeId": type_id(kbis)}, "kbis.pdf", PDF_BYTES
        )
        link = result["document"]["downloadUrl"].removeprefix(settings().public_url)
        stolen = await client.get(link, headers=_headers(foreign_staff, other_marketplace))
        assert stolen.status_code == 404
        assert stolen.content != PDF_BYTES
        own = await client.get(link, headers=_headers(user, marketplace))
        assert own.status_code == 200


async def test_a_file_larger_than_the_api_body_limit_but_within_the_upload_limit_is_accepted():
    marketplace, _membership, user = await _provider()
    rc = await document_type("RC_PRO")
    big = PDF_BYTES + b"%" * (2 * settings().max_body_bytes)
    assert len(big) < settings().max_upload_bytes
    async with http_client() as client:
        result = await _upload(
            client, user, marketplace, {"documentTypeId": type_id(rc)}, "rc.pdf", big
        )
        assert result["userErrors"] == []
        assert result["document"]["size"] == len(big)
        link = result["document"]["downloadUrl"].removeprefix(settings().public_url)
        assert (await client.get(link)).content == big
