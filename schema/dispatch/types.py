"""Service requests, their dispatch to providers, answers and proposals: the types.

Queries are in ``schema.dispatch.queries``, mutations in ``schema.dispatch.mutations``, the
live feeds in ``schema.dispatch.subscriptions``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry import relay

from models.dispatch import Dispatch as DispatchModel
from models.dispatch import (
    DispatchStatus,
    Frequency,
    ProposalTrigger,
    RequestStatus,
)
from models.dispatch import RequestRound as RequestRoundModel
from models.dispatch import ServiceRequest as ServiceRequestModel
from resolvers.actor import Actor
from resolvers.dispatch import core
from schema.base import (
    UserErrorBase,
    encode_id,
)
from schema.catalog import Service
from schema.context import Info
from schema.loaders import (
    AnswersByDispatchLoader,
    Asked,
    ClientByRequestLoader,
    DispatchesByRequestLoader,
    MyDispatchByRequestLoader,
    ProposalByRequestLoader,
    RoundsByRequestLoader,
    ServiceByIdLoader,
    VisibleRequestLoader,
    loader,
    prime,
    prime_fields,
)
from schema.node import AuthorizedNode

strawberry.enum(core.DispatchErrorCode, description="Why a request or dispatch operation failed.")
strawberry.enum(
    RequestStatus,
    description="Where a request stands: OPEN (waiting for answers), PROPOSAL_SENT, ACCEPTED "
    "(the client chose a provider), CANCELLED, UNMATCHED (no provider matched), EXPIRED "
    "(no answer after every reminder round).",
)
strawberry.enum(
    Frequency, name="RequestFrequency", description="How often a recurring request's visits happen."
)
strawberry.enum(
    DispatchStatus,
    description="A provider's answer: PENDING (none yet), INTERESTED, DECLINED, then SELECTED "
    "or NOT_SELECTED once the client chose.",
)
strawberry.enum(
    ProposalTrigger,
    description="Why the proposal was sent: THRESHOLD (enough interested providers) or "
    "DEADLINE (the waiting time ran out with at least one).",
)


@strawberry.type(description="A failure of a request, answer or proposal operation.")
class DispatchError(UserErrorBase):
    code: core.DispatchErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(description="The client a request is for.")
class RequestClient:
    id: relay.GlobalID = strawberry.field(description="The client (pass as `clientId`).")
    full_name: str = strawberry.field(description="The client's name.")
    email: str = strawberry.field(description="The client's e-mail.")
    phone: str = strawberry.field(description="The client's phone, or empty.")


@strawberry.type(description="One sending of a request: round 1 is the dispatch, then reminders.")
class RequestRound:
    number: int = strawberry.field(description="1 for the first sending, then 2, 3...")
    providers_asked: int = strawberry.field(description="Providers asked in this round.")
    started_at: datetime = strawberry.field(description="When the round was sent.")

    @classmethod
    def from_model(cls, r: RequestRoundModel) -> RequestRound:
        return cls(number=r.number, providers_asked=r.providers_asked, started_at=r.started_at)


@strawberry.type(description="A change of a provider's answer, kept for audit.")
class DispatchAnswer:
    from_status: DispatchStatus = strawberry.field(description="The answer before.")
    to_status: DispatchStatus = strawberry.field(description="The answer given.")
    message: str = strawberry.field(description="The message given with it.")
    price: Decimal | None = strawberry.field(description="The price given with it, if any.")
    round: int = strawberry.field(description="The round it was given in.")
    created_at: datetime = strawberry.field(description="When.")


@strawberry.type(description="A request sent to one provider, and that provider's answer.")
class Dispatch(AuthorizedNode):
    id: relay.NodeID[int]
    provider_id: relay.GlobalID = strawberry.field(description="The provider's Membership.")
    round: int = strawberry.field(description="The last round this provider was asked in.")
    status: DispatchStatus = strawberry.field(description="The provider's answer.")
    message: str = strawberry.field(description="The provider's message to the client.")
    price: Decimal | None = strawberry.field(description="The price the provider offers.")
    answered_at: datetime | None = strawberry.field(description="When it last answered.")
    proposed_at: datetime | None = strawberry.field(
        description="When it joined the proposal sent to the client, if it did."
    )
    created_at: datetime = strawberry.field(description="When it was first asked.")
    model: strawberry.Private[DispatchModel]

    @classmethod
    def from_model(cls, d: DispatchModel) -> Dispatch:
        return cls(
            id=d.id,
            provider_id=encode_id("Membership", d.membership_id),
            round=d.round,
            status=d.status,
            message=d.message,
            price=d.price,
            answered_at=d.answered_at,
            proposed_at=d.proposed_at,
            created_at=d.created_at,
            model=d,
        )

    @staticmethod
    async def prime_mine(info: Info, request_ids: list[int], asked: Asked) -> None:
        """``myDispatch`` of these requests loaded ahead, with its answers if asked."""
        mine = await loader(info, MyDispatchByRequestLoader).load_many(request_ids)
        if "answerHistory" in asked:
            ids = [d.id for d in mine if d is not None]
            await prime(loader(info, AnswersByDispatchLoader).load_many(ids))

    @strawberry.field(description="Every answer it gave, changes of mind included, oldest first.")
    async def answer_history(self, info: Info) -> list[DispatchAnswer]:
        rows = await loader(info, AnswersByDispatchLoader).load(self.model.id)
        return [
            DispatchAnswer(
                from_status=a.from_status,
                to_status=a.to_status,
                message=a.message,
                price=a.price,
                round=a.round,
                created_at=a.created_at,
            )
            for a in rows
        ]

    @strawberry.field(description="The request.")
    async def request(self, info: Info) -> ServiceRequest | None:
        request_id = self.model.request_id
        found = await loader(info, VisibleRequestLoader).load(request_id)
        return ServiceRequest.from_model(found) if found is not None else None

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        return {d.id: cls.from_model(d) for d in await core.visible_dispatches(actor, ids)}


@strawberry.type(description="A provider named in a proposal.")
class ProposedProvider:
    provider_id: relay.GlobalID = strawberry.field(description="The provider's Membership.")
    company_name: str = strawberry.field(description="The provider company's name.")
    services: list[str] = strawberry.field(description="Services it is accepted for.")
    message: str = strawberry.field(description="Its message to the client.")
    price: Decimal | None = strawberry.field(description="The price it offers, if any.")
    joined_at: datetime = strawberry.field(description="When it joined the proposal.")
    late: bool = strawberry.field(description="It answered after the proposal was sent.")
    status: DispatchStatus = strawberry.field(description="INTERESTED, SELECTED or NOT_SELECTED.")


@strawberry.type(description="The providers proposed to the client; sent once per request.")
class Proposal:
    sent_at: datetime = strawberry.field(description="When it was sent.")
    trigger: ProposalTrigger = strawberry.field(description="Why it was sent.")
    accepted_at: datetime | None = strawberry.field(description="When the client chose.")
    providers: list[ProposedProvider] = strawberry.field(
        description="The interested providers, in the order they joined."
    )


@strawberry.type(description="A client's request for a service at an address.")
class ServiceRequest(AuthorizedNode):
    id: relay.NodeID[int]
    status: RequestStatus = strawberry.field(description="Where the request stands.")
    postal_code: str = strawberry.field(description="Postal code of the address (5 digits).")
    city: str = strawberry.field(description="City of the address.")
    address_line: str = strawberry.field(description="Street address, or empty.")
    latitude: float | None = strawberry.field(description="Latitude of the address, if known.")
    longitude: float | None = strawberry.field(description="Longitude of the address, if known.")
    description: str = strawberry.field(description="What the client needs.")
    wished_start: datetime | None = strawberry.field(description="When the client wishes to start.")
    frequency: Frequency | None = strawberry.field(description="Null for a one-off request.")
    duration_minutes: int | None = strawberry.field(description="Expected length of each visit.")
    round: int = strawberry.field(description="Current round: 0 before any sending, 1, 2...")
    send_proposal_at: datetime | None = strawberry.field(
        description="When the proposal goes out with whoever answered, if still open."
    )
    remind_at: datetime | None = strawberry.field(
        description="When a reminder round (or expiry) happens if nobody is interested."
    )
    cancel_reason: str = strawberry.field(description="Why it was cancelled, or empty.")
    closed_at: datetime | None = strawberry.field(description="When it was accepted or closed.")
    created_at: datetime = strawberry.field(description="When it was created.")
    model: strawberry.Private[ServiceRequestModel]

    @classmethod
    def from_model(cls, r: ServiceRequestModel) -> ServiceRequest:
        return cls(
            id=r.id,
            status=r.status,
            postal_code=r.postal_code,
            city=r.city,
            address_line=r.address_line,
            latitude=r.latitude,
            longitude=r.longitude,
            description=r.description,
            wished_start=r.wished_start,
            frequency=r.frequency,
            duration_minutes=r.duration_minutes,
            round=r.round,
            send_proposal_at=r.send_proposal_at,
            remind_at=r.remind_at,
            cancel_reason=r.cancel_reason,
            closed_at=r.closed_at,
            created_at=r.created_at,
            model=r,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        return {r.id: cls.from_model(r) for r in await core.visible_requests(actor, ids)}

    @staticmethod
    async def prime(info: Info, requests: list[ServiceRequest]) -> None:
        """Load what the fields asked of these requests read, one statement per relation,
        before graphql-core resolves them: each then finds its rows loaded."""
        await prime_fields(info, requests, {
            "service": lambda rows, _: loader(info, ServiceByIdLoader).load_many(
                [r.model.service_id for r in rows]),
            "client": lambda rows, _: loader(info, ClientByRequestLoader).load_many(
                [r.model for r in rows]),
            "myDispatch": lambda rows, asked: Dispatch.prime_mine(
                info, [r.model.id for r in rows], asked),
        })  # fmt: skip

    @strawberry.field(description="The requested service.")
    async def service(self, info: Info) -> Service:
        service_id = self.model.service_id
        return Service.from_model(await loader(info, ServiceByIdLoader).load(service_id))

    @strawberry.field(description="Whether the visits repeat (a frequency is set).")
    def recurring(self) -> bool:
        return self.model.frequency is not None

    @strawberry.field(
        description="The client: for staff, the client itself and the chosen provider."
    )
    async def client(self, info: Info) -> RequestClient | None:
        c = await loader(info, ClientByRequestLoader).load(self.model)
        if c is None:
            return None
        return RequestClient(
            id=encode_id("Client", c.id), full_name=c.full_name, email=c.email, phone=c.phone
        )

    @strawberry.field(description="Every round the request was sent in, first first.")
    async def rounds(self, info: Info) -> list[RequestRound]:
        rows = await loader(info, RoundsByRequestLoader).load(self.model.id)
        return [RequestRound.from_model(r) for r in rows]

    @strawberry.field(
        description="Staff: every provider asked and its answer. A provider: its own only. "
        "Clients see the proposal instead."
    )
    async def dispatches(self, info: Info) -> list[Dispatch]:
        rows = await loader(info, DispatchesByRequestLoader).load(self.model.id)
        return [Dispatch.from_model(d) for d in rows]

    @strawberry.field(description="A provider: the request as sent to it, with its answer.")
    async def my_dispatch(self, info: Info) -> Dispatch | None:
        found = await loader(info, MyDispatchByRequestLoader).load(self.model.id)
        return Dispatch.from_model(found) if found is not None else None

    @strawberry.field(description="The proposal sent to the client (client and staff only).")
    async def proposal(self, info: Info) -> Proposal | None:
        found = await loader(info, ProposalByRequestLoader).load(self.model)
        if found is None:
            return None
        proposal, entries, services = found
        return Proposal(
            sent_at=proposal.sent_at,
            trigger=proposal.trigger,
            accepted_at=proposal.accepted_at,
            providers=[_proposed(d, proposal.sent_at, services) for d in entries],
        )


def _proposed(
    d: DispatchModel, sent_at: datetime, services: dict[int, list[str]]
) -> ProposedProvider:
    assert d.proposed_at is not None
    return ProposedProvider(
        provider_id=encode_id("Membership", d.membership.id),
        company_name=d.membership.company.name,
        services=services.get(d.membership.id, []),
        message=d.message,
        price=d.price,
        joined_at=d.proposed_at,
        late=d.proposed_at > sent_at,
        status=d.status,
    )
