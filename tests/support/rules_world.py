"""The world of tests/test_rules_domains.py and tests/test_compiled_domains.py: the rows and
actors every rule of conversations, documents, the catalogue, consent, clients and files is
read over."""

from __future__ import annotations

from models.account import Client, User
from models.document import Document, DocumentKind
from models.membership import Membership, ProviderCompany
from models.messaging import Message, MessageAttachment
from presta import clock
from resolvers.actor import Actor
from tests.factories.account import actor_of
from tests.factories.document import make_company_document
from tests.factories.messaging import make_attachment
from tests.support.reads_world import ReadsWorld, seed


async def grown_world() -> tuple[ReadsWorld, dict[str, Actor]]:
    """The differential world, grown with a document of every kind, a deleted one, two
    attachments in a conversation and company documents in both marketplaces, and with the
    provider and client of the other marketplace and a provider acting in none."""
    world = await seed()
    base = world.base
    actors = dict(base.actors)
    m1 = await Membership.get(id=base.pk("membership_1")).prefetch_related("company")
    ma, mb = (
        m1.marketplace_id,
        (await Membership.get(id=base.ids["membership_b"][1])).marketplace_id,
    )
    provider = base.users["provider_a"]
    for kind in (DocumentKind.CONTRACT, DocumentKind.INVOICE, DocumentKind.TERMS):
        await Document.create(
            kind=kind,
            marketplace_id=ma,
            membership_id=m1.id,
            filename=f"{kind.value.lower()}.pdf",
            content_type="application/pdf",
            size=10,
            sha256="0" * 64,
            storage_key=f"rules-{kind.value}",
            uploaded_by=base.users["admin_a"],
        )
    kept = await make_attachment(base.users["client_a"], await m1.marketplace)
    gone = await make_attachment(provider, await m1.marketplace)
    await Document.filter(id=gone.id).update(deleted_at=clock.now())
    # Attached in the staff-provider conversation: its readers open it, its uploader too.
    attached = await make_attachment(base.users["admin_a"], await m1.marketplace)
    message = await Message.get(id=base.pk("message"))
    await MessageAttachment.create(message=message, document=attached)
    await MessageAttachment.create(message=message, document=kept)
    company_b = (await Membership.get(id=base.ids["membership_b"][1])).company_id
    await make_company_document(await ProviderCompany.get(id=company_b), "RC_PRO")
    await make_company_document(m1.company, "URSSAF")
    # The provider and the client of marketplace B, and a provider acting in no marketplace.
    client_b = await Client.get(id=base.ids["client_b"][1]).prefetch_related("user")
    if client_b.user is not None:
        actors["client_b"] = await actor_of(client_b.user, await client_b.marketplace)
    file_b = await Membership.get(id=base.ids["membership_b"][1])
    user_b = await User.filter(provider_company_id=file_b.company_id).first()
    assert user_b is not None
    actors["provider_b"] = await actor_of(user_b, await file_b.marketplace)
    actors["provider_nowhere"] = Actor(user_id=provider.id, company_id=m1.company_id)
    assert {ma, mb} == {actors["admin_a"].marketplace_id, actors["admin_b"].marketplace_id}
    return world, actors
