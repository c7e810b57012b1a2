"""The rules of who sees requests, dispatches and visits are written once
(``resolvers.dispatch.core``, ``resolvers.intervention_listing``) and read several ways: the
tortoise filter the use cases and loaders apply (``rules.where``), the SQL of the compiled
path (the value ``rules.predicate``, and ``rules.condition`` folded for the actor's kind) and,
where no other table is read, Python over a loaded row (``rules.holds``). For every actor of
a two-marketplace world they give the same rows, and those rows are the ones each actor
should see."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from graphql import OperationDefinitionNode, parse
from tortoise import connections
from tortoise.models import Model

from models.account import Client, User
from models.dispatch import Dispatch, ServiceRequest
from models.intervention import Intervention
from models.marketplace import Marketplace
from models.membership import Membership
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.compiled import rules
from resolvers.compiled.builder import Builder
from resolvers.dispatch.core import (
    OWN_DISPATCH,
    SEES_DISPATCH,
    SEES_REQUEST,
    SEES_WHOLE_REQUEST,
    SHOWS_CLIENT,
    SHOWS_DISPATCH,
    dispatches_seen_by,
    visible_dispatches,
    visible_requests,
)
from resolvers.intervention import SEES_INTERVENTION, visible_interventions
from schema.root import schema
from tests.factories.account import actor_of
from tests.support.reads_world import seed

RULES: list[tuple[str, type[Model], rules.Rule]] = [
    ("SEES_REQUEST", ServiceRequest, SEES_REQUEST),
    ("SEES_WHOLE_REQUEST", ServiceRequest, SEES_WHOLE_REQUEST),
    ("SHOWS_CLIENT", ServiceRequest, SHOWS_CLIENT),
    ("OWN_DISPATCH", Dispatch, OWN_DISPATCH),
    ("SHOWS_DISPATCH", Dispatch, SHOWS_DISPATCH),
    ("SEES_DISPATCH", Dispatch, SEES_DISPATCH),
    ("SEES_INTERVENTION", Intervention, SEES_INTERVENTION),
]


async def _actors() -> dict[str, Actor]:
    """Every principal of the world (anonymous, client, providers, each staff role, API keys
    of each scope, the platform admin, staff of the other marketplace), the client and the
    provider of the other marketplace, a provider user acting in no marketplace, and one
    person who is both a client and a provider."""
    world = await seed()
    actors = dict(world.base.actors)
    beta = await Marketplace.get(slug="beta")
    client_b = await Client.get(id=world.base.pk("client_b")).prefetch_related("user")
    assert client_b.user is not None
    actors["client_b"] = await actor_of(client_b.user, beta)
    membership_b = await Membership.get(id=world.base.pk("membership_b"))
    provider_b = await User.get(provider_company_id=membership_b.company_id)
    actors["provider_b"] = await actor_of(provider_b, beta)
    actors["provider_a_nowhere"] = replace(actors["provider_a"], marketplace_id=None)
    client = actors["client_a"]
    actors["client_and_provider_a"] = replace(
        actors["provider_a"], client_id=client.client_id, user_id=client.user_id
    )
    return actors


async def _by_sql(
    model: type[Model], rule: rules.Rule, actor: Actor, *, folded: bool = False
) -> set[int]:
    """The rows ``SELECT … WHERE`` gives: the rule's value (``predicate``), or the condition
    folded for the actor's kind (``condition``: what the compiled lists and nodes use)."""
    document = parse("{ __typename }")
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    kind = compiled.kind_of(actor) if folded else None
    b = Builder(schema._schema, document, operation, kind, {})  # type: ignore[arg-type]
    reading = rules.condition if folded else rules.predicate
    where = reading(rule, b, "row")
    sql = f"SELECT row.id FROM {model._meta.db_table} row WHERE {where}"
    values = [getter(compiled.Inputs(actor, {})) for getter in b.params]
    _, found = await connections.get("default").execute_query(sql, values)
    return {int(r["id"]) for r in found}


def _reads_other_tables(rule: rules.Rule) -> bool:
    if isinstance(rule, rules.Within):
        return True
    if isinstance(rule, rules.AnyOf | rules.AllOf):
        return any(_reads_other_tables(r) for r in rule.rules)
    return False


async def test_each_rule_gives_the_same_rows_as_a_filter_as_sql_and_in_python_for_everyone():
    actors = await _actors()
    checked = 0
    for name, model, rule in RULES:
        rows: list[Any] = await model.all()
        assert rows, name
        for who, actor in actors.items():
            by_where = {r.pk for r in await rules.where(model.all(), rule, actor)}
            by_sql = await _by_sql(model, rule, actor)
            assert by_where == by_sql, (name, who)
            assert await _by_sql(model, rule, actor, folded=True) == by_where, (name, who)
            if not _reads_other_tables(rule):
                by_holds = {r.id for r in rows if rules.holds(rule, actor, r)}
                assert by_holds == by_where, (name, who)
            checked += 1
    assert checked == len(RULES) * len(actors)


async def test_each_actor_sees_the_requests_dispatches_and_visits_it_should():
    actors = await _actors()
    requests = await ServiceRequest.all()
    dispatches = await Dispatch.all().prefetch_related("request")
    visits = await Intervention.all()
    markets = {m.slug: m.id for m in await Marketplace.all()}

    async def seen(actor: Actor) -> tuple[set[int], set[int], set[int]]:
        ids = [r.id for r in requests]
        found = {r.id for r in await visible_requests(actor, ids)}
        sent = {d.id for d in await visible_dispatches(actor, [d.id for d in dispatches])}
        visited = {v.id for v in await visible_interventions(actor, [v.id for v in visits])}
        return found, sent, visited

    for who in ("admin_a", "agent_a", "partner_read_a", "partner_rw_a", "admin_b"):
        actor = actors[who]
        market = actor.marketplace_id
        assert market is not None
        assert await seen(actor) == (
            {r.id for r in requests if r.marketplace_id == market},
            {d.id for d in dispatches if d.request.marketplace_id == market},
            {v.id for v in visits if v.marketplace_id == market},
        ), who
    for who in ("provider_a", "provider_ab", "provider_b"):
        actor = actors[who]
        mine = actor.membership_id
        market = actor.marketplace_id
        own = [d for d in dispatches if d.membership_id == mine]
        assert await seen(actor) == (
            {d.request_id for d in own if d.request.marketplace_id == market},
            {d.id for d in own if d.request.marketplace_id == market},
            {v.id for v in visits if v.membership_id == mine and v.marketplace_id == market},
        ), who
    for who in ("client_a", "client_b"):
        actor = actors[who]
        assert await seen(actor) == (
            {r.id for r in requests if r.client_id == actor.client_id},
            set(),
            {v.id for v in visits if v.client_id == actor.client_id},
        ), who
    for who in ("anonymous", "platform_admin", "provider_a_nowhere"):
        assert await seen(actors[who]) == (set(), set(), set()), who
    both = actors["client_and_provider_a"]
    found, _, _ = await seen(both)
    asked = {d.request_id for d in dispatches if d.membership_id == both.membership_id}
    assert found == asked | {r.id for r in requests if r.client_id == both.client_id}
    # Each kind of reader meets something in this world.
    alpha = markets["alpha"]
    assert any(r.marketplace_id != alpha for r in requests)
    assert (await seen(actors["provider_a"]))[0]
    assert (await seen(actors["client_a"]))[2]


async def test_a_client_is_shown_no_dispatch_and_staff_every_one():
    actors = await _actors()
    client = actors["client_a"]
    assert dispatches_seen_by(client, Dispatch.all()) is None
    assert await visible_dispatches(client, [d.id for d in await Dispatch.all()]) == []
    staff = actors["admin_a"]
    everything = dispatches_seen_by(staff, Dispatch.all())
    assert everything is not None
    assert len(await everything) == await Dispatch.all().count()
