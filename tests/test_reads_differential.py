"""Reads give the same answers whichever executor runs them (issue 16, item 4).

Every read document of the test suite and the benchmarks (found mechanically:
``tests.support.read_documents``) and documents generated from the schema's Query type
(``tests.support.read_strategy``) are sent over HTTP as every kind of principal of a rich
two-marketplace world (``tests.support.reads_world``), once on the default path (compiled
when the operation compiles) and once with ``X-Presta-Executor: standard``; the answers must
be equal (``tests.support.differential``). Each answer must also fit the document and the
schema's nullability, and hold nothing of the other marketplace (``tests.support.read_checks``).

Budgets: ``PRESTA_READS_EXAMPLES`` generated documents (``make test``: a few hundred;
``make fuzz``: thousands).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from graphql import GraphQLSchema, parse, validate

from presta import clock
from resolvers import policy
from schema.root import schema as strawberry_schema
from tests.support.differential import Mismatch, Sent, both_executors
from tests.support.graphql import http_client
from tests.support.read_checks import leaks, shape_problems
from tests.support.read_documents import Pools, read_documents, variable_sets
from tests.support.read_strategy import Generated
from tests.support.read_strategy import read_documents as generated_documents
from tests.support.reads_world import ACTORS, ReadsWorld, seed

EXAMPLES = int(os.environ.get("PRESTA_READS_EXAMPLES", "150"))
SCHEMA: GraphQLSchema = strawberry_schema._schema

CURSORS = """{
  serviceRequests(first: 2) { pageInfo { endCursor } }
  providers(first: 2) { pageInfo { endCursor } }
  conversations(first: 1) { pageInfo { endCursor } }
  interventions(first: 1) { pageInfo { endCursor } }
}"""


@dataclass
class Harness:
    world: ReadsWorld
    client: httpx.AsyncClient
    pools: Pools
    # What the answers were: "data", or the codes of their errors.
    outcomes: Counter[str] = field(default_factory=Counter)

    async def check(self, sent: Sent, *, source: str | None) -> list[str]:
        """The problems of one operation: a disagreement, a malformed answer, a leak."""
        headers = self.world.headers[sent.actor]
        try:
            answer = await both_executors(self.client, sent, headers, source=source)
        except Mismatch as mismatch:
            return [str(mismatch)]
        errors = answer.body.get("errors") or []
        codes = {(e.get("extensions") or {}).get("code", "?") for e in errors}
        self.outcomes[" ".join(sorted(codes)) or "data"] += 1
        document = parse(sent.document)
        problems = shape_problems(
            SCHEMA, document, sent.operation_name, sent.variables, answer.body
        )
        found = leaks(self.world, sent.actor, answer.body, document)
        problems += [f"leaked: {gid}" for gid in found]
        if problems:
            return ["\n".join([*problems[:10], sent.describe(), f"answer: {answer.body}"])]
        return []


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    world = await seed()
    # Answers that show the time or sign with it (exports, download links) are asked twice.
    clock.freeze()
    async with http_client() as client:
        answer = await client.post(
            "/graphql", json={"query": CURSORS}, headers=world.headers["admin_a"]
        )
        data = answer.json()["data"]
        cursors = [v["pageInfo"]["endCursor"] for v in data.values() if v["pageInfo"]["endCursor"]]
        alpha, beta = world.own_ids["alpha"], world.own_ids["beta"]
        pools = Pools(
            ids_by_type={
                t: [i for i in ids if i not in beta] for t, ids in world.ids_by_type.items()
            },
            foreign_by_type={
                t: [i for i in ids if i in beta] for t, ids in world.ids_by_type.items()
            },
            cursors=cursors,
            dates=world.dates,
            invitation_token=world.base.values["invitation_token"],
        )
        assert alpha
        assert beta
        assert cursors
        yield Harness(world, client, pools)


def test_the_read_documents_of_the_suite_and_the_benchmarks_are_found() -> None:
    documents = read_documents(SCHEMA)
    names = {d.operation_name for d in documents}
    origins = {d.origin.split(":")[0] for d in documents}
    assert {"ProviderDashboard", "ProvidersScreen"} <= names, names
    assert "bench/queries.py" in origins
    assert "tests/test_tabs.py" in origins
    assert len(documents) >= 60


async def test_every_read_document_of_the_suite_answers_alike_on_both_executors_for_everyone(
    harness: Harness,
) -> None:
    started = time.perf_counter()
    problems: list[str] = []
    runs = 0
    for document in read_documents(SCHEMA):
        for variables in variable_sets(SCHEMA, document, harness.pools):
            for actor in ACTORS:
                sent = Sent(
                    document.text, variables, actor, document.operation_name, document.origin
                )
                problems += await harness.check(sent, source="fixed")
                runs += 1
    print(f"\n{runs} fixed runs in {time.perf_counter() - started:.1f} s: {harness.outcomes}")
    assert not problems, f"{len(problems)} problem(s); the first ones:\n\n" + "\n\n".join(
        problems[:5]
    )


async def test_generated_read_documents_answer_alike_on_both_executors_for_everyone(
    harness: Harness,
) -> None:
    from hypothesis import HealthCheck, Phase, given, settings

    loop = asyncio.get_running_loop()
    actors = harness.world.base.actors
    allowed = {
        name: tuple(a for a in ACTORS if policy.may_call(actors[a], "Query", name))
        for name in policy.QUERY
    }
    strategy = generated_documents(SCHEMA, harness.pools, allowed)
    features: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    invalid: list[str] = []
    problems: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(generated=strategy)
    def run(generated: Generated) -> None:
        errors = validate(SCHEMA, parse(generated.document))
        if errors:
            invalid.append(f"{errors[0].message}\n{generated.document}")
            return
        features.update(generated.features)
        sent = Sent(generated.document, generated.variables, generated.actor, origin="generated")
        found = asyncio.run_coroutine_threadsafe(
            harness.check(sent, source="generated"), loop
        ).result()
        problems.extend(found)
        outcomes["problem" if found else "same answer"] += 1

    started = time.perf_counter()
    await asyncio.to_thread(run)
    runs = sum(outcomes.values())
    print(
        f"\n{runs} generated documents in {time.perf_counter() - started:.1f} s, "
        f"{len(invalid)} invalid; features: {dict(sorted(features.items()))}; "
        f"answers: {harness.outcomes}"
    )
    assert not problems, f"{len(problems)} problem(s); the first ones:\n\n" + "\n\n".join(
        problems[:5]
    )
    # The strategy makes valid documents: a few invalid ones are a bug of the strategy.
    assert len(invalid) <= runs // 20, "\n\n".join(invalid[:5])
    assert runs >= EXAMPLES * 9 // 10


async def test_a_disagreement_is_reported_with_the_document_variables_principal_and_a_diff(
    harness: Harness,
) -> None:
    # Two answers that really differ: the export says when it was made, to the microsecond.
    clock.reset()
    sent = Sent("{ exportMyData }", {}, "provider_a", origin="here")
    with pytest.raises(Mismatch) as raised:
        await both_executors(harness.client, sent, harness.world.headers["provider_a"], source=None)
    report = str(raised.value)
    assert "actor: provider_a  (from here)" in report
    assert "variables: {}" in report
    assert "{ exportMyData }" in report
    assert '-    "generated_at": "' in report
    assert '+    "generated_at": "' in report


async def test_the_checks_catch_a_null_where_the_schema_forbids_it_a_missing_key_and_a_leak(
    harness: Harness,
) -> None:
    document = "query($id: ID!) { node(id: $id) { __typename id ... on Membership { status } } }"
    variables = {"id": harness.world.base.gid("membership_1")}
    sent = Sent(document, variables, "admin_a")
    assert await harness.check(sent, source=None) == []
    answer = await both_executors(
        harness.client, sent, harness.world.headers["admin_a"], source=None
    )
    node = answer.body["data"]["node"]
    assert node["status"] == "ACCEPTED"

    def problems(node: dict[str, Any]) -> list[str]:
        body = {"data": {"node": node}}
        return shape_problems(SCHEMA, parse(document), None, variables, body)

    assert problems({**node, "status": None}) == [
        "data.node.status: null where the schema says MembershipStatus!"
    ]
    assert problems({k: v for k, v in node.items() if k != "id"}) == [
        "data.node: keys missing ['id'], not selected []"
    ]
    assert problems({**node, "status": "NOT_A_STATUS"}) == [
        "data.node.status: 'NOT_A_STATUS' is not a value of MembershipStatus"
    ]
    foreign = harness.world.base.gid("request_b")
    assert leaks(harness.world, "admin_a", {"data": {"node": {**node, "id": foreign}}}) == [foreign]
    assert leaks(harness.world, "admin_b", answer.body) == [node["id"]]
    # A provider of both marketplaces knows the other one: its own role there.
    roles = {
        "data": {"viewer": {"roles": [{"marketplaceId": harness.world.base.gid("marketplace_b")}]}}
    }
    assert leaks(harness.world, "provider_ab", roles) == []
    assert leaks(harness.world, "provider_a", roles) == [harness.world.base.gid("marketplace_b")]
    # A sign-up link shows its marketplace's terms to whoever holds it.
    terms = harness.world.base.gid("terms")
    shown = {"data": {"link": {"termsOfUse": {"id": terms}}}}
    by_link = parse("query($t: String!) { link: invitation(token: $t) { termsOfUse { id } } }")
    assert leaks(harness.world, "admin_b", shown, by_link) == []
    assert leaks(harness.world, "admin_b", shown) == [terms]
