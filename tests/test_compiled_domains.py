"""What compiles of conversations, documents, the catalogue, consent and clients: the
viewer's conversations with their messages and attachments, ``node(id:)`` of a Conversation,
Message, Document, ProviderService, Client and ConsentRecord, the staff's clients list with
each client's conversations, and a file's GDPR tab, each run as ONE statement (besides
authentication) with the standard executor's exact JSON, for every kind of caller; a signed
download link is left to the standard executor. The world: ``tests.support.rules_world``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from models.account import Client
from models.consent import ConsentChannel, ConsentRecord
from models.membership import Membership, ProviderCompany
from models.messaging import MessageAttachment
from presta import clock
from resolvers.actor import Actor
from resolvers.client.gdpr import set_client_marketing_consent
from resolvers.document_review import reject_document
from resolvers.terms import accept_terms_of_use
from schema.base import encode_id
from tests.factories.document import make_company_document, require_types
from tests.support.counting import counting
from tests.support.graphql import http_client
from tests.support.reads_world import ReadsWorld
from tests.support.rules_world import grown_world


@pytest.fixture
async def grown() -> tuple[ReadsWorld, dict[str, Actor]]:
    return await grown_world()


CONVERSATIONS = """
query Conversations($first: Int, $after: String) {
  conversations(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id kind clientName requestId createdAt lastMessageAt unreadCount
      lastMessage { id text sentByViewer }
      messages(first: 5) {
        pageInfo { hasNextPage }
        nodes {
          id conversationId text senderRole senderName sentByViewer createdAt
          attachments {
            documentId filename contentType size
            document { id kind title filename size state expiresOn review { status } }
          }
        }
      }
    }
  }
}"""

NODES = """
query Nodes($conversation: ID!, $message: ID!, $document: ID!, $application: ID!,
            $client: ID!, $record: ID!, $service: ID!) {
  conversation: node(id: $conversation) { __typename ... on Conversation { id kind unreadCount } }
  message: node(id: $message) { ... on Message { id text attachments { filename } } }
  document: node(id: $document) {
    ... on Document { id kind title sha256 validFrom createdAt documentTypeId state
                      downloadUrlExpiresInSeconds review { status reason reviewedAt } }
  }
  application: node(id: $application) { ... on ProviderService { id status serviceId } }
  service: node(id: $service) { ... on Service { id name category archivedAt } }
  client: node(id: $client) { ... on Client { id fullName email hasLogin invitationPending } }
  record: node(id: $record) {
    ... on ConsentRecord { id channel granted wordingVersion source recordedBy createdAt }
  }
}"""

# What a provider or a client may ask ``node(id:)`` for (the policy refuses them the rest).
PARTY_NODES = """
query PartyNodes($conversation: ID!, $message: ID!, $document: ID!) {
  conversation: node(id: $conversation) { ... on Conversation { id lastMessage { text } } }
  message: node(id: $message) { ... on Message { id text sentByViewer } }
  document: node(id: $document) { ... on Document { id kind title state review { status } } }
}"""

CLIENTS = """
query Clients($first: Int) {
  clients(first: $first) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id fullName email phone hasLogin invitationPending createdAt
      consent { channel granted wordingVersion since }
      conversations(first: 3) { nodes { id kind lastMessage { text } } } } }
  }
}"""

GDPR_TAB = "{ myMemberships { id consent { channel granted wordingVersion since } } }"
STAFF_GDPR_TAB = "{ providers(first: 10) { nodes { id consent { channel granted since } } } }"
WITH_LINK = "query($id: ID!) { node(id: $id) { ... on Document { id downloadUrl } } }"


async def _post(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    query: str,
    variables: dict[str, Any],
    executor: str | None = None,
) -> dict[str, Any]:
    sent = dict(headers) | ({"X-Presta-Executor": executor} if executor else {})
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=sent
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _compiled(world: ReadsWorld, actor: str, query: str, variables: dict[str, Any]) -> Any:
    """The compiled answer, after checking it equals the standard one and cost one statement:
    the standard request authenticated, the compiled one carries the kept actor's guard."""
    headers = world.headers[actor]
    async with http_client() as client:
        standard = await _post(client, headers, query, variables, "standard")
        with counting() as sent:
            fast = await _post(client, headers, query, variables)
    assert standard.pop("extensions") == {"executor": "standard"}
    assert fast.pop("extensions") == {"executor": "compiled"}, (actor, sent)
    assert _sorted(fast) == _sorted(standard), actor
    assert len(sent) == 1, sent
    return fast


def _sorted(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


async def test_conversations_with_messages_and_attachments_run_compiled_for_every_party(
    grown: tuple[ReadsWorld, dict[str, Actor]],
) -> None:
    world, _ = grown
    clock.freeze()
    for actor in ("provider_a", "client_a", "agent_a", "admin_a", "admin_b", "partner_read_a"):
        body = await _compiled(world, actor, CONVERSATIONS, {"first": 2})
        page = body["data"]["conversations"]
        if page["pageInfo"]["hasNextPage"]:
            after = {"first": 2, "after": page["pageInfo"]["endCursor"]}
            await _compiled(world, actor, CONVERSATIONS, after)
    staff = await _compiled(world, "admin_a", CONVERSATIONS, {"first": 10})
    files = [
        a["document"]["filename"]
        for c in staff["data"]["conversations"]["nodes"]
        for m in c["messages"]["nodes"]
        for a in m["attachments"]
    ]
    assert len(files) == 2


async def test_nodes_of_these_domains_run_compiled_and_read_as_absent_where_not_seen(
    grown: tuple[ReadsWorld, dict[str, Actor]],
) -> None:
    world, _ = grown
    clock.freeze()
    base = world.base
    attachment = await MessageAttachment.all().order_by("id").first()
    record = await ConsentRecord.all().first()
    assert attachment is not None
    assert record is not None
    variables = {
        "conversation": base.gid("conversation"),
        "message": base.gid("message"),
        "document": str(encode_id("Document", attachment.document_id)),
        "application": base.gid("provider_service_1"),
        "client": base.gid("client"),
        "record": str(encode_id("ConsentRecord", record.id)),
        "service": base.gid("service_a"),
    }
    answers = {
        actor: (await _compiled(world, actor, NODES, variables))["data"]
        for actor in ("agent_a", "admin_b", "partner_rw_a")
    }
    assert all(answers["agent_a"].values())
    assert not any(answers["admin_b"].values())
    parties = ("provider_a", "provider_ab", "client_a")
    party = {k: variables[k] for k in ("conversation", "message", "document")}
    seen = {a: (await _compiled(world, a, PARTY_NODES, party))["data"] for a in parties}
    assert all(seen["provider_a"].values())
    assert not any(seen["provider_ab"].values())
    company = await make_company_document(
        await ProviderCompany.get(id=(await Membership.get(id=base.pk("membership_1"))).company_id),
        "RC_PRO",
        expires_on=clock.now().date(),
    )
    variables["document"] = party["document"] = str(encode_id("Document", company.id))
    await _compiled(world, "admin_a", NODES, variables)
    for actor in parties:
        await _compiled(world, actor, PARTY_NODES, party)


async def test_the_clients_list_and_the_gdpr_tab_run_compiled(
    grown: tuple[ReadsWorld, dict[str, Actor]],
) -> None:
    world, actors = grown
    clock.freeze()
    client = await Client.get(id=world.base.pk("client"))
    for channel, granted in (("SMS", True), ("EMAIL", True), ("SMS", False)):
        await set_client_marketing_consent(
            actors["client_a"],
            client_id=client.id,
            channel=ConsentChannel(channel),
            granted=granted,
            wording_version="v2",
            source="app",
        )
    for actor in ("admin_a", "agent_a", "partner_read_a", "admin_b"):
        await _compiled(world, actor, CLIENTS, {"first": 1})
        await _compiled(world, actor, CLIENTS, {"first": 20})
        await _compiled(world, actor, STAFF_GDPR_TAB, {})
    listed = await _compiled(world, "admin_a", CLIENTS, {"first": 20})
    consents = [e["node"]["consent"] for e in listed["data"]["clients"]["edges"]]
    given = next(c for c in consents if c)
    assert [(r["channel"], r["granted"]) for r in given] == [
        ("EMAIL", True),
        ("SMS", False),
    ]
    body = await _compiled(world, "provider_a", GDPR_TAB, {})
    assert body["data"]["myMemberships"][0]["consent"][0]["granted"] is True


async def test_a_download_link_is_signed_by_the_standard_executor(
    grown: tuple[ReadsWorld, dict[str, Actor]],
) -> None:
    world, _ = grown
    attachment = await MessageAttachment.all().first()
    assert attachment is not None
    variables = {"id": str(encode_id("Document", attachment.document_id))}
    async with http_client() as client:
        body = await _post(client, world.headers["admin_a"], WITH_LINK, variables)
    assert body["extensions"] == {"executor": "standard"}
    assert "/files/" in body["data"]["node"]["downloadUrl"]


DOCUMENTS_TAB = """
query DocumentsTab($id: ID!) {
  membershipDocuments(membershipId: $id) {
    membershipId termsVersion termsVersionAccepted
    termsAcceptances { version acceptedAt acceptedBy }
    internalDocuments { id title kind }
    companyDocuments {
      documentType { id code label expires validityDays }
      required state
      current { id expiresOn state review { status reason } }
      documents { id expiresOn review { status } }
    }
    contracts { id kind title createdAt }
    invoices { id kind }
  }
}"""


async def test_the_documents_tab_runs_compiled_for_whoever_reads_the_file_s_tabs(
    grown: tuple[ReadsWorld, dict[str, Actor]],
) -> None:
    world, actors = grown
    clock.freeze()
    base = world.base
    m1 = await Membership.get(id=base.pk("membership_1"))
    marketplace = await m1.marketplace
    company = await ProviderCompany.get(id=m1.company_id)
    await require_types(marketplace, "KBIS", "RC_PRO", "URSSAF", "SAP")
    today = clock.now().date()
    await make_company_document(company, "RC_PRO", expires_on=today - timedelta(days=1))
    newer = await make_company_document(company, "RC_PRO", expires_on=today + timedelta(days=9))
    rejected = await make_company_document(company, "MANAGER_ID")
    await reject_document(actors["admin_a"], document_id=rejected.id, reason="Illisible")
    await reject_document(actors["admin_a"], document_id=newer.id, reason="Périmé")
    await accept_terms_of_use(actors["provider_a"])
    variables = {"id": base.gid("membership_1")}
    for actor in ("provider_a", "admin_a", "agent_a", "partner_read_a", "provider_ab", "admin_b"):
        body = await _compiled(world, actor, DOCUMENTS_TAB, variables)
        tab = body["data"]["membershipDocuments"]
        assert (tab is None) is (actor in ("provider_ab", "admin_b")), actor
    tab = (await _compiled(world, "provider_a", DOCUMENTS_TAB, variables))["data"][
        "membershipDocuments"
    ]
    states = {line["documentType"]["code"]: line["state"] for line in tab["companyDocuments"]}
    assert states == {
        "KBIS": "VALID",
        "RC_PRO": "EXPIRED",
        "URSSAF": "VALID",
        "SAP": "MISSING",
        "MANAGER_ID": "REJECTED",
    }
    assert tab["termsAcceptances"][0]["acceptedBy"]


DOCUMENT_ROOTS = """
query DocumentRoots {
  documentTypes { id code label expires validityDays }
  requiredDocumentTypes { id code }
  internalDocuments { id title kind filename state createdAt }
}"""
CLIENT_DOCUMENT_ROOTS = "{ documentTypes { code label } }"


async def test_the_document_roots_run_compiled_for_whom_the_standard_executor_answers(
    grown: tuple[ReadsWorld, dict[str, Actor]],
) -> None:
    world, _ = grown
    marketplace = await (await Membership.get(id=world.base.pk("membership_1"))).marketplace
    await require_types(marketplace, "RC_PRO", "KBIS")
    for actor in ("provider_a", "admin_a", "agent_a", "partner_read_a", "admin_b"):
        body = await _compiled(world, actor, DOCUMENT_ROOTS, {})
        required = [t["code"] for t in body["data"]["requiredDocumentTypes"]]
        assert required == ([] if actor == "admin_b" else ["KBIS", "RC_PRO"]), actor
    body = await _compiled(world, "client_a", CLIENT_DOCUMENT_ROOTS, {})
    assert body["data"]["documentTypes"]


LEFT_TO_STANDARD: dict[str, list[tuple[str, str | None]]] = {
    "provider_a": [
        ("query($m: ID) { conversations(membershipId: $m) { nodes { id } } }", "membership_1"),
        ("{ conversations(last: 2) { nodes { id } } }", None),
        ("{ conversations { nodes { id membership { status } } } }", None),
    ],
    "admin_a": [
        ('{ clients(search: "a") { nodes { id } } }', None),
        ("{ clients { nodes { id requests { nodes { id } } } } }", None),
    ],
}


async def test_what_the_compiler_cannot_prove_runs_standard_with_its_answer(
    grown: tuple[ReadsWorld, dict[str, Actor]],
) -> None:
    world, _ = grown
    async with http_client() as client:
        for actor, cases in LEFT_TO_STANDARD.items():
            for query, named in cases:
                variables = {"m": world.base.gid(named)} if named else {}
                body = await _post(client, world.headers[actor], query, variables)
                assert body.get("extensions") == {"executor": "standard"}, query
                assert body.get("data"), (query, body)
