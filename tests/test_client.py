"""Clients as real accounts: sign-up, staff creation with an e-mailed link, the Client node
and its tabs, the staff list with search and keyset paging."""

from __future__ import annotations

import re
from datetime import timedelta
from email.header import decode_header, make_header

from models.account import Client, User
from models.marketplace import Marketplace
from presta import clock, jobs
from presta.settings import settings
from resolvers.actor import Actor
from resolvers.client import onboarding
from schema.base import encode_id
from tests.factories.account import (
    actor_of,
    make_client,
    make_marketplace,
    make_staff,
    make_user,
)
from tests.factories.messaging import (
    make_cast,
    make_conversation,
    make_dispatched_request,
    make_intervention,
)
from tests.support.graphql import execute, ok

PASSWORD = "a long password 1"
SIGN_UP = """mutation($input: SignUpClientInput!) { signUpClient(input: $input) {
  userErrors { field code message } client { id fullName email phone hasLogin }
  user { email } accessToken refreshToken } }"""
CREATE = """mutation($input: CreateClientInput!) { createClient(input: $input) {
  userErrors { field code message } created client { id email hasLogin invitationPending } } }"""
ACCEPT = """mutation($input: AcceptClientInvitationInput!) { acceptClientInvitation(input: $input) {
  userErrors { field code message } client { id hasLogin invitationPending } accessToken } }"""
LOG_IN = """mutation($email: String!, $password: String!) {
  logIn(input: {email: $email, password: $password}) { userErrors { code } accessToken } }"""
VIEWER = "{ viewer { client { id fullName email } roles { role } } }"
CLIENT_TABS = """query($id: ID!) { node(id: $id) { ... on Client { id fullName
  requests { edges { node { id } } } interventions { edges { node { id } } }
  conversations { edges { node { id } } } consent { channel granted } } } }"""
CLIENTS = """query($search: String, $first: Int, $after: String) {
  clients(search: $search, first: $first, after: $after) {
    edges { cursor node { id fullName email phone } } pageInfo { hasNextPage endCursor } } }"""


async def _staff(marketplace) -> Actor:
    return await actor_of(await make_staff(marketplace), marketplace)


def _link_token(mailbox, address: str) -> str:
    [message] = mailbox.to(address)
    match = re.search(r"client-invitation\?token=(\S+)", mailbox.body(message))
    assert match is not None, mailbox.body(message)
    return match.group(1)


async def _signed_in(email: str, marketplace) -> Actor:
    user = await User.get(email=email)
    return await actor_of(user, marketplace)


async def _user_actor(client: Client, marketplace: Marketplace) -> Actor:
    user = await User.get(id=client.user_id)
    return await actor_of(user, marketplace)


# --- sign-up --------------------------------------------------------------------------------


async def test_anyone_signs_up_as_a_client_of_a_marketplace_and_the_viewer_shows_its_client():
    marketplace = await make_marketplace(slug="menage")
    data = await ok(
        SIGN_UP,
        {
            "input": {
                "marketplace": "menage",
                "email": " Jeanne@Example.com ",
                "password": PASSWORD,
                "fullName": "Jeanne Martin",
                "phone": "+33 6 12 34 56 78",
            }
        },
    )
    payload = data["signUpClient"]
    assert payload["userErrors"] == []
    assert payload["client"]["email"] == "jeanne@example.com"
    assert payload["client"]["hasLogin"] is True
    assert payload["accessToken"]
    assert payload["refreshToken"]

    client = await Client.get(email="jeanne@example.com")
    assert client.marketplace_id == marketplace.id
    actor = await _signed_in("jeanne@example.com", marketplace)
    assert actor.client_id == client.id
    viewer = (await ok(VIEWER, actor=actor))["viewer"]
    assert viewer["client"] == {
        "id": str(encode_id("Client", client.id)),
        "fullName": "Jeanne Martin",
        "email": "jeanne@example.com",
    }
    assert viewer["roles"] == [{"role": "CLIENT"}]


async def test_client_sign_up_applies_the_password_rules_and_reports_every_bad_field():
    await make_marketplace(slug="menage")
    data = await ok(
        SIGN_UP,
        {
            "input": {
                "marketplace": "no-such-market",
                "email": "not-an-email",
                "password": "short",
                "fullName": " ",
                "phone": "call me",
            }
        },
    )
    errors = {(e["field"], e["code"]) for e in data["signUpClient"]["userErrors"]}
    assert errors == {
        ("email", "INVALID_EMAIL"),
        ("password", "WEAK_PASSWORD"),
        ("fullName", "INVALID"),
        ("phone", "INVALID"),
        ("marketplace", "NOT_FOUND"),
    }
    assert await Client.all().count() == 0
    assert await User.all().count() == 0


async def test_client_sign_up_refuses_an_e_mail_that_already_has_a_login():
    await make_marketplace(slug="menage")
    variables = {
        "input": {
            "marketplace": "menage",
            "email": "jeanne@example.com",
            "password": PASSWORD,
            "fullName": "Jeanne",
        }
    }
    assert (await ok(SIGN_UP, variables))["signUpClient"]["userErrors"] == []
    again = (await ok(SIGN_UP, variables))["signUpClient"]
    assert [e["code"] for e in again["userErrors"]] == ["EMAIL_TAKEN"]
    assert again["client"] is None
    assert await Client.filter(email="jeanne@example.com").count() == 1


# --- staff creation and the invitation ------------------------------------------------------


async def test_staff_create_a_client_who_sets_a_password_from_the_mailed_link_and_logs_in(
    mailbox,
):
    marketplace = await make_marketplace(name="Ménage Plus")
    staff = await _staff(marketplace)
    data = await ok(
        CREATE,
        {"input": {"email": "Paul@Example.com", "fullName": "Paul Durand", "phone": "0612"}},
        actor=staff,
    )
    payload = data["createClient"]
    assert payload["userErrors"] == []
    assert payload["created"] is True
    assert payload["client"]["hasLogin"] is False
    assert payload["client"]["invitationPending"] is True
    await jobs.drain()

    [message] = mailbox.to("paul@example.com")
    subject = str(make_header(decode_header(message["Subject"])))
    # A client without a login reads the marketplace's default language: French.
    assert subject == "Ménage Plus a créé votre compte client"
    days = settings().invitation_ttl_days
    assert f"Le lien ne sert qu'une fois et expire dans {days} jours." in mailbox.body(message)
    token = _link_token(mailbox, "paul@example.com")
    accepted = (await ok(ACCEPT, {"input": {"token": token, "password": PASSWORD}}))[
        "acceptClientInvitation"
    ]
    assert accepted["userErrors"] == []
    assert accepted["client"]["hasLogin"] is True
    assert accepted["client"]["invitationPending"] is False
    assert accepted["accessToken"]

    logged = await ok(LOG_IN, {"email": "paul@example.com", "password": PASSWORD})
    assert logged["logIn"]["userErrors"] == []
    actor = await _signed_in("paul@example.com", marketplace)
    assert (await ok(VIEWER, actor=actor))["viewer"]["client"]["fullName"] == "Paul Durand"

    # The link works once.
    again = (await ok(ACCEPT, {"input": {"token": token, "password": PASSWORD}}))[
        "acceptClientInvitation"
    ]
    assert [e["code"] for e in again["userErrors"]] == ["INVITATION_INVALID"]


async def test_creating_the_same_client_twice_gives_the_same_client_and_one_e_mail(mailbox):
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    variables = {"input": {"email": "paul@example.com", "fullName": "Paul Durand"}}
    first = (await ok(CREATE, variables, actor=staff))["createClient"]
    second = (await ok(CREATE, variables, actor=staff))["createClient"]
    await jobs.drain()

    assert first["created"] is True
    assert second["created"] is False
    assert first["client"]["id"] == second["client"]["id"]
    assert await Client.filter(marketplace_id=marketplace.id).count() == 1
    assert len(mailbox.to("paul@example.com")) == 1


async def test_an_expired_client_link_is_refused_and_creating_again_mails_a_new_one(mailbox):
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    variables = {"input": {"email": "paul@example.com", "fullName": "Paul Durand"}}
    await ok(CREATE, variables, actor=staff)
    await jobs.drain()
    old = _link_token(mailbox, "paul@example.com")
    clock.advance(timedelta(days=settings().invitation_ttl_days, seconds=1))

    expired = (await ok(ACCEPT, {"input": {"token": old, "password": PASSWORD}}))[
        "acceptClientInvitation"
    ]
    assert [e["code"] for e in expired["userErrors"]] == ["INVITATION_EXPIRED"]

    mailbox.clear()
    await ok(CREATE, variables, actor=staff)
    await jobs.drain()
    new = _link_token(mailbox, "paul@example.com")
    assert new != old
    refused = (await ok(ACCEPT, {"input": {"token": old, "password": PASSWORD}}))[
        "acceptClientInvitation"
    ]
    assert [e["code"] for e in refused["userErrors"]] == ["INVITATION_INVALID"]
    accepted = (await ok(ACCEPT, {"input": {"token": new, "password": PASSWORD}}))[
        "acceptClientInvitation"
    ]
    assert accepted["userErrors"] == []


async def test_the_invitation_job_sends_nothing_once_the_client_has_a_login(mailbox):
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    client, _ = await onboarding.create_client(staff, email="a@example.com", full_name="A")
    await jobs.drain()
    token = _link_token(mailbox, "a@example.com")
    await onboarding.accept_client_invitation(token=token, password=PASSWORD)
    mailbox.clear()

    await onboarding.send_client_invitation_email(client.id)  # a redelivered job
    assert mailbox.to("a@example.com") == []


async def test_a_client_invitation_cannot_claim_an_e_mail_that_already_has_a_login(mailbox):
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    await make_user(email="taken@example.com")  # a login with this e-mail exists already
    await onboarding.create_client(staff, email="taken@example.com", full_name="Same person")
    await jobs.drain()
    token = _link_token(mailbox, "taken@example.com")

    result = (await ok(ACCEPT, {"input": {"token": token, "password": PASSWORD}}))[
        "acceptClientInvitation"
    ]
    assert [e["code"] for e in result["userErrors"]] == ["EMAIL_TAKEN"]
    assert result["client"] is None


# --- the Client node ------------------------------------------------------------------------


async def test_the_client_node_shows_its_requests_visits_and_conversations_to_it_and_staff():
    cast = await make_cast()
    request = await make_dispatched_request(cast.membership, cast.client)
    visit = await make_intervention(cast.membership, cast.client)
    conversation = await make_conversation(cast.membership, client=cast.client)
    other = await make_client(cast.marketplace)
    await make_dispatched_request(cast.membership, other)
    gid = str(encode_id("Client", cast.client.id))

    for actor in (await cast.client_actor(), await cast.staff_actor()):
        node = (await ok(CLIENT_TABS, {"id": gid}, actor=actor))["node"]
        assert node["id"] == gid
        assert [e["node"]["id"] for e in node["requests"]["edges"]] == [
            str(encode_id("ServiceRequest", request.id))
        ]
        assert [e["node"]["id"] for e in node["interventions"]["edges"]] == [
            str(encode_id("Intervention", visit.id))
        ]
        assert [e["node"]["id"] for e in node["conversations"]["edges"]] == [
            str(encode_id("Conversation", conversation.id))
        ]


async def test_a_client_is_hidden_from_providers_other_clients_and_other_marketplaces():
    cast = await make_cast()
    await make_dispatched_request(cast.membership, cast.client)
    other_client = await make_client(cast.marketplace)
    elsewhere = await make_cast()
    gid = str(encode_id("Client", cast.client.id))
    outsiders = [
        await cast.provider_actor(),  # its request's provider sees it on the request only
        await _user_actor(other_client, cast.marketplace),
        await elsewhere.staff_actor(),
        await elsewhere.client_actor(),
    ]
    for actor in outsiders:
        result = await execute("query($id: ID!) { node(id: $id) { id } }", {"id": gid}, actor=actor)
        assert result.errors == []
        assert result.data == {"node": None}


# --- the staff list -------------------------------------------------------------------------


async def test_staff_page_through_clients_newest_first_with_keyset_cursors():
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    made = [await make_client(marketplace) for _ in range(5)]
    elsewhere = await make_marketplace()
    await make_client(elsewhere)

    seen: list[str] = []
    after = None
    while True:
        page = (await ok(CLIENTS, {"first": 2, "after": after}, actor=staff))["clients"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [str(encode_id("Client", c.id)) for c in reversed(made)]

    # A client created between two pages neither shifts nor repeats the rest.
    first = (await ok(CLIENTS, {"first": 2}, actor=staff))["clients"]
    await make_client(marketplace)
    rest = await ok(CLIENTS, {"first": 10, "after": first["pageInfo"]["endCursor"]}, actor=staff)
    ids = [e["node"]["id"] for e in rest["clients"]["edges"]]
    assert ids == [str(encode_id("Client", c.id)) for c in reversed(made[:3])]


async def test_staff_search_clients_by_part_of_their_name_e_mail_or_phone_in_any_case():
    marketplace = await make_marketplace()
    staff = await _staff(marketplace)
    jeanne = await Client.create(
        marketplace=marketplace, full_name="Jeanne Martin", email="jm@example.com",
        phone="06 11 22 33 44",
    )  # fmt: skip
    paul = await Client.create(
        marketplace=marketplace, full_name="Paul Durand", email="paul.martin@mail.test",
        phone="07 99 88 77 66",
    )  # fmt: skip
    await Client.create(marketplace=marketplace, full_name="Zoé", email="zoe@example.com", phone="")
    elsewhere = await make_marketplace()
    await Client.create(marketplace=elsewhere, full_name="Jeanne Martin", email="jm@example.com")

    async def names(search: str) -> list[str]:
        data = await ok(CLIENTS, {"search": search}, actor=staff)
        return [e["node"]["fullName"] for e in data["clients"]["edges"]]

    assert await names("MARTIN") == ["Paul Durand", "Jeanne Martin"]
    assert await names("jm@") == ["Jeanne Martin"]
    assert await names("99 88") == ["Paul Durand"]
    assert await names("%") == []  # a wildcard is a character like any other
    assert await names("nobody") == []
    assert jeanne.id < paul.id


async def test_providers_and_clients_may_not_list_clients():
    cast = await make_cast()
    for actor in (await cast.provider_actor(), await cast.client_actor()):
        result = await execute(CLIENTS, {}, actor=actor)
        assert result.codes == ["FORBIDDEN"]
