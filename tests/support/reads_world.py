"""The world of the differential read tests (tests/test_reads_differential.py): the seeded
world of the authorization matrix (``tests.support.authz_world``: two marketplaces, every
principal, one object of every Node type) grown with what reads meet in real use:

- providers in every status (INVITED, REFUSED and DELETED added), services in every status;
- requests in several states reached through the use cases (a proposal sent and accepted and
  its visit scheduled, a declined one, a cancelled one, an unmatched one with its optional
  fields left null), answers with messages and prices;
- conversations with messages, in marketplace B too (every object of B is a foreign object
  for A's principals, and the other way round);
- values on the edges: decimals with trailing zeros, datetimes whose microseconds are 0,
  unicode (accents, emoji, non-Latin scripts), empty and null optional fields.

It also holds what a client of the HTTP API needs per principal: its headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from models.account import StaffRole
from models.catalog import ProviderServiceStatus
from models.dispatch import Dispatch, DispatchStatus, RequestStatus, ServiceRequest
from models.intervention import Intervention
from models.marketplace import Marketplace
from models.membership import Membership, MembershipStatus
from models.messaging import Conversation, Message, ParticipantRole
from presta import clock
from presta.security import make_access_token
from resolvers.dispatch.proposal import Answer, accept_proposal, respond_to_service_request
from resolvers.dispatch.request import NewRequest, cancel_service_request, create_service_request
from resolvers.intervention import schedule_intervention
from resolvers.messaging.core import send_message
from schema.base import encode_id
from tests.factories.account import make_client, make_staff, make_user
from tests.factories.catalog import give_zone, make_service, offer
from tests.factories.membership import make_company, make_membership, make_provider_user
from tests.factories.messaging import make_conversation, make_intervention
from tests.support import authz_world

# Every kind of caller: anonymous, a client, provider users (one in A only, one in A and B),
# each staff role, staff of the other marketplace, API keys of each scope, the platform admin.
ACTORS = authz_world.PRINCIPALS

# Text only marketplace B holds: seen by a principal of A, it is a leak.
SECRET_OF_B = "βeta-only ☂"


@dataclass
class ReadsWorld:
    base: authz_world.World
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    # Global IDs of objects that belong to one marketplace only, by its slug.
    own_ids: dict[str, set[str]] = field(default_factory=dict)
    # Global IDs by GraphQL type name (marketplace A's first, then B's).
    ids_by_type: dict[str, list[str]] = field(default_factory=dict)
    dates: list[str] = field(default_factory=list)
    # What a principal of one marketplace may know of the other: provider P2 belongs to both.
    known_elsewhere: dict[str, set[str]] = field(default_factory=dict)


def acting_marketplace(actor: str) -> str | None:
    """The slug of the marketplace the principal acts in (None: anonymous, platform admin)."""
    return {"anonymous": None, "platform_admin": None, "admin_b": "beta"}.get(actor, "alpha")


def _gid(type_name: str, pk: int) -> str:
    return str(encode_id(type_name, pk))


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


async def seed() -> ReadsWorld:
    base = await authz_world.seed()
    ma = await Marketplace.get(slug="alpha")
    mb = await Marketplace.get(slug="beta")
    actors = base.actors
    extra: dict[str, tuple[str, int]] = {}

    # One interested answer is enough for a proposal, so that the flow reaches its end.
    await Marketplace.filter(id=ma.id).update(proposals_required=1)
    for status in (MembershipStatus.INVITED, MembershipStatus.REFUSED, MembershipStatus.DELETED):
        m = await make_membership(ma, status, await make_company(name=f"Société {status.value}"))
        extra[f"membership_{status.value.lower()}"] = ("Membership", m.id)
    m1 = await Membership.get(id=base.pk("membership_1"))
    service_a = base.pk("service_a")
    rejected = await make_service(ma, name="Vitrerie — façades")
    await offer(m1, rejected, ProviderServiceStatus.REJECTED)
    await make_staff(ma, StaffRole.AGENT)

    client = actors["client_a"]
    admin = actors["admin_a"]
    provider = actors["provider_a"]

    async def request(
        description: str, postal_code: str = "75011", city: str = "Paris", **kw: Any
    ) -> int:
        created = await create_service_request(
            client,
            NewRequest(
                service_id=service_a,
                postal_code=postal_code,
                city=city,
                description=description,
                **kw,
            ),
        )
        return int(created.id)

    accepted = await request(
        "Grand ménage de printemps — 3 pièces, 2ᵉ étage 🧹",
        address_line="12 rue de l'Église",
        latitude=48.8566,
        longitude=2.3522,
        wished_start=_whole_second(clock.now() + timedelta(days=3)),
        duration_minutes=120,
    )
    await respond_to_service_request(
        provider,
        request_id=accepted,
        answer=Answer(DispatchStatus.INTERESTED, "Très intéressé ✓", Decimal("120.50")),
    )
    await accept_proposal(client, request_id=accepted, membership_id=m1.id)
    start = _whole_second(clock.now() + timedelta(days=4))
    [visit] = await schedule_intervention(
        admin,
        request_id=accepted,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        price=Decimal("99.90"),
    )
    declined = await request("Repassage", city="Saint-Étienne-du-Rouvray")
    await respond_to_service_request(
        provider, request_id=declined, answer=Answer(DispatchStatus.DECLINED)
    )
    cancelled = await request("")
    await cancel_service_request(client, request_id=cancelled, reason="Plus besoin — merci ☺")
    unmatched = await request("Jardin 花", postal_code="13001", city="Marseille")
    extra |= {
        "request_accepted": ("ServiceRequest", accepted),
        "request_declined": ("ServiceRequest", declined),
        "request_cancelled": ("ServiceRequest", cancelled),
        "request_unmatched": ("ServiceRequest", unmatched),
        "intervention_scheduled": ("Intervention", visit.id),
    }
    conversation = await Conversation.get(id=base.pk("conversation"))
    await send_message(provider, conversation_id=conversation.id, text="Ça marche 👍 — à lundi")
    await send_message(admin, conversation_id=conversation.id, text="Merci !\nÀ bientôt.")
    # A message whose time has no microseconds.
    last = await Message.filter(conversation_id=conversation.id).order_by("-id").first()
    assert last is not None
    await Message.filter(id=last.id).update(created_at=_whole_second(last.created_at))

    # Marketplace B: its own provider, client, request, visit and conversation.
    company_b = await make_company(name=f"Entreprise {SECRET_OF_B}")
    mb_only = await make_membership(mb, company=company_b)
    await make_provider_user(mb_only)
    client_b = await make_client(mb)
    service_b = await make_service(mb, name=f"Ménage {SECRET_OF_B}")
    await offer(mb_only, service_b)
    await give_zone(mb_only, postal_codes=("69001",))
    request_b = await ServiceRequest.create(
        marketplace_id=mb.id,
        client=client_b,
        service=service_b,
        status=RequestStatus.OPEN,
        postal_code="69001",
        city="Lyon",
        description=f"Demande {SECRET_OF_B}",
    )
    await Dispatch.create(request=request_b, membership=mb_only)
    visit_b = await make_intervention(mb_only, client_b)
    conversation_b = await make_conversation(mb_only, client=client_b)
    sender_b = await make_user(full_name=f"Staff {SECRET_OF_B}")
    message_b = await Message.create(
        conversation=conversation_b,
        sender=sender_b,
        sender_role=ParticipantRole.STAFF,
        sender_name=sender_b.full_name,
        text=f"Bonjour {SECRET_OF_B}",
    )
    await Intervention.filter(id=visit_b.id).update(price=Decimal("70.10"))
    foreign = {
        "membership_b": ("Membership", mb_only.id),
        "company_b": ("ProviderCompany", company_b.id),
        "client_b": ("Client", client_b.id),
        "service_b": ("Service", service_b.id),
        "request_b": ("ServiceRequest", request_b.id),
        "intervention_b": ("Intervention", visit_b.id),
        "conversation_b": ("Conversation", conversation_b.id),
        "message_b": ("Message", message_b.id),
    }
    base.ids |= extra | foreign

    world = ReadsWorld(base=base)
    world.own_ids = {
        "beta": {_gid(*ref) for ref in foreign.values()} | {base.gid("marketplace_b")},
        # Marketplace A's objects that B has nothing to do with (provider P2's file is shared).
        "alpha": {
            base.gid(name)
            for name, (type_name, _) in base.ids.items()
            if name not in foreign
            and name not in ("marketplace_b", "user_provider_a")
            and type_name not in ("DocumentType", "ProviderCompany", "User")
        },
    }
    for type_name, pk in base.ids.values():
        world.ids_by_type.setdefault(type_name, []).append(_gid(type_name, pk))
    today = clock.now().date()
    world.dates = [str(today), str(today + timedelta(days=4)), str(date(2020, 2, 29))]
    world.known_elsewhere = {"provider_ab": {base.gid("marketplace_b")}}
    world.headers = _headers(base)
    return world


def _headers(base: authz_world.World) -> dict[str, dict[str, str]]:
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for name, user in base.users.items():
        token, _ = make_access_token(user.id)
        headers[name] = {"Authorization": f"Bearer {token}"}
        marketplace = acting_marketplace(name)
        if marketplace:
            headers[name]["X-Marketplace"] = marketplace
    for name in ("partner_read_a", "partner_rw_a"):
        headers[name] = {"X-Api-Key": base.values[f"api_key_{name}"]}
    missing = set(ACTORS) - set(headers)
    assert not missing, f"no headers for {missing}"
    return headers
