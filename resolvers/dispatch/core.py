"""The dispatch core shared by requests, answers, proposals and reminders.

Who may see a request, the live events every change records, and the sending of a round:
one dispatch row per provider, one event whose audience is every provider asked, one e-mail
job per round. Use cases live in ``request``, ``proposal`` and ``reminder``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from enum import StrEnum
from typing import Any

from tortoise.queryset import QuerySet

from models.account import Client, StaffMember
from models.catalog import ProviderService, ProviderServiceStatus
from models.dispatch import (
    Dispatch,
    DispatchJob,
    DispatchStatus,
    RequestRound,
    RequestStatus,
    ServiceRequest,
)
from models.events import Event
from models.marketplace import Marketplace
from models.membership import Membership, MembershipStatus
from presta import clock, db, events, jobs
from presta.i18n import _
from presta.sharing import Shared
from presta.tx import AfterCommit
from resolvers.actor import Actor
from resolvers.compiled import rules
from resolvers.compiled.rules import Flag, Same, Within, all_of, any_of, holds
from resolvers.events import record_event, staff_audience

REQUEST_DISPATCHED = "service_request.dispatched"
REQUEST_UPDATED = "service_request.updated"


class DispatchErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    INVALID_POSTAL_CODE = "INVALID_POSTAL_CODE"
    INVALID_COORDINATES = "INVALID_COORDINATES"
    WISHED_START_IN_PAST = "WISHED_START_IN_PAST"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    REQUEST_CLOSED = "REQUEST_CLOSED"
    ANSWER_LOCKED = "ANSWER_LOCKED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    NOT_IN_PROPOSAL = "NOT_IN_PROPOSAL"
    NO_PROPOSAL = "NO_PROPOSAL"


OPEN_STATUSES = ("OPEN", "PROPOSAL_SENT", "UNMATCHED")


# Who sees what, written once: the use cases and loaders filter with ``rules.where`` (or
# ``rules.holds`` over a loaded row), the compiled path with ``rules.condition``. Tenant
# isolation first: nothing of another marketplace, whoever asks.
IN_MARKETPLACE = Same("marketplace_id", "marketplace_id")
# The requests sent to the acting provider: those it has a dispatch of.
SENT_TO_ME = Within("id", Dispatch, "request_id", "membership_id", "membership_id")
# Staff and partners: the whole marketplace. Providers: what was sent to them. Clients: their
# own. Anyone else: nothing.
SEES_REQUEST = all_of(
    IN_MARKETPLACE,
    any_of(Flag("sees_whole_marketplace"), SENT_TO_ME, Same("client_id", "client_id")),
)
# The acting provider's own dispatch of a request (``myDispatch``).
OWN_DISPATCH = Same("membership_id", "membership_id")
# Of a request the actor sees, the dispatches shown: every one to staff and partners, its own
# to a provider (a client sees the proposal instead).
SHOWS_DISPATCH = any_of(Flag("sees_whole_marketplace"), OWN_DISPATCH)
# A dispatch by itself (``node(id:)``): of a request of the acting marketplace, and shown.
SEES_DISPATCH = all_of(
    Within("request_id", ServiceRequest, "id", "marketplace_id", "marketplace_id"),
    SHOWS_DISPATCH,
)


def requests_visible_to(actor: Actor) -> QuerySet[ServiceRequest]:
    """The requests the actor sees (``SEES_REQUEST``)."""
    return rules.where(ServiceRequest.all(), SEES_REQUEST, actor)


async def visible_requests(actor: Actor, ids: list[int]) -> list[ServiceRequest]:
    return await requests_visible_to(actor).filter(id__in=ids)


async def still_allowed(actor: Actor) -> bool:
    """Roles change while a websocket stays open: check them again for each live event."""
    if actor.membership_id is not None and actor.staff_role is None:
        accepted = await Membership.filter(
            id=actor.membership_id, status=MembershipStatus.ACCEPTED
        ).exists()
        if not accepted:
            return actor.client_id is not None
    if actor.staff_role is not None:
        return await StaffMember.filter(
            user_id=actor.user_id, marketplace_id=actor.marketplace_id
        ).exists()
    return True


async def available_providers(membership_ids: list[int], service_id: int) -> set[int]:
    """Those who may be asked, answer, be proposed and be chosen for a request of this service:
    accepted, and accepted for the service (suspended and deactivated providers receive no new
    requests; only accepted services are matched)."""
    found = await ProviderService.filter(
        membership_id__in=membership_ids,
        service_id=service_id,
        status=ProviderServiceStatus.ACCEPTED,
        membership__status=MembershipStatus.ACCEPTED,
    ).values_list("membership_id", flat=True)
    return {int(m) for m in found}  # type: ignore[call-overload]


async def lock_provider(membership_id: int, service_id: int) -> bool:
    """Lock the provider's membership and its service row, and say whether it is available.

    Lifecycle transitions and service decisions lock the same rows before withdrawing the
    provider from open requests: an answer is either refused or withdrawn, never left behind.
    Taken before the request's lock, as those transitions do.
    """
    member = await Membership.filter(id=membership_id).select_for_update().first()
    row = (
        await ProviderService.filter(membership_id=membership_id, service_id=service_id)
        .select_for_update()
        .first()
    )
    return (
        member is not None
        and member.status is MembershipStatus.ACCEPTED
        and row is not None
        and row.status is ProviderServiceStatus.ACCEPTED
    )


async def request_audience(request: ServiceRequest, members: list[int] | None = None) -> list[str]:
    """Staff, the client and every provider asked (``members``, when the caller knows them)."""
    if members is None:
        members = await Dispatch.filter(request_id=request.id).values_list(
            "membership_id", flat=True
        )  # type: ignore[assignment]
    return [
        staff_audience(request.marketplace_id),
        f"client:{request.client_id}",
        *(f"membership:{m}" for m in members or ()),
    ]


async def record_request_updated(
    tx: AfterCommit, request: ServiceRequest, change: str, *, members: list[int] | None = None
) -> Event:
    """``members``: the memberships the request was sent to, when the caller has them at hand
    (one statement less, and none while the event order lock is held)."""
    return await record_event(
        tx,
        topic=REQUEST_UPDATED,
        marketplace_id=request.marketplace_id,
        object_type="ServiceRequest",
        object_id=request.id,
        audience=await request_audience(request, members),
        payload={"change": change, "status": str(request.status)},
    )


async def send_to_providers(
    tx: AfterCommit,
    request: ServiceRequest,
    marketplace: Marketplace,
    membership_ids: list[int],
    *,
    new_round: bool,
    assigned_by: int | None = None,
    created: bool = False,
) -> list[int]:
    """Ask these providers (a new round, or more providers in the current one; ``created``:
    the request was created in this transaction).

    Providers who declined are never asked again; pending ones are asked again in a new
    round. Returns the memberships asked now.
    """
    now = clock.now()
    existing = (
        {}  # created in this transaction: no dispatch yet (one statement less)
        if created
        else {d.membership_id: d for d in await Dispatch.filter(request_id=request.id)}
    )
    number = request.round + 1 if new_round or request.round == 0 else request.round
    wanted = list(dict.fromkeys(membership_ids))
    fresh = [m for m in wanted if m not in existing]
    again = [
        m
        for m in wanted
        if new_round and m in existing and existing[m].status is DispatchStatus.PENDING
    ]
    if fresh:
        await Dispatch.bulk_create(
            [
                Dispatch(
                    request_id=request.id,
                    membership_id=m,
                    round=number,
                    assigned_by_id=assigned_by,
                )
                for m in fresh
            ]
        )
    if again:
        await Dispatch.filter(request_id=request.id, membership_id__in=again).update(round=number)
    asked = fresh + again
    if number != request.round:
        await RequestRound.create(
            request_id=request.id, number=number, providers_asked=len(asked), started_at=now
        )
        request.round = number
        request.round_started_at = now
        request.remind_at = now + timedelta(days=marketplace.days_before_reminder)
        if number == 1:
            request.send_proposal_at = now + timedelta(days=marketplace.days_before_sending)
    elif asked:
        await RequestRound.filter(request_id=request.id, number=number).update(
            providers_asked=await Dispatch.filter(request_id=request.id, round=number).count()
        )
    request.status = RequestStatus.OPEN
    await request.save(
        update_fields=["round", "round_started_at", "remind_at", "send_proposal_at", "status"]
    )
    if asked:
        # The job first: the event takes the order lock, held until the commit.
        await enqueue_job(tx, "notify_dispatch_round", request_id=request.id, round=number)
        await record_event(
            tx,
            topic=REQUEST_DISPATCHED,
            marketplace_id=marketplace.id,
            object_type="ServiceRequest",
            object_id=request.id,
            audience=[f"membership:{m}" for m in asked],
            payload={"round": number},
        )
    return asked


async def load_request(actor: Actor, request_id: int, *, lock: bool = False) -> ServiceRequest:
    """The request if the actor may see it (locked for update when asked); else not found."""
    from resolvers.errors import not_found

    query = requests_visible_to(actor).filter(id=request_id)
    if lock:
        # Lock the row itself: visibility joins must not be part of the locking query.
        if await query.exists():
            found = await ServiceRequest.filter(id=request_id).select_for_update().first()
            if found is not None:
                return found
        raise not_found(_("Service request"), field="requestId")
    request = await query.first()
    if request is None:
        raise not_found(_("Service request"), field="requestId")
    return request


async def client_of(request: ServiceRequest) -> Client:
    return await Client.get(id=request.client_id)


# Written once for the loaders (``holds``) and the compiled path (``rules.condition``).
SEES_WHOLE_REQUEST = any_of(Same("client_id", "client_id"), Flag("sees_whole_marketplace"))
SHOWS_CLIENT = any_of(SEES_WHOLE_REQUEST, Same("selected_membership_id", "membership_id"))


def sees_whole_request(actor: Actor, request: ServiceRequest) -> bool:
    """Its client, and readers of the whole marketplace: the proposal, the client's details."""
    return holds(SEES_WHOLE_REQUEST, actor, request)


def shows_client(actor: Actor, request: ServiceRequest) -> bool:
    """Who sees the client of a request: those who see it whole, and the provider chosen."""
    return holds(SHOWS_CLIENT, actor, request)


async def dispatch_for_provider(
    actor: Actor, request_id: int, *, event_id: int | None = None
) -> Dispatch | None:
    """The request as sent to the acting provider, with its request, while that provider is
    accepted in the acting marketplace.

    It runs for every subscriber of every dispatch event: the subscribers of one event share
    one query (a snapshot taken when the first of them asks).
    """
    if actor.membership_id is None or actor.marketplace_id is None:
        return None
    if event_id is None:
        found = await _accepted_dispatches(request_id, membership_id=actor.membership_id)
    else:
        found = await _shared_snapshot(event_id, request_id)
    dispatch = found.get(actor.membership_id)
    if dispatch is None or dispatch.request.marketplace_id != actor.marketplace_id:
        return None
    return dispatch


async def _accepted_dispatches(
    request_id: int, *, membership_id: int | None = None
) -> dict[int, Dispatch]:
    query = Dispatch.filter(request_id=request_id, membership__status=MembershipStatus.ACCEPTED)
    if membership_id is not None:
        query = query.filter(membership_id=membership_id)
    # Both at once: the subscribers woken by the event wait for this, and each round trip
    # also waits behind their turns on the event loop.
    request, dispatches = await asyncio.gather(db.by_id(ServiceRequest, request_id), query)
    if request is None:
        return {}
    found: dict[int, Dispatch] = {}
    for d in dispatches:
        # One request instance for every provider's dispatch (select_related builds one each).
        d.request = request
        found[d.membership_id] = d
    return found


# A snapshot serves the subscribers woken by one live event, not a replay of it much later:
# it is reused only this long, so access is checked again against the database.
_SNAPSHOTS: Shared[dict[int, Dispatch]] = Shared(seconds=0.5, kept=64)


async def _shared_snapshot(event_id: int, request_id: int) -> dict[int, Dispatch]:
    return await _SNAPSHOTS.get((event_id, request_id), lambda: _accepted_dispatches(request_id))


# Taken before the subscribers are woken, so each wakes once with its dispatch at hand.
events.prepare(REQUEST_DISPATCHED, lambda e: _shared_snapshot(e["id"], e["object_id"]))


JOB_RETRY_AFTER = timedelta(minutes=10)
MAX_JOB_ATTEMPTS = 20


async def enqueue_job(tx: AfterCommit, actor_name: str, **kwargs: Any) -> None:
    """Record the job in the transaction, enqueue it after commit (see ``DispatchJob``)."""
    job = await DispatchJob.create(
        actor_name=actor_name, kwargs=kwargs, retry_at=clock.now() + JOB_RETRY_AFTER
    )
    tx.enqueue(actor_name, **kwargs, job_id=job.id)


async def run_job(job_id: int | None, work: Awaitable[object]) -> None:
    """Run a job's work, then mark its outbox row done (a crash before leaves it to retry)."""
    await work
    if job_id is not None:
        await DispatchJob.filter(id=job_id, done_at=None).update(done_at=clock.now())


async def requeue_stale_jobs(limit: int = 200) -> int:
    """Enqueue again the jobs not done in time; a concurrent sweep cannot take the same one."""
    now = clock.now()
    stale = (
        await DispatchJob.filter(done_at=None, retry_at__lte=now, attempts__lt=MAX_JOB_ATTEMPTS)
        .order_by("id")
        .limit(limit)
    )
    requeued = 0
    for job in stale:
        claimed = await DispatchJob.filter(id=job.id, retry_at=job.retry_at).update(
            retry_at=now + JOB_RETRY_AFTER, attempts=job.attempts + 1
        )
        if claimed:
            await jobs.enqueue(job.actor_name, **job.kwargs, job_id=job.id)
            requeued += 1
    await DispatchJob.filter(done_at__lt=now - timedelta(days=7)).delete()
    return requeued


def dispatches_seen_by(actor: Actor, query: QuerySet[Dispatch]) -> QuerySet[Dispatch] | None:
    """The dispatches of ``query`` (of requests the actor sees) it is shown
    (``SHOWS_DISPATCH``); None when it is shown none, so nothing is asked of the database."""
    if rules.q(SHOWS_DISPATCH, actor) is False:
        return None
    return rules.where(query, SHOWS_DISPATCH, actor)


async def visible_dispatches(actor: Actor, ids: list[int]) -> list[Dispatch]:
    """Dispatches by id, those the actor sees (``SEES_DISPATCH``)."""
    if rules.q(SEES_DISPATCH, actor) is False:
        return []
    return await rules.where(Dispatch.filter(id__in=ids), SEES_DISPATCH, actor)
