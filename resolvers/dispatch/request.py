"""Service requests: creation (with automatic dispatch), cancellation, manual assignment, lists."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.account import Client
from models.catalog import Service
from models.dispatch import Frequency, RequestStatus, ServiceRequest
from models.marketplace import Marketplace
from models.membership import Membership, MembershipStatus
from presta import clock
from presta.i18n import _
from presta.tx import atomic
from resolvers.actor import Actor
from resolvers.dispatch.core import (
    DispatchErrorCode,
    load_request,
    record_request_updated,
    requests_visible_to,
    sees_whole_request,
    send_to_providers,
)
from resolvers.dispatch.listing import RequestFilter as RequestFilter
from resolvers.dispatch.listing import filtered
from resolvers.errors import UserError, UserErrors, forbidden, not_found
from resolvers.matching import matching_membership_ids
from resolvers.membership import require_tab
from resolvers.pagination import Page, Paging, keyset_page

_POSTAL_CODE = re.compile(r"^\d{5}$")
MAX_DESCRIPTION = 5000
MIN_DURATION, MAX_DURATION = 15, 24 * 60


@dataclass(frozen=True, slots=True)
class NewRequest:
    service_id: int
    postal_code: str
    city: str
    address_line: str = ""
    latitude: float | None = None
    longitude: float | None = None
    description: str = ""
    wished_start: datetime | None = None
    frequency: Frequency | None = None
    duration_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class AssignWarning:
    membership_id: int
    message: str


def _validate(data: NewRequest) -> list[UserError]:
    errors: list[UserError] = []
    code = DispatchErrorCode
    if not _POSTAL_CODE.match(data.postal_code.strip()):
        errors.append(
            UserError(code.INVALID_POSTAL_CODE, _("Postal code is 5 digits."), field="postalCode")
        )
    if not 1 <= len(data.city.strip()) <= 100:
        errors.append(UserError(code.INVALID, _("City is 1 to 100 characters."), field="city"))
    if len(data.address_line) > 255:
        errors.append(UserError(code.INVALID, _("Address is too long."), field="addressLine"))
    if (data.latitude is None) != (data.longitude is None):
        errors.append(
            UserError(
                code.INVALID_COORDINATES, _("Give both latitude and longitude."), field="latitude"
            )
        )
    elif data.latitude is not None and data.longitude is not None:
        if not (math.isfinite(data.latitude) and -90 <= data.latitude <= 90):
            errors.append(
                UserError(code.INVALID_COORDINATES, _("Latitude out of range."), field="latitude")
            )
        if not (math.isfinite(data.longitude) and -180 <= data.longitude <= 180):
            errors.append(
                UserError(code.INVALID_COORDINATES, _("Longitude out of range."), field="longitude")
            )
    if len(data.description) > MAX_DESCRIPTION:
        errors.append(
            UserError(
                code.INVALID,
                _("Description is at most {most} characters.", most=MAX_DESCRIPTION),
                field="description",
            )
        )
    if data.wished_start is not None and data.wished_start < clock.now() - timedelta(minutes=5):
        errors.append(
            UserError(
                code.WISHED_START_IN_PAST,
                _("The wished start is in the past."),
                field="wishedStart",
            )
        )
    if data.duration_minutes is not None and not (
        MIN_DURATION <= data.duration_minutes <= MAX_DURATION
    ):
        errors.append(
            UserError(
                code.INVALID,
                _(
                    "Duration is {least} to {most} minutes.",
                    least=MIN_DURATION,
                    most=MAX_DURATION,
                ),
                field="durationMinutes",
            )
        )
    return errors


async def create_service_request(
    actor: Actor, data: NewRequest, *, client_id: int | None = None
) -> ServiceRequest:
    """A client asks for itself, staff for one of the marketplace's clients; with dispatch on,
    every matching provider is asked in the same transaction (none: UNMATCHED)."""
    actor.require_writer()
    marketplace_id = actor.require_marketplace()
    if actor.sees_whole_marketplace:
        actor.require_staff()
        if client_id is None:
            raise UserError(DispatchErrorCode.INVALID, _("Name the client."), field="clientId")
    elif actor.client_id is not None:
        if client_id not in (None, actor.client_id):
            raise not_found(_("Client"), field="clientId")
        client_id = actor.client_id
    else:
        raise forbidden(_("Only clients and staff create requests."))
    errors = _validate(data)
    if errors:
        raise UserErrors(errors)
    async with atomic() as tx:
        # An erased client is kept for the accounting only: nothing new is asked for it.
        live = Client.filter(id=client_id, marketplace_id=marketplace_id, erased_at=None)
        if not await live.exists():
            raise not_found(_("Client"), field="clientId")
        # The service with its marketplace's dispatch settings, in one statement.
        service = (
            await Service.filter(id=data.service_id, marketplace_id=marketplace_id)
            .select_related("marketplace")
            .first()
        )
        if service is None:
            raise not_found(_("Service"), field="serviceId")
        if service.archived_at is not None:
            raise UserError(
                DispatchErrorCode.SERVICE_UNAVAILABLE,
                _("This service takes no new requests."),
                field="serviceId",
            )
        marketplace = service.marketplace
        request = await ServiceRequest.create(
            marketplace_id=marketplace_id,
            client_id=client_id,
            service_id=service.id,
            status=RequestStatus.OPEN,
            postal_code=data.postal_code.strip(),
            city=data.city.strip(),
            address_line=data.address_line.strip(),
            latitude=data.latitude,
            longitude=data.longitude,
            description=data.description.strip(),
            wished_start=data.wished_start,
            frequency=data.frequency,
            duration_minutes=data.duration_minutes,
            created_by_id=actor.user_id,
        )
        asked: list[int] = []  # a new request: its dispatches are the ones sent now
        if marketplace.dispatch_enabled:
            matched = await matching_membership_ids(
                marketplace_id=marketplace_id,
                service_id=service.id,
                postal_code=request.postal_code,
                latitude=request.latitude,
                longitude=request.longitude,
                on=clock.now().date(),
            )
            if matched:
                asked = await send_to_providers(
                    tx, request, marketplace, matched, new_round=True, created=True
                )
            else:
                request.status = RequestStatus.UNMATCHED
                await request.save(update_fields=["status"])
        await record_request_updated(tx, request, "created", members=asked)
    return request


async def cancel_service_request(actor: Actor, *, request_id: int, reason: str) -> ServiceRequest:
    """The client or staff cancel a request that no provider was chosen for yet."""
    actor.require_writer()
    if len(reason) > 2000:
        raise UserError(DispatchErrorCode.INVALID, _("Reason is too long."), field="reason")
    async with atomic() as tx:
        request = await load_request(actor, request_id, lock=True)
        own = actor.client_id is not None and actor.client_id == request.client_id
        if not sees_whole_request(actor, request):
            raise not_found(_("Service request"), field="requestId")
        if actor.sees_whole_marketplace and not own:
            actor.require_staff()
        if request.status not in (
            RequestStatus.OPEN,
            RequestStatus.PROPOSAL_SENT,
            RequestStatus.UNMATCHED,
        ):
            raise UserError(
                DispatchErrorCode.REQUEST_CLOSED,
                _("The request is {status} and cannot be cancelled.", status=request.status.value),
                field="requestId",
            )
        request.status = RequestStatus.CANCELLED
        request.cancel_reason = reason.strip()
        request.closed_at = clock.now()
        request.send_proposal_at = request.remind_at = None
        await request.save(
            update_fields=["status", "cancel_reason", "closed_at", "send_proposal_at", "remind_at"]
        )
        await record_request_updated(tx, request, "cancelled")
    return request


async def assign_service_request(
    actor: Actor, *, request_id: int, membership_ids: list[int]
) -> tuple[ServiceRequest, list[AssignWarning]]:
    """Staff send a request to chosen providers; those the matching rules would not pick are
    still asked, with a warning each."""
    marketplace_id = actor.require_staff()
    if not 1 <= len(membership_ids) <= 100:
        raise UserError(
            DispatchErrorCode.INVALID, _("Name 1 to 100 providers."), field="providerIds"
        )
    async with atomic() as tx:
        request = await load_request(actor, request_id, lock=True)
        if request.status not in (RequestStatus.OPEN, RequestStatus.UNMATCHED):
            raise UserError(
                DispatchErrorCode.REQUEST_CLOSED,
                _(
                    "The request is {status}: it can no longer be assigned.",
                    status=request.status.value,
                ),
                field="requestId",
            )
        members = {
            m.id: m
            for m in await Membership.filter(id__in=membership_ids, marketplace_id=marketplace_id)
        }
        if len(members) != len(set(membership_ids)):
            raise not_found(_("Provider"), field="providerIds")
        unavailable = [m for m in members.values() if m.status is not MembershipStatus.ACCEPTED]
        if unavailable:
            raise UserError(
                DispatchErrorCode.PROVIDER_UNAVAILABLE,
                _(
                    "Only accepted providers receive requests; not: {providers}",
                    providers=", ".join(f"{m.id} ({m.status.value})" for m in unavailable),
                ),
                field="providerIds",
            )
        matched = set(
            await matching_membership_ids(
                marketplace_id=marketplace_id,
                service_id=request.service_id,
                postal_code=request.postal_code,
                latitude=request.latitude,
                longitude=request.longitude,
                on=clock.now().date(),
            )
        )
        warnings = [
            AssignWarning(
                m,
                "This provider does not match the request (service not accepted, address "
                "outside its zone, or a required document missing or expired).",
            )
            for m in dict.fromkeys(membership_ids)
            if m not in matched
        ]
        marketplace = await Marketplace.get(id=marketplace_id)
        asked = await send_to_providers(
            tx,
            request,
            marketplace,
            membership_ids,
            new_round=request.round == 0,
            assigned_by=actor.user_id,
        )
        warnings += [
            AssignWarning(m, "This provider was already asked.")
            for m in dict.fromkeys(membership_ids)
            if m not in asked
        ]
        await record_request_updated(tx, request, "assigned")
    return request, warnings


async def list_service_requests(
    actor: Actor,
    f: RequestFilter,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[ServiceRequest]:
    """Staff: the marketplace's requests; providers: those sent to them; clients: their own."""
    marketplace_id = actor.require_marketplace()
    page = Paging(first=first, after=after, last=last, before=before)
    whole = actor.sees_tab_of(f.membership_id)
    # Who reads a provider's tab whole sees every request sent to it: the filter says it all.
    visible = (
        ServiceRequest.filter(marketplace_id=marketplace_id)
        if whole
        else requests_visible_to(actor)
    )
    query = filtered(visible, f)
    if whole and f == RequestFilter(membership_id=f.membership_id):
        # The whole tab: every provider app asks for it on opening, so its SQL is built once
        # (presta.statements).
        tab = [marketplace_id, f.membership_id]
        return await keyset_page(query, **page, shape="requests tab", params=tab)
    return await keyset_page(query, **page)


async def requests_tab(
    actor: Actor, membership_id: int, *, first: int | None = None, after: str | None = None
) -> Page[ServiceRequest]:
    """A provider's Requests tab, every request sent to it whatever its status: for its
    marketplace's staff and partners, and the provider itself (``require_tab``)."""
    require_tab(actor, membership_id)
    f = RequestFilter(membership_id=membership_id)
    return await list_service_requests(actor, f, first=first, after=after)
