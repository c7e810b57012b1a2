"""The authorization matrix, generated from the schema by introspection and driven by
``resolvers.policy``: every root field, every Node type and every principal of the seeded
world (``tests.support.authz_world``).

Checked for each cell: a principal outside the table is refused (UNAUTHENTICATED/FORBIDDEN)
with no data and no changed row; a principal inside it is not refused by role; objects of
marketplace A used by the ADMIN of B, and P1's objects used by another provider of A, look
exactly like a random id that does not exist; ``node(id:)`` returns an object only to the
principals the table lets see it (its marketplace, or its parties).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationType,
    build_client_schema,
    get_introspection_query,
)
from tortoise import Tortoise, connections

from presta import clock
from resolvers import policy
from resolvers.policy import Scope
from schema.base import encode_id
from tests.support.authz_world import PRINCIPALS, World, pdf_upload, seed
from tests.support.graphql import Result, execute

REFUSALS = {"UNAUTHENTICATED", "FORBIDDEN"}
MISSING_PK = 987_654_321


async def _introspect() -> GraphQLSchema:
    result = await execute(get_introspection_query(descriptions=False))
    assert not result.errors
    return build_client_schema(result.data)


_SCHEMA: list[GraphQLSchema] = []


async def introspected() -> GraphQLSchema:
    if not _SCHEMA:
        _SCHEMA.append(await _introspect())
    return _SCHEMA[0]


# --- selections generated from the introspected types --------------------------------------


def _named(t: Any) -> Any:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t


def _leaves(t: GraphQLObjectType) -> list[str]:
    return [
        name
        for name, f in t.fields.items()
        if isinstance(_named(f.type), GraphQLScalarType | GraphQLEnumType)
        and not any(isinstance(a.type, GraphQLNonNull) for a in f.args.values())
    ]


def selection(t: Any) -> str:
    """Every leaf field of the type (and of connection nodes); objects below by ``id``."""
    t = _named(t)
    if isinstance(t, GraphQLScalarType | GraphQLEnumType):
        return ""
    if isinstance(t, GraphQLInterfaceType) or not isinstance(t, GraphQLObjectType):
        return "{ __typename }"
    if "edges" in t.fields and "pageInfo" in t.fields:
        node = _named(_named(t.fields["edges"].type).fields["node"].type)
        return "{ edges { cursor node " + selection(node) + " } }"
    parts = ["__typename", *_leaves(t)]
    for name, f in t.fields.items():
        inner = _named(f.type)
        if name == "userErrors":
            parts.append("userErrors { field message code }")
        elif isinstance(inner, GraphQLObjectType) and "id" in inner.fields and not f.args:
            parts.append(name + " { __typename id }")
    return "{ " + " ".join(parts) + " }"


def root_fields(schema: GraphQLSchema, root: str) -> dict[str, Any]:
    operation = schema.get_root_type(OperationType(root.lower()))
    assert operation is not None
    return dict(operation.fields)


def document(schema: GraphQLSchema, root: str, name: str, variables: dict[str, Any]) -> str:
    f = root_fields(schema, root)[name]
    declared = ", ".join(f"${a}: {f.args[a].type}" for a in variables)
    passed = ", ".join(f"{a}: ${a}" for a in variables)
    head = root.lower() + (f"({declared})" if declared else "")
    call = name + (f"({passed})" if passed else "")
    return f"{head} {{ {call} {selection(f.type)} }}"


# --- references to the world's objects, real or missing -----------------------------------


Ref = Callable[[str], str]


def real(w: World) -> Ref:
    return w.gid


def missing(w: World) -> Ref:
    return lambda name: str(encode_id(w.ids[name][0], MISSING_PK))


# --- arguments of the root queries that need some -----------------------------------------


def _no_args(w: World, r: Ref) -> dict[str, Any]:
    return {}


QUERY_ARGS: dict[str, Callable[[World, Ref], dict[str, Any]]] = {
    "node": lambda w, r: {"id": r("membership_1")},
    "nodes": lambda w, r: {"ids": [r("membership_1"), r("request")]},
    "invitation": lambda w, r: {"token": w.values["invitation_token"]},
    "publicApplication": lambda w, r: {"token": w.values["public_token"]},
    "membershipDocuments": lambda w, r: {"membershipId": r("membership_1")},
    "consentHistory": lambda w, r: {"membershipId": r("membership_1")},
    "marketingConsent": lambda w, r: {"membershipId": r("membership_1")},
    "consentedMemberships": lambda w, r: {"channel": "EMAIL"},
    "membershipServices": lambda w, r: {"membershipId": r("membership_1")},
    "actionZone": lambda w, r: {"membershipId": r("membership_1")},
    "matchingProviders": lambda w, r: {
        "serviceId": r("service_a"),
        "address": {"postalCode": "75011"},
    },
    "webhookDeliveries": lambda w, r: {"endpointId": r("webhook_endpoint")},
    "exportClientData": lambda w, r: {"clientId": r("client")},
}


# --- minimal valid inputs of every mutation, pointing at marketplace A ---------------------


@dataclass(frozen=True)
class Build:
    owner: str  # a principal for whom the input is valid (its result is checked too)
    make: Callable[[World, Ref], dict[str, Any]]
    # Principals for whom the ids are foreign (another tenant, another provider's objects).
    foreign: tuple[str, ...] = ("admin_b", "provider_ab")
    # Codes the owner may get because the seeded state does not allow the transition.
    state_codes: frozenset[str] = field(default_factory=frozenset)


def _s(*codes: str) -> frozenset[str]:
    return frozenset(codes)


def _zone(**kw: Any) -> dict[str, Any]:
    return {"postalCodes": ["75011"], "prefixes": [], "circles": [], **kw}


MUTATIONS: dict[str, Build] = {
    "signUp": Build(
        "anonymous",
        lambda w, r: {
            "email": "someone@example.com",
            "password": "a long password 1",
            "fullName": "S",
        },
        foreign=(),
    ),
    "logIn": Build(
        "anonymous",
        lambda w, r: {"email": w.values["provider_email"], "password": "correct horse battery"},
        foreign=(),
    ),
    "refreshToken": Build(
        "anonymous", lambda w, r: {"refreshToken": w.values["refresh_token"]}, foreign=()
    ),
    "logOut": Build(
        "anonymous", lambda w, r: {"refreshToken": w.values["refresh_token"]}, foreign=()
    ),
    "signUpClient": Build(
        "anonymous",
        lambda w, r: {
            "marketplace": r("marketplace_a"),
            "email": "new.client@example.com",
            "password": "a long password 1",
            "fullName": "New Client",
        },
        foreign=(),
    ),
    "acceptClientInvitation": Build(
        "anonymous",
        lambda w, r: {"token": "not-a-token", "password": "a long password 1"},
        foreign=(),
        state_codes=_s("INVITATION_INVALID"),
    ),
    "createClient": Build(
        "agent_a",
        lambda w, r: {"email": "invited.client@example.com", "fullName": "Invited Client"},
        foreign=(),
    ),
    "setClientMarketingConsent": Build(
        "client_a",
        lambda w, r: {
            "clientId": r("client"),
            "channel": "EMAIL",
            "granted": True,
            "wordingVersion": "v1",
            "source": "app",
        },
    ),
    "deleteClientData": Build(
        "client_a",
        lambda w, r: {"clientId": r("client")},
        state_codes=_s("PENDING_WORK"),  # the seeded client has an open request and a visit
    ),
    "createApiKey": Build("admin_a", lambda w, r: {"name": "k", "scope": "READ"}, foreign=()),
    "revokeApiKey": Build("admin_a", lambda w, r: {"id": r("api_key")}),
    "updateProfile": Build("provider_a", lambda w, r: {"fullName": "New Name"}, foreign=()),
    "updateNotificationPreferences": Build(
        "provider_a",
        lambda w, r: {"preferences": [{"kind": "UNREAD_MESSAGES", "email": False}]},
        foreign=(),
    ),
    "createMarketplace": Build(
        "platform_admin",
        lambda w, r: {
            "name": "Gamma",
            "slug": "gamma",
            "adminEmail": "gamma@example.com",
            "adminFullName": "G",
            "adminPassword": "a long password 1",
        },
        foreign=(),
    ),
    "addStaffMember": Build(
        "admin_a", lambda w, r: {"email": w.values["provider_email"], "role": "AGENT"}, foreign=()
    ),
    "updateDispatchSettings": Build("admin_a", lambda w, r: {"proposalsRequired": 2}, foreign=()),
    "changeStaffRole": Build(
        "admin_a", lambda w, r: {"email": w.values["agent_email"], "role": "ADMIN"}, foreign=()
    ),
    "removeStaffMember": Build(
        "admin_a", lambda w, r: {"email": w.values["agent_email"]}, foreign=()
    ),
    "updateProviderCompany": Build("provider_a", lambda w, r: {"name": "P1 renamed"}, foreign=()),
    "inviteColleague": Build(
        "provider_a", lambda w, r: {"email": "colleague@example.com"}, foreign=()
    ),
    # Who may call it; removing a real colleague: tests/test_company.py.
    "removeColleague": Build(
        "provider_a",
        lambda w, r: {"email": "nobody@example.com"},
        foreign=(),
        state_codes=_s("NOT_FOUND"),
    ),
    # The matrix checks who may call it; joining with a real link: tests/test_company.py.
    "acceptColleagueInvitation": Build(
        "provider_a", lambda w, r: {"token": "unknown"}, foreign=(), state_codes=_s("NOT_FOUND")
    ),
    "applyToMarketplace": Build(
        "provider_a",
        lambda w, r: {"token": w.values["public_token"]},
        foreign=(),
        state_codes=_s("ALREADY_MEMBER"),  # P1 is a provider of A already
    ),
    "updateMarketplaceSettings": Build(
        "admin_a", lambda w, r: {"defaultCommissionRate": "10"}, foreign=()
    ),
    "suspendProvider": Build(
        "agent_a", lambda w, r: {"membershipId": r("membership_1"), "reason": "late"}
    ),
    "reinstateProvider": Build(
        "agent_a",
        lambda w, r: {"membershipId": r("membership_suspended"), "reason": "ok"},
    ),
    "deactivateProvider": Build(
        "agent_a", lambda w, r: {"membershipId": r("membership_2a"), "reason": "gone"}
    ),
    "reactivateProvider": Build(
        "agent_a",
        lambda w, r: {"membershipId": r("membership_deactivated"), "reason": "back"},
    ),
    "deleteProviderRelationship": Build(
        "agent_a", lambda w, r: {"membershipId": r("membership_2a"), "reason": "gone"}
    ),
    "submitApplication": Build(
        "provider_a",
        lambda w, r: {"membershipId": r("membership_1")},
        state_codes=_s("ILLEGAL_TRANSITION"),  # P1 is already accepted here
    ),
    "acceptApplication": Build(
        "agent_a", lambda w, r: {"membershipId": r("membership_3"), "reason": "welcome"}
    ),
    "refuseApplication": Build(
        "agent_a", lambda w, r: {"membershipId": r("membership_3"), "reason": "no"}
    ),
    "inviteProviders": Build(
        "agent_a", lambda w, r: {"emails": ["another@example.com"]}, foreign=()
    ),
    "resendInvitation": Build("agent_a", lambda w, r: {"id": r("invitation")}),
    "revokeInvitation": Build("agent_a", lambda w, r: {"id": r("invitation")}),
    "acceptInvitation": Build(
        "provider_a",
        lambda w, r: {"token": w.values["invitation_token"]},
        foreign=(),
        state_codes=_s("ALREADY_MEMBER"),  # anyone holding the link may use it
    ),
    "inviteReferencedProviders": Build(
        "agent_a", lambda w, r: {"companyIds": [r("company_listed")]}, foreign=()
    ),
    "setProviderCommission": Build(
        "agent_a",
        lambda w, r: {
            "membershipId": r("membership_1"),
            "rate": "12.5",
            "effectiveFrom": date(2030, 1, 1).isoformat(),
        },
    ),
    "setRequiredDocumentTypes": Build(
        "admin_a", lambda w, r: {"documentTypeIds": [r("document_type")]}, foreign=()
    ),
    "uploadDocument": Build(
        "provider_a",
        lambda w, r: {
            "file": pdf_upload(),
            "documentTypeId": r("document_type"),
            "forMessage": False,
            "title": "Registration",
        },
        foreign=(),
    ),
    "approveDocument": Build("agent_a", lambda w, r: {"id": r("company_document")}),
    "rejectDocument": Build(
        "agent_a", lambda w, r: {"id": r("company_document"), "reason": "Unreadable."}
    ),
    "publishTermsOfUse": Build("admin_a", lambda w, r: {"text": "Version two."}, foreign=()),
    "acceptTermsOfUse": Build("provider_a", lambda w, r: {}, foreign=()),
    "addInternalDocument": Build(
        "admin_a", lambda w, r: {"title": "Guide", "file": pdf_upload()}, foreign=()
    ),
    "removeInternalDocument": Build("admin_a", lambda w, r: {"documentId": r("internal_document")}),
    "startConversation": Build(
        "agent_a",
        lambda w, r: {"kind": "STAFF_PROVIDER", "membershipId": r("membership_1"), "text": "hi"},
    ),
    "sendMessage": Build(
        "provider_a",
        lambda w, r: {"conversationId": r("conversation"), "text": "hello", "attachmentIds": []},
    ),
    "markConversationRead": Build("provider_a", lambda w, r: {"conversationId": r("conversation")}),
    "updateMessagingSettings": Build(
        "admin_a", lambda w, r: {"directMessagesAllowed": True}, foreign=()
    ),
    "setMarketingConsent": Build(
        "provider_a",
        lambda w, r: {
            "membershipId": r("membership_1"),
            "channel": "SMS",
            "granted": True,
            "wordingVersion": "v1",
            "source": "app",
        },
    ),
    "createService": Build(
        "agent_a",
        lambda w, r: {"name": "Ironing", "category": "Home", "description": "Shirts"},
        foreign=(),
    ),
    "updateService": Build(
        "agent_a", lambda w, r: {"serviceId": r("service_a"), "name": "Deep cleaning"}
    ),
    "archiveService": Build("agent_a", lambda w, r: {"serviceId": r("service_new")}),
    "applyForService": Build(
        "provider_a", lambda w, r: {"serviceId": r("service_new")}, foreign=("admin_b",)
    ),
    "acceptProviderService": Build(
        "agent_a", lambda w, r: {"providerServiceId": r("provider_service_2")}
    ),
    "rejectProviderService": Build(
        "agent_a", lambda w, r: {"providerServiceId": r("provider_service_2"), "reason": "no"}
    ),
    "deactivateProviderService": Build(
        "agent_a", lambda w, r: {"providerServiceId": r("provider_service_1"), "reason": "no"}
    ),
    "setActionZone": Build("provider_a", lambda w, r: _zone(postalCodes=["75012"]), foreign=()),
    "restrictProviderZone": Build(
        "agent_a", lambda w, r: _zone(membershipId=r("membership_1"), lift=False)
    ),
    "createServiceRequest": Build(
        "client_a",
        lambda w, r: {
            "serviceId": r("service_a"),
            "postalCode": "75011",
            "city": "Paris",
            "addressLine": "1 rue de la Roquette",
            "description": "Two rooms",
        },
        foreign=("admin_b",),
    ),
    "cancelServiceRequest": Build(
        "client_a", lambda w, r: {"requestId": r("request"), "reason": "changed my mind"}
    ),
    "assignServiceRequest": Build(
        "agent_a",
        lambda w, r: {"requestId": r("request"), "providerIds": [r("membership_2a")]},
    ),
    "respondToServiceRequest": Build(
        "provider_a",
        lambda w, r: {"requestId": r("request"), "answer": "INTERESTED", "message": "Happy to"},
    ),
    "acceptProposal": Build(
        "client_a",
        lambda w, r: {"requestId": r("request"), "providerId": r("membership_1")},
        state_codes=_s("NO_PROPOSAL"),
    ),
    "scheduleIntervention": Build(
        "agent_a",
        lambda w, r: {
            "requestId": r("request"),
            "startsAt": w.values["starts_at"],
            "endsAt": w.values["ends_at"],
            "price": w.values["price"],
            "occurrences": 1,
        },
        state_codes=_s("REQUEST_NOT_ACCEPTED"),
    ),
    "rescheduleIntervention": Build(
        "provider_a",
        lambda w, r: {
            "interventionId": r("intervention"),
            "startsAt": w.values["starts_at"],
            "endsAt": w.values["ends_at"],
        },
    ),
    "startIntervention": Build(
        "provider_a",
        lambda w, r: {"interventionId": r("intervention")},
        state_codes=_s("TOO_EARLY", "INVALID_TRANSITION"),
    ),
    "completeIntervention": Build(
        "provider_a",
        lambda w, r: {"interventionId": r("intervention")},
        state_codes=_s("INVALID_TRANSITION"),
    ),
    "cancelIntervention": Build(
        "client_a", lambda w, r: {"interventionId": r("intervention"), "reason": "away"}
    ),
    "createWebhookEndpoint": Build(
        "admin_a",
        lambda w, r: {"url": "https://hooks.example.com/presta", "events": ["service.updated"]},
        foreign=(),
    ),
    "updateWebhookEndpoint": Build(
        "admin_a", lambda w, r: {"id": r("webhook_endpoint"), "description": "CRM"}
    ),
    "rotateWebhookSecret": Build("admin_a", lambda w, r: {"id": r("webhook_endpoint")}),
    "disableWebhookEndpoint": Build("admin_a", lambda w, r: {"id": r("webhook_endpoint")}),
    "deleteWebhookEndpoint": Build("admin_a", lambda w, r: {"id": r("webhook_endpoint")}),
    "redeliverWebhook": Build("admin_a", lambda w, r: {"id": r("webhook_delivery")}),
    "recoverWebhookEvents": Build(
        "admin_a",
        lambda w, r: {
            "id": r("webhook_endpoint"),
            "since": (clock.now() - timedelta(days=1)).isoformat(),
        },
    ),
}

SUBSCRIPTION_ARGS: dict[str, dict[str, Any]] = {}

# The parties of each seeded object of marketplace A (who sees it with an OWN scope).
OWNERS: dict[str, set[str]] = {
    "membership_1": {"provider_a"},
    "membership_2a": {"provider_ab"},
    "membership_3": set(),
    "provider_service_1": {"provider_a"},
    "provider_service_2": {"provider_ab"},
    "request": {"provider_a", "client_a"},
    "dispatch": {"provider_a"},
    "intervention": {"provider_a", "client_a"},
    "company_document": {"provider_a"},
    "internal_document": {"provider_a", "provider_ab"},
    "conversation": {"provider_a"},
    "message": {"provider_a"},
    "consent": {"provider_a"},
    "user_provider_a": {"provider_a"},
    "client": {"client_a"},
    "marketplace_a": {"client_a", "provider_a", "provider_ab", "agent_a", "admin_a"},
    "marketplace_b": {"provider_ab", "admin_b"},
    "service_a": set(),
    "service_new": set(),
    "document_type": set(),
    "terms": set(),
    "invitation": set(),
    "api_key": set(),
    "webhook_endpoint": set(),
    "webhook_delivery": set(),
}
IN_MARKETPLACE_B = {"marketplace_b"}

# Root fields that show objects to whoever holds a secret, beyond what node() shows them.
BY_CAPABILITY = {
    "invitation": "the sign-up link shows its marketplace's terms and internal documents",
    "publicApplication": "the public application link shows its marketplace's terms and "
    "internal documents",
}


# --- running and comparing ------------------------------------------------------------------


async def snapshot() -> dict[str, tuple[int, str]]:
    """Row count and checksum of every table: a denied call must leave all of them as they were."""
    conn = connections.get("default")
    found: dict[str, tuple[int, str]] = {}
    for model in Tortoise.apps["models"].values():
        table = model._meta.db_table
        rows = await conn.execute_query_dict(f'SELECT * FROM "{table}" ORDER BY 1')
        digest = hashlib.sha256(repr(rows).encode()).hexdigest()
        found[table] = (len(rows), digest)
    return found


def refused(result: Result, root_field: str) -> bool:
    """A top-level refusal and nothing of the field's data."""
    no_data = result.data is None or result.data.get(root_field) is None
    return bool(result.errors) and set(result.codes) <= REFUSALS and no_data


def shape(result: Result, root_field: str) -> Any:
    """What a client can observe of a result, for comparing a foreign id with a missing one."""
    data = result.data[root_field] if result.data else None
    if isinstance(data, dict) and "userErrors" in data:
        others = {k: v for k, v in data.items() if k not in ("userErrors", "__typename")}
        data = {"userErrors": data["userErrors"], "empty": not any(others.values())}
    errors = [(e.get("message"), e.get("extensions", {}).get("code")) for e in result.errors]
    return {"data": data, "errors": errors}


def expected_refusal(name: str) -> str:
    return "UNAUTHENTICATED" if name == "anonymous" else "FORBIDDEN"


def allowed(w: World, name: str, root: str, field_name: str) -> bool:
    return policy.may_call(w.actors[name], root, field_name)


@dataclass
class Tally:
    cells: int = 0
    refusals: int = 0
    foreign: int = 0
    nodes: int = 0
    problems: list[str] = field(default_factory=list)


# --- the tests ------------------------------------------------------------------------------


async def test_every_root_field_and_node_type_has_a_policy_entry() -> None:
    schema = await introspected()
    for root, table in policy.ROOT.items():
        operation = getattr(schema, f"{root.lower()}_type")
        assert set(operation.fields) == set(table), f"{root}: schema and policy differ"
    nodes = {
        name
        for name, t in schema.type_map.items()
        if isinstance(t, GraphQLObjectType) and any(i.name == "Node" for i in t.interfaces)
    }
    assert nodes == set(policy.NODE)
    assert set(QUERY_ARGS) <= set(policy.QUERY)
    assert set(MUTATIONS) == set(policy.MUTATION), "every mutation needs an input builder"


async def test_every_query_refuses_principals_outside_the_policy_and_hides_foreign_objects() -> (
    None
):
    w = await seed()
    schema = await introspected()
    tally = Tally()
    before = await snapshot()
    for name in root_fields(schema, "Query"):
        make = QUERY_ARGS.get(name, _no_args)
        query = document(schema, "Query", name, make(w, real(w)))
        for principal in PRINCIPALS:
            tally.cells += 1
            result = await execute(query, make(w, real(w)), actor=w.actors[principal])
            if not allowed(w, principal, "Query", name):
                tally.refusals += 1
                if not refused(result, name) or result.codes != [expected_refusal(principal)]:
                    tally.problems.append(f"{name} as {principal}: not refused: {result}")
                continue
            if set(result.codes) & REFUSALS:
                tally.problems.append(
                    f"{name} as {principal}: allowed by policy, refused: {result}"
                )
            if name in QUERY_ARGS and principal in ("admin_b", "provider_ab"):
                tally.foreign += 1
                ghost = await execute(query, make(w, missing(w)), actor=w.actors[principal])
                if shape(result, name) != shape(ghost, name):
                    tally.problems.append(
                        f"{name} as {principal}: foreign {shape(result, name)} "
                        f"!= missing {shape(ghost, name)}"
                    )
    assert await snapshot() == before
    print(f"\nqueries: {tally.cells} cells, {tally.refusals} refusals, {tally.foreign} foreign")
    assert not tally.problems, "\n".join(tally.problems)


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
async def test_every_mutation_refuses_principals_outside_the_policy_without_changing_a_row(
    mutation: str,
) -> None:
    w = await seed()
    schema = await introspected()
    build = MUTATIONS[mutation]
    problems: list[str] = []

    async def run(principal: str, ref: Ref) -> Result:
        variables = {"input": build.make(w, ref)}
        query = document(schema, "Mutation", mutation, variables)
        return await execute(query, variables, actor=w.actors[principal])

    for principal in PRINCIPALS:
        before = await snapshot()
        if not allowed(w, principal, "Mutation", mutation):
            result = await run(principal, real(w))
            if not refused(result, mutation) or result.codes != [expected_refusal(principal)]:
                problems.append(f"{principal}: not refused: {result}")
            if await snapshot() != before:
                problems.append(f"{principal}: refused but a row changed")
        elif principal in build.foreign:
            result = await run(principal, real(w))
            ghost = await run(principal, missing(w))
            if shape(result, mutation) != shape(ghost, mutation):
                problems.append(
                    f"{principal}: foreign {shape(result, mutation)} "
                    f"!= missing {shape(ghost, mutation)}"
                )
            if await snapshot() != before:
                problems.append(f"{principal}: foreign ids changed a row")
    result = await run(build.owner, real(w))
    codes = {e["code"] for e in (result.data or {}).get(mutation, {}).get("userErrors", [])}
    if result.errors or not codes <= build.state_codes:
        problems.append(f"{build.owner} (owner): {result}")
    assert not problems, "\n".join(problems)


async def test_every_subscription_refuses_principals_outside_the_policy() -> None:
    from schema.context import Context
    from schema.root import schema as live_schema

    w = await seed()
    schema = await introspected()
    problems: list[str] = []
    for name, f in root_fields(schema, "Subscription").items():
        query = f"subscription {{ {name} {selection(f.type)} }}"
        for principal in PRINCIPALS:
            context = Context(
                request=None,  # type: ignore[arg-type]
                response=None,
                actor=w.actors[principal],
                request_id="t",
            )
            stream = await live_schema.subscribe(query, context_value=context)
            first: Any = None
            if hasattr(stream, "__anext__"):
                try:
                    # A refusal is the first result; an accepted subscription waits for events.
                    first = await asyncio.wait_for(stream.__anext__(), timeout=0.2)
                except TimeoutError:
                    first = None
                finally:
                    await stream.aclose()
            else:
                first = stream
            codes = {(e.extensions or {}).get("code") for e in getattr(first, "errors", None) or []}
            if allowed(w, principal, "Subscription", name):
                if codes & REFUSALS:
                    problems.append(f"{name} as {principal}: allowed by policy, got {codes}")
            elif codes != {expected_refusal(principal)}:
                problems.append(f"{name} as {principal}: not refused ({codes})")
    assert not problems, "\n".join(problems)


async def test_node_returns_each_object_only_to_the_principals_the_policy_lets_see_it() -> None:
    w = await seed()
    problems: list[str] = []
    query = "query($id: ID!) { node(id: $id) { __typename id } }"
    assert {w.ids[obj][0] for obj in OWNERS} == set(policy.NODE), "one object of every Node type"
    for obj, owners in OWNERS.items():
        type_name = w.ids[obj][0]
        home = w.pk("marketplace_b" if obj in IN_MARKETPLACE_B else "marketplace_a")
        for principal in PRINCIPALS:
            actor = w.actors[principal]
            scopes = policy.node_scopes(actor, type_name)
            expected = (
                Scope.ALL in scopes
                or (Scope.MARKETPLACE in scopes and actor.marketplace_id == home)
                or (Scope.OWN in scopes and principal in owners)
            )
            result = await execute(query, {"id": w.gid(obj)}, actor=actor)
            seen = bool(result.data and result.data["node"])
            if result.errors:
                problems.append(f"{obj} as {principal}: errors {result.errors}")
            elif seen != expected:
                problems.append(
                    f"{obj} ({type_name}) as {principal}: seen={seen}, policy={expected}"
                )
    assert not problems, "\n".join(problems)


def _nodes_in(data: Any, node_types: set[str]) -> set[str]:
    """Global ids of every Node object anywhere in a result."""
    found: set[str] = set()
    if isinstance(data, dict):
        if data.get("__typename") in node_types and isinstance(data.get("id"), str):
            found.add(data["id"])
        for value in data.values():
            found |= _nodes_in(value, node_types)
    elif isinstance(data, list):
        for value in data:
            found |= _nodes_in(value, node_types)
    return found


async def test_every_object_a_query_returns_is_one_node_returns_to_the_same_principal() -> None:
    """Lists and nested fields leak nothing ``node(id:)`` would hide from the same caller."""
    w = await seed()
    schema = await introspected()
    node_types = set(policy.NODE)
    problems: list[str] = []
    checked = 0
    for name in root_fields(schema, "Query"):
        if name in ("node", "nodes") or name in BY_CAPABILITY:
            continue
        make = QUERY_ARGS.get(name, _no_args)
        query = document(schema, "Query", name, make(w, real(w)))
        for principal in PRINCIPALS:
            actor = w.actors[principal]
            result = await execute(query, make(w, real(w)), actor=actor)
            ids = sorted(_nodes_in(result.data, node_types))
            if not ids:
                continue
            checked += len(ids)
            again = await execute(
                "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids}, actor=actor
            )
            hidden = [i for i, n in zip(ids, again.data["nodes"], strict=True) if n is None]
            if hidden:
                problems.append(f"{name} as {principal}: node() hides {hidden}")
    print(f"\nobjects returned by queries and checked with node(): {checked}")
    assert checked > 0
    assert not problems, "\n".join(problems)
