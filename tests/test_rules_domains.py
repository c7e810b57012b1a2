"""Each rule of who sees what in conversations, documents, the catalogue, consent, clients and
files reads the same three ways (``resolvers.compiled.rules``): the tortoise filter the use
cases and loaders apply (``where``), the SQL of the compiled path (``predicate``, a value,
and ``condition``, the same in a ``WHERE`` without its ``COALESCE``s)
and, where the row alone decides, the Python reading over a loaded row (``holds``).

The rows: the differential world (two marketplaces, files in every status, conversations,
messages, consent, services and applications) grown with a document of every kind, a deleted
one, an attachment in a conversation and a company document of the other marketplace. The
actors: every principal of that world (anonymous, a client, provider users, each staff role,
partner keys of each scope, staff of the other marketplace, the platform admin) and the
provider and client of the other marketplace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from graphql import OperationDefinitionNode, parse
from tortoise import connections
from tortoise.models import Model

from models.account import Client
from models.catalog import ProviderService, Service
from models.consent import ConsentRecord
from models.document import Document, DocumentKind
from models.membership import Membership
from models.messaging import Conversation, Message, MessageAttachment
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.catalog import SEES_PROVIDER_SERVICE, SEES_SERVICE
from resolvers.client.reads import SEES_CLIENT
from resolvers.compiled.builder import Builder
from resolvers.compiled.rules import Rule, Via, Within, condition, holds, predicate, where
from resolvers.consent import READS_CONSENT, SEES_CONSENT_RECORD, WRITES_CONSENT
from resolvers.document import sees_document
from resolvers.membership import CAN_SEE, SEES_FILE
from resolvers.messaging.core import SEES_CONVERSATION, SEES_MESSAGE
from schema.root import schema
from tests.support.reads_world import ReadsWorld
from tests.support.rules_world import grown_world


@dataclass(frozen=True)
class Case:
    name: str
    model: type[Model]
    rule: Rule


def _cases() -> list[Case]:
    return [
        Case("membership CAN_SEE", Membership, CAN_SEE),
        Case("membership SEES_FILE", Membership, SEES_FILE),
        Case("consent READS_CONSENT", Membership, READS_CONSENT),
        Case("consent WRITES_CONSENT", Membership, WRITES_CONSENT),
        Case("consent SEES_CONSENT_RECORD", ConsentRecord, SEES_CONSENT_RECORD),
        Case("client SEES_CLIENT", Client, SEES_CLIENT),
        Case("catalog SEES_SERVICE", Service, SEES_SERVICE),
        Case("catalog SEES_PROVIDER_SERVICE", ProviderService, SEES_PROVIDER_SERVICE),
        Case("messaging SEES_CONVERSATION", Conversation, SEES_CONVERSATION),
        Case("messaging SEES_MESSAGE", Message, SEES_MESSAGE),
        # Registered by messaging: the attachments of a conversation the actor reads.
        Case("document sees_document()", Document, sees_document()),
    ]


def _reads_the_database(rule: Rule) -> bool:
    if isinstance(rule, Within | Via):
        return True
    inner = getattr(rule, "rules", ())
    return any(_reads_the_database(r) for r in inner)


async def _ids_by_sql(case: Case, actor: Actor, reading: Callable[..., str]) -> set[int]:
    document = parse("{ __typename }")
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    b = Builder(schema._schema, document, operation, compiled.kind_of(actor), {})
    table = case.model._meta.db_table
    sql = f"SELECT r.id FROM {table} r WHERE {reading(case.rule, b, 'r')}"
    values = [getter(compiled.Inputs(actor, {})) for getter in b.params]
    _, rows = await connections.get("default").execute_query(sql, values)
    return {int(row["id"]) for row in rows}


@pytest.fixture
async def grown() -> tuple[ReadsWorld, dict[str, Actor]]:
    return await grown_world()


async def test_each_rule_of_these_domains_reads_the_same_in_the_loaders_in_sql_and_in_python(
    grown: tuple[ReadsWorld, dict[str, Actor]],
) -> None:
    _, actors = grown
    problems: list[str] = []
    seen_some = 0
    for case in _cases():
        every = await case.model.all()
        assert every, f"no {case.model.__name__} row to read {case.name} over"
        for name, actor in actors.items():
            by_filter = {int(r.pk) for r in await where(case.model.all(), case.rule, actor)}
            for reading in (predicate, condition):
                by_sql = await _ids_by_sql(case, actor, reading)
                if by_filter != by_sql:
                    problems.append(
                        f"{case.name} for {name}: where {by_filter} != {reading.__name__} {by_sql}"
                    )
            if not _reads_the_database(case.rule):
                by_python = {int(r.pk) for r in every if holds(case.rule, actor, r)}
                if by_python != by_filter:
                    problems.append(
                        f"{case.name} for {name}: holds {by_python} != where {by_filter}"
                    )
            seen_some += bool(by_filter)
    assert not problems, "\n".join(problems)
    # Not a vacuous agreement: many (rule, actor) pairs see rows.
    assert seen_some >= 40


async def test_the_rules_keep_each_marketplace_to_itself_and_hide_the_deleted(
    grown: tuple[ReadsWorld, dict[str, Actor]],
) -> None:
    world, actors = grown
    admin_b, admin_a = actors["admin_b"], actors["admin_a"]
    for case in _cases():
        for row in await where(case.model.all(), case.rule, admin_b):
            assert await _belongs_to(row, admin_b.marketplace_id), (case.name, row.pk)
    documents = {d.id for d in await where(Document.all(), sees_document(), admin_a)}
    deleted = {d.id for d in await Document.filter(deleted_at__isnull=False)}
    assert deleted
    assert not documents & deleted
    for name in ("anonymous", "platform_admin", "provider_nowhere"):
        for case in _cases():
            found = await where(case.model.all(), case.rule, actors[name])
            # A company's users read its documents from anywhere: no marketplace is theirs.
            company = actors[name].company_id
            assert all(
                isinstance(row, Document) and row.company_id == company is not None for row in found
            ), (case.name, name)
    assert world.base.pk("membership_1")


async def test_an_attachment_opens_to_whoever_reads_its_conversation_and_to_no_one_else(
    grown: tuple[ReadsWorld, dict[str, Actor]],
) -> None:
    world, actors = grown
    attached = {a.document_id for a in await MessageAttachment.all()}
    assert attached
    rule = sees_document()
    readers = 0
    for name, actor in actors.items():
        holding = Conversation.filter(id=world.base.pk("conversation"))
        reads = await where(holding, SEES_CONVERSATION, actor).exists()
        opened = {d.id for d in await where(Document.filter(id__in=attached), rule, actor)}
        own = {d.id for d in await Document.filter(id__in=attached, uploaded_by_id=actor.user_id)}
        if reads:
            readers += 1
            assert opened == attached, name
        else:  # an uploader still opens its own attachment
            assert opened <= own, name
    assert readers >= 4


async def _belongs_to(row: Model, marketplace_id: int | None) -> bool:
    """Whether the row is of that marketplace (a company document: the company has a file
    there)."""
    if isinstance(row, Message):
        return (await Conversation.get(id=row.conversation_id)).marketplace_id == marketplace_id
    if isinstance(row, ProviderService):
        return (await Service.get(id=row.service_id)).marketplace_id == marketplace_id
    if isinstance(row, ConsentRecord):
        return (await Membership.get(id=row.membership_id)).marketplace_id == marketplace_id
    if isinstance(row, Document) and row.kind is DocumentKind.COMPANY:
        return await Membership.filter(
            company_id=row.company_id, marketplace_id=marketplace_id
        ).exists()
    return bool(getattr(row, "marketplace_id", None) == marketplace_id)
