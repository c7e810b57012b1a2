"""Clients: sign-up, staff creation with an invitation, the Client node and its tabs, the
staff list, and the client's GDPR rights (consent, export, erasure)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

# Declares ConsentChannel's GraphQL enum, which this module uses too.
import schema.consent  # noqa: F401
from models.account import Client as ClientModel
from models.consent import ClientConsentRecord, ConsentChannel
from resolvers.account import Session
from resolvers.actor import Actor
from resolvers.client import gdpr, onboarding, reads
from resolvers.client.onboarding import ClientErrorCode
from resolvers.dispatch.request import RequestFilter, list_service_requests
from resolvers.intervention import InterventionFilter, list_interventions
from schema.account import User
from schema.base import (
    After,
    Before,
    Connection,
    First,
    Last,
    Mutations,
    UserErrorBase,
    connection,
    decode_id,
)
from schema.context import Info
from schema.loaders import ConsentByClientLoader, loader
from schema.node import AuthorizedNode

strawberry.enum(ClientErrorCode, description="Why a client operation failed.")

if TYPE_CHECKING:
    from schema.dispatch.types import ServiceRequest
    from schema.intervention import Intervention
    from schema.messaging.types import Conversation


@strawberry.type(description="A failure of a client operation.")
class ClientError(UserErrorBase):
    code: ClientErrorCode = strawberry.field(description="Machine-readable reason.")


@strawberry.type(description="The marketing consent of a client in force on one channel.")
class ClientConsent:
    channel: ConsentChannel = strawberry.field(description="The channel.")
    granted: bool = strawberry.field(description="Marketing may be sent on this channel now.")
    wording_version: str = strawberry.field(description="Wording of the last grant/withdrawal.")
    since: datetime = strawberry.field(description="When it was last granted or withdrawn.")

    @classmethod
    def from_model(cls, r: ClientConsentRecord) -> ClientConsent:
        return cls(
            channel=r.channel,
            granted=r.granted,
            wording_version=r.wording_version,
            since=r.created_at,
        )


@strawberry.type(
    description="An end customer of one marketplace. Seen by the client itself and by the "
    "marketplace's staff and partner keys; providers see a request's client on the request."
)
class Client(AuthorizedNode):
    id: relay.NodeID[int]
    full_name: str = strawberry.field(description="Name; `Erased client` once erased.")
    email: str = strawberry.field(description="E-mail address (lower case).")
    phone: str = strawberry.field(description="Phone number, or empty.")
    has_login: bool = strawberry.field(description="The client can sign in.")
    invitation_pending: bool = strawberry.field(
        description="Created by staff, its link to set a password is still valid."
    )
    created_at: datetime = strawberry.field(description="When the client was created.")
    erased_at: datetime | None = strawberry.field(
        description="When its personal data was erased (GDPR); null otherwise."
    )
    model: strawberry.Private[ClientModel]

    @classmethod
    def from_model(cls, c: ClientModel) -> Client:
        return cls(
            id=c.id,
            full_name=c.full_name,
            email=c.email,
            phone=c.phone,
            has_login=c.user_id is not None,
            invitation_pending=onboarding.invitation_pending(c),
            created_at=c.created_at,
            erased_at=c.erased_at,
            model=c,
        )

    @classmethod
    async def load_visible(cls, actor: Actor, ids: list[int]) -> dict[int, Any]:
        return {c.id: cls.from_model(c) for c in await reads.visible_clients(actor, ids)}

    @strawberry.field(description="The client's requests, newest first.")
    async def requests(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[Annotated[ServiceRequest, strawberry.lazy("schema.dispatch.types")]]:
        from schema.dispatch.queries import requests_connection

        found = await list_service_requests(
            info.context.actor, RequestFilter(client_id=self.model.id), first=first, after=after
        )
        return await requests_connection(info, found)

    @strawberry.field(description="The client's visits, newest first.")
    async def interventions(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[Annotated[Intervention, strawberry.lazy("schema.intervention")]]:
        from schema.intervention import interventions_connection

        found = await list_interventions(
            info.context.actor,
            InterventionFilter(client_id=self.model.id),
            first=first,
            after=after,
        )
        return await interventions_connection(info, found)

    @strawberry.field(description="The client's conversations with providers, newest first.")
    async def conversations(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[Annotated[Conversation, strawberry.lazy("schema.messaging.types")]]:
        from schema.messaging.types import conversations_of

        return await conversations_of(info, client_id=self.model.id, first=first, after=after)

    @strawberry.field(description="Marketing consent in force on each channel ever set.")
    async def consent(self, info: Info) -> list[ClientConsent]:
        records = await loader(info, ConsentByClientLoader).load(self.model)
        return [ClientConsent.from_model(r) for r in records]


async def viewer_client(actor: Actor) -> Client | None:
    """The signed-in client's own Client in the acting marketplace."""
    if actor.client_id is None:
        return None
    found = await reads.visible_clients(actor, [actor.client_id])
    return Client.from_model(found[0]) if found else None


# --- inputs and payloads -------------------------------------------------------------------


@strawberry.input(description="A new client account on one marketplace.")
class SignUpClientInput:
    marketplace: str = strawberry.field(description="The marketplace: its slug or global ID.")
    email: str = strawberry.field(description="E-mail address; it becomes the login.")
    password: str = strawberry.field(description="10 to 256 characters.")
    full_name: str = strawberry.field(description="Name, 1 to 200 characters.")
    phone: str = strawberry.field(default="", description="Phone number (optional).")


@strawberry.type(description="The client and its session.")
class ClientSessionPayload:
    user_errors: list[ClientError] = strawberry.field(description="Expected failures.")
    client: Client | None = strawberry.field(default=None, description="The client.")
    user: User | None = strawberry.field(default=None, description="Its login.")
    access_token: str | None = strawberry.field(
        default=None,
        description="Send as `Authorization: Bearer <token>` with `X-Marketplace`.",
    )
    expires_in: int | None = strawberry.field(
        default=None, description="Seconds until the access token expires."
    )
    refresh_token: str | None = strawberry.field(
        default=None, description="Single use: exchange it with `refreshToken`."
    )


@strawberry.input(description="A client created by staff, invited by e-mail.")
class CreateClientInput:
    email: str = strawberry.field(description="E-mail address; the invitation goes there.")
    full_name: str = strawberry.field(description="Name, 1 to 200 characters.")
    phone: str = strawberry.field(default="", description="Phone number (optional).")


@strawberry.type(description="Result of createClient.")
class CreateClientPayload:
    user_errors: list[ClientError] = strawberry.field(description="Expected failures.")
    client: Client | None = strawberry.field(default=None, description="The client.")
    created: bool = strawberry.field(
        default=False, description="False when a client with this e-mail already existed."
    )


@strawberry.input(description="Set a password from a client invitation link.")
class AcceptClientInvitationInput:
    token: str = strawberry.field(description="The `token` of the link in the e-mail.")
    password: str = strawberry.field(description="10 to 256 characters.")


@strawberry.input(description="Grant or withdraw a client's marketing consent on one channel.")
class SetClientMarketingConsentInput:
    client_id: relay.GlobalID = strawberry.field(description="The client.")
    channel: ConsentChannel = strawberry.field(description="EMAIL, SMS or PHONE.")
    granted: bool = strawberry.field(description="True to grant, false to withdraw.")
    wording_version: str = strawberry.field(description="Version of the wording (1-64 chars).")
    source: str = strawberry.field(description="Where it was collected (1 to 64 characters).")


@strawberry.type(description="Result of setClientMarketingConsent.")
class SetClientMarketingConsentPayload:
    user_errors: list[ClientError] = strawberry.field(description="Expected failures.")
    client: Client | None = strawberry.field(default=None, description="The client.")


@strawberry.input(description="Erase a client's personal data.")
class DeleteClientDataInput:
    client_id: relay.GlobalID = strawberry.field(description="The client.")


@strawberry.type(description="Result of deleteClientData.")
class DeleteClientDataPayload:
    user_errors: list[ClientError] = strawberry.field(description="Expected failures.")
    client: Client | None = strawberry.field(default=None, description="The client, erased.")


def _session(session: Session, client: ClientModel) -> dict[str, Any]:
    return {
        "client": Client.from_model(client),
        "user": User.from_model(session.user),
        "access_token": session.access_token,
        "expires_in": session.expires_in,
        "refresh_token": session.refresh_token,
    }


async def _sign_up(data: SignUpClientInput) -> dict[str, Any]:
    session, client = await onboarding.sign_up_client(
        marketplace=data.marketplace,
        email=data.email,
        password=data.password,
        full_name=data.full_name,
        phone=data.phone,
    )
    return _session(session, client)


async def _create(actor: Actor, data: CreateClientInput) -> dict[str, Any]:
    client, created = await onboarding.create_client(
        actor, email=data.email, full_name=data.full_name, phone=data.phone
    )
    return {"client": Client.from_model(client), "created": created}


async def _accept(data: AcceptClientInvitationInput) -> dict[str, Any]:
    session, client = await onboarding.accept_client_invitation(
        token=data.token, password=data.password
    )
    return _session(session, client)


async def _consent(actor: Actor, data: SetClientMarketingConsentInput) -> dict[str, Any]:
    client_id = decode_id(data.client_id, "Client", field="clientId")
    await gdpr.set_client_marketing_consent(
        actor,
        client_id=client_id,
        channel=data.channel,
        granted=data.granted,
        wording_version=data.wording_version,
        source=data.source,
    )
    return {"client": Client.from_model(await reads.get_client(actor, client_id))}


async def _delete(actor: Actor, data: DeleteClientDataInput) -> dict[str, Any]:
    client_id = decode_id(data.client_id, "Client", field="clientId")
    return {"client": Client.from_model(await gdpr.delete_client_data(actor, client_id=client_id))}


_run = Mutations(ClientError, ClientErrorCode)


@strawberry.type
class ClientMutation:
    @strawberry.mutation(
        description="Become a client of a marketplace: creates the login and opens a session."
    )
    async def sign_up_client(self, input: SignUpClientInput) -> ClientSessionPayload:
        return await _run(ClientSessionPayload, _sign_up(input))

    @strawberry.mutation(
        description="Staff: create a client and e-mail it a link to set its password (single "
        "use, valid for the invitation period: 14 days by default). The same e-mail again "
        "returns the same client; a new link is sent only once the last one expired."
    )
    async def create_client(self, info: Info, input: CreateClientInput) -> CreateClientPayload:
        return await _run(CreateClientPayload, _create(info.context.actor, input))

    @strawberry.mutation(
        description="Set a client's password from its invitation link and open a session."
    )
    async def accept_client_invitation(
        self, input: AcceptClientInvitationInput
    ) -> ClientSessionPayload:
        return await _run(ClientSessionPayload, _accept(input))

    @strawberry.mutation(
        description="The client or staff: grant or withdraw the client's marketing consent; "
        "every change is kept."
    )
    async def set_client_marketing_consent(
        self, info: Info, input: SetClientMarketingConsentInput
    ) -> SetClientMarketingConsentPayload:
        return await _run(SetClientMarketingConsentPayload, _consent(info.context.actor, input))

    @strawberry.mutation(
        description="The client or staff: erase the client's personal data (GDPR). Its "
        "requests and visits stay, anonymised, for the accounting; its login stops working "
        "and its sessions end. Refused while a request is open or a visit upcoming."
    )
    async def delete_client_data(
        self, info: Info, input: DeleteClientDataInput
    ) -> DeleteClientDataPayload:
        return await _run(DeleteClientDataPayload, _delete(info.context.actor, input))


@strawberry.type
class ClientQuery:
    @strawberry.field(
        description="Staff: the marketplace's clients, newest first; `search` keeps those "
        "whose name, e-mail or phone contains it (any case)."
    )
    async def clients(
        self,
        info: Info,
        search: Annotated[
            str | None, strawberry.argument(description="Part of a name, e-mail or phone.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Client]:
        page = await reads.list_clients(
            info.context.actor, search=search, first=first, after=after, last=last, before=before
        )
        return connection(page, Client.from_model)

    @strawberry.field(
        description="The client itself (no argument) or staff: everything the marketplace "
        "holds about a client (GDPR portability) as one JSON document: profile, consents, "
        "requests, visits, conversations and messages."
    )
    async def export_client_data(
        self,
        info: Info,
        client_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="The client (staff).")
        ] = None,
    ) -> JSON:
        actor = info.context.actor
        wanted = decode_id(client_id, "Client", field="clientId") if client_id else None
        return JSON(await gdpr.export_client_data(actor, client_id=wanted))
