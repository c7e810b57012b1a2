"""Dispatch proven against a model: random sequences of every action, the clock and the
provider lifecycle, run on PostgreSQL and in ``tests/support/dispatch_model.py`` side by side.

After every step the database must agree with the model: each request's status, round and
deadlines, each provider's answer, the proposal, memberships, services and visits; the event
log (what subscriptions see) and the jobs and e-mails (who is told) must be exactly those the
model predicts, in order. The rules covered, against the specification (MISSION.md):

- §1 "every new client request is at once assigned to all providers that match its criteria:
  the requested service and the locality" / §2 "Only accepted services are matched",
  "Suspended and deactivated providers receive no new requests": a new request (and each
  reminder round) asks exactly the providers ACCEPTED, with the service ACCEPTED, whose zone
  holds the address; nobody: UNMATCHED. "When off, staff assign requests by hand": no round.
- §1 ``proposalsRequired``: "the minimum number of providers that must answer interested
  before the client is sent a proposal naming the providers who want the job": the N-th
  interested answer sends it, once; it names the interested providers and nobody else.
- §1 ``daysBeforeSending``: "if the required number is not reached in this many days, the
  proposal is sent anyway with the providers who did answer": at the deadline (by the sweep,
  or by the first interested answer after it), never with nobody interested.
- §1 ``daysBeforeReminder``: "if no provider answers in this many days, the request is sent
  again to the providers that match (a reminder round; new matches included)": providers who
  declined are not asked again; after the last round the request is EXPIRED.
- §3 "Each answers INTERESTED or DECLINED": changes of mind until the proposal is sent; after
  it, an interested answer joins the proposal and the client is told; other answers are locked.
- §3 "The client accepts one provider from the proposal; an intervention is then scheduled with
  that provider, and the others are told they were not chosen": only a provider named in the
  proposal and still available can be chosen, and only an available chosen provider gets visits.
- §3 request life ``OPEN → PROPOSAL_SENT → ACCEPTED``, or ``CANCELLED`` (before a provider is
  chosen), ``UNMATCHED``, ``EXPIRED``; "The timers ... from deadlines stored in the database,
  so that a restart loses nothing": a sweep run twice, concurrently, or after a job lost
  between commit and enqueue acts once, and the lost job is handed again.
- §2 lifecycle ``ACCEPTED ⇄ SUSPENDED``, ``ACCEPTED/SUSPENDED → DEACTIVATED`` (and back),
  any state → ``DELETED``; "Deactivating or deleting is refused while the provider has an
  intervention in progress or upcoming": refused exactly while a visit is scheduled or in
  progress, or a request the client accepted with it has no visit yet.
- §2 services "staff accept, reject or deactivate each one"; a provider no longer accepted
  (membership or service) is withdrawn from the open requests and sent proposals.
- §4 "the changes of the objects they can see", "events ... stored before they are published":
  every change a viewer can see is exactly one event in the log, in order.
- §5 "Everyone is told what concerns them, by e-mail": each fact's job is enqueued once (again
  only after a loss) and its e-mail sent once.

Budgets: ``PRESTA_MODEL_EXAMPLES`` examples of at most ``PRESTA_MODEL_STEPS`` steps
(``make fuzz`` raises both).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from tortoise import Tortoise, connections
from tortoise.queryset import QuerySet

from models.account import StaffRole, User
from models.catalog import ProviderService, ProviderServiceStatus, Service
from models.dispatch import Dispatch, DispatchJob, DispatchStatus, Proposal, ServiceRequest
from models.events import Event
from models.intervention import Intervention, InterventionStatus
from models.job import JobOutbox
from models.marketplace import Marketplace
from models.membership import Membership, MembershipAudit
from presta import clock, jobs
from resolvers import catalog, lifecycle
from resolvers.actor import Actor
from resolvers.dispatch import proposal as answers
from resolvers.dispatch.reminder import sweep_dispatch_deadlines
from resolvers.dispatch.request import NewRequest, cancel_service_request, create_service_request
from resolvers.errors import UserError, UserErrors
from resolvers.intervention import change_intervention_status, schedule_intervention
from resolvers.marketplace import forget_slugs, update_dispatch_settings
from resolvers.notification import NOTIFICATION_CREATED
from tests.factories.account import actor_of, make_client, make_marketplace, make_staff
from tests.factories.catalog import give_zone, make_service, offer
from tests.factories.membership import make_membership, make_provider_user
from tests.support import dispatch_model as m
from tests.support.mailbox import Mailbox

EXAMPLES = int(os.environ.get("PRESTA_MODEL_EXAMPLES", "40"))
STEPS = int(os.environ.get("PRESTA_MODEL_STEPS", "30"))
# Runs again (new random examples) until this many steps were taken.
MIN_STEPS = int(os.environ.get("PRESTA_MODEL_MIN_STEPS", "0"))
SERVICES = 2
HERE, ELSEWHERE = "75011", "69001"
T = TypeVar("T")

_LIFECYCLE: dict[str, Callable[..., Coroutine[Any, Any, Membership]]] = {
    "suspend": lifecycle.suspend_provider,
    "reinstate": lifecycle.reinstate_provider,
    "deactivate": lifecycle.deactivate_provider,
    "reactivate": lifecycle.reactivate_provider,
    "delete": lifecycle.delete_provider_relationship,
}
_VISIT = {
    m.IN_PROGRESS: InterventionStatus.IN_PROGRESS,
    m.DONE: InterventionStatus.DONE,
    m.CANCELLED: InterventionStatus.CANCELLED,
}
_MAIL_KINDS = (
    # The subjects in French, every recipient's default language.
    ("Nouvelle demande (relance)", "reminder"),
    ("Nouvelle demande", "dispatch"),
    ("Des prestataires pour votre demande", "proposal"),
    ("Un prestataire de plus", "late"),
    ("Vous avez été choisi", "chosen"),
    ("Un autre prestataire a été choisi", "not_chosen"),
    ("Un prestataire a quitté votre proposition", "withdrawn"),
    ("Votre prestataire est indisponible", "unavailable"),
)

# Notifications (visits, services, applications) have their own tests (tests/test_notification.py):
# the model leaves out their jobs, their e-mails and their events, which are a person's own.
_NOT_MODELLED_JOBS = frozenset({"send_notification", "sweep_notifications"})
_NOTIFICATIONS = (
    "Intervention planifiée",
    "Intervention déplacée",
    "Intervention annulée",
    "Service accepté",
    "Service refusé",
    "Nouvelle candidature",
)


@dataclass
class Harness:
    """What the machine shares with the test: the loop running the database, the mailbox,
    the frozen clock, the jobs handed to the queue, and the counts reported at the end."""

    loop: asyncio.AbstractEventLoop
    mailbox: Mailbox
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    losing: bool = False
    enqueued: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    examples: int = 0
    steps: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


async def _truncate_all() -> None:
    conn = connections.get("default")
    tables = [model._meta.db_table for model in Tortoise.apps["models"].values()]
    await conn.execute_script(
        "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
    )


def _code(error: Exception) -> str:
    if isinstance(error, UserErrors):
        return str(error.errors[0].code.value)
    assert isinstance(error, UserError)
    return str(error.code.value)


provider_specs = st.fixed_dictionaries(
    {
        "services": st.lists(
            st.sampled_from([m.ACCEPTED, m.ACCEPTED, m.PENDING, None]),
            min_size=SERVICES,
            max_size=SERVICES,
        ),
        "in_zone": st.sampled_from([True, True, True, False]),
    }
)
dispatch_settings = st.builds(
    m.Settings,
    dispatch_enabled=st.sampled_from([True, True, True, False]),
    proposals_required=st.sampled_from([1, 2, 2, 3]),
    days_before_sending=st.integers(0, 4),
    days_before_reminder=st.integers(1, 3),
    max_reminder_rounds=st.integers(0, 2),
)
delays = st.one_of(
    st.sampled_from(
        [timedelta(seconds=31), timedelta(minutes=11), timedelta(hours=12), m.DAY, 2 * m.DAY]
    ),
    st.integers(1, 5 * 24 * 60).map(lambda minutes: timedelta(minutes=minutes)),
)
anyone = st.integers(0, 63)
# Now and then the process dies between a step's commit and the enqueue of its jobs.
losses = st.integers(0, 7).map(lambda n: n == 7)


class DispatchMachine(RuleBasedStateMachine):
    harness: ClassVar[Harness]

    def __init__(self) -> None:
        super().__init__()
        self.model: m.Model | None = None
        self.healthy = False
        self.rule = ""

    # --- running use cases on the test's loop ------------------------------------------------

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.harness.loop).result()

    def outcome(self, work: Coroutine[Any, Any, object]) -> str | None:
        try:
            self.run(work)
        except (UserError, UserErrors) as error:
            return _code(error)
        return None

    def agree(self, expected: str | None, work: Coroutine[Any, Any, object]) -> None:
        actual = self.outcome(work)
        self.harness.outcomes[f"{self.rule} {actual or 'done'}"] += 1
        assert actual == expected, f"the use case gave {actual}, the model {expected}"

    @property
    def world(self) -> m.Model:
        assert self.model is not None
        return self.model

    # --- the world ---------------------------------------------------------------------------

    @initialize(
        chosen=dispatch_settings,
        providers=st.lists(provider_specs, min_size=2, max_size=3),
        requests=st.lists(st.integers(0, SERVICES - 1), min_size=1, max_size=3),
    )
    def build(
        self, chosen: m.Settings, providers: list[dict[str, Any]], requests: list[int]
    ) -> None:
        self.harness.examples += 1
        self.harness.now = datetime.now(UTC).replace(microsecond=0)
        self.harness.losing = False
        self.model = m.Model(
            now=self.harness.now,
            settings=chosen,
            providers=[m.Provider(dict(enumerate(p["services"])), p["in_zone"]) for p in providers],
            services=SERVICES,
        )
        self.run(self._build())
        for service in requests:
            self.create_request(service, lose=False)
        self.healthy = True

    async def _build(self) -> None:
        await jobs.drain()  # a failed example may leave some running
        await _truncate_all()
        forget_slugs()
        self.harness.mailbox.clear()
        self.harness.enqueued.clear()
        s = self.world.settings
        self.marketplace = await make_marketplace(
            dispatch_enabled=s.dispatch_enabled,
            proposals_required=s.proposals_required,
            days_before_sending=s.days_before_sending,
            days_before_reminder=s.days_before_reminder,
            max_reminder_rounds=s.max_reminder_rounds,
        )
        self.service_ids = [
            (await make_service(self.marketplace, name=f"Service {n}")).id for n in range(SERVICES)
        ]
        client = await make_client(self.marketplace)
        await client.fetch_related("user")
        assert client.user is not None
        self.client = await actor_of(client.user, self.marketplace)
        self.client_email = client.email
        self.staff = await actor_of(
            await make_staff(self.marketplace, StaffRole.ADMIN), self.marketplace
        )
        self.membership_ids: list[int] = []
        self.provider_users: list[User] = []
        self.company_emails: dict[str, int] = {}
        for p, provider in enumerate(self.world.providers):
            member = await make_membership(self.marketplace)
            for s_index, status in provider.services.items():
                if status is not None:
                    await offer(
                        member,
                        await Service.get(id=self.service_ids[s_index]),
                        ProviderServiceStatus(status),
                    )
            await give_zone(member, postal_codes=(HERE if provider.in_zone else ELSEWHERE,))
            self.membership_ids.append(member.id)
            self.provider_users.append(await make_provider_user(member))
            self.company_emails[member.company.email] = p
        self.request_ids: list[int] = []
        self.visit_ids: list[int] = []
        self.last_event = 0
        self.last_job = 0
        self.mails_seen = 0
        self.mails: Counter[m.Mail] = Counter()
        self.events_checked = 0
        self.jobs_checked = 0
        self.enqueued_checked = 0

    async def provider(self, p: int) -> Actor:
        """The provider's user as the API sees it now (its membership may have changed)."""
        return await actor_of(self.provider_users[p], self.marketplace)

    def step(self, rule: str) -> None:
        self.rule = rule
        self.harness.steps += 1
        # Healthy again once the database agrees after this step (the final check needs it).
        self.healthy = False

    # --- rules -------------------------------------------------------------------------------

    @rule(service=st.integers(0, SERVICES - 1), lose=losses)
    def create_request(self, service: int, lose: bool) -> None:
        self.step("create_request")
        self.lose_jobs(lose)
        self.world.create_request(service)
        data = NewRequest(service_id=self.service_ids[service], postal_code=HERE, city="Paris")
        created = self.run(create_service_request(self.client, data))
        self.request_ids.append(created.id)

    @precondition(lambda self: self.some(*m.ANSWERABLE, asked=True))
    @rule(provider=anyone, request=anyone, lose=losses)
    def answer_interested(self, provider: int, request: int, lose: bool) -> None:
        self.answer(provider, request, interested=True, lose=lose)

    @precondition(lambda self: self.some(*m.ANSWERABLE, asked=True))
    @rule(provider=anyone, request=anyone, lose=losses)
    def answer_declined(self, provider: int, request: int, lose: bool) -> None:
        self.answer(provider, request, interested=False, lose=lose)

    @precondition(lambda self: self.some(*m.ANSWERABLE, asked=True))
    @rule(request=anyone, interested=st.lists(st.booleans(), min_size=2, max_size=4))
    def answers_in_a_row(self, request: int, interested: list[bool]) -> None:
        """The providers asked answer one after the other (the first ones, in turn)."""
        self.step("answer")
        q = self.answerable(request)
        for n, answer in enumerate(interested):
            asked = self.asked_available(q) or list(self.world.requests[q].dispatches) or [0]
            self.answer_now(asked[n % len(asked)], q, interested=answer)

    def answer(self, provider: int, request: int, *, interested: bool, lose: bool) -> None:
        """Mostly a provider asked and still available, on a request still taking answers."""
        self.step("answer")
        q = self.answerable(request)
        asked = self.asked_available(q) or list(self.world.requests[q].dispatches)
        p = self.choose(provider, asked, len(self.world.providers))
        self.lose_jobs(lose)
        self.answer_now(p, q, interested=interested)

    def asked_available(self, q: int) -> list[int]:
        """The providers asked for this request who may still answer it."""
        wanted = self.world.requests[q]
        providers = self.world.providers
        return [p for p in wanted.dispatches if providers[p].available_for(wanted.service)]

    def answerable(self, request: int) -> int:
        return self.choose(
            request,
            [
                k
                for k, r in enumerate(self.world.requests)
                if r.status in m.ANSWERABLE and r.dispatches
            ],
        )

    def answer_now(self, p: int, q: int, *, interested: bool) -> None:
        expected = self.world.answer(p, q, interested=interested)
        status = DispatchStatus.INTERESTED if interested else DispatchStatus.DECLINED

        async def work() -> None:
            await answers.respond_to_service_request(
                await self.provider(p),
                request_id=self.request_ids[q],
                answer=answers.Answer(status),
            )

        self.agree(expected, work())

    @precondition(lambda self: self.some(m.PROPOSAL_SENT))
    @rule(provider=anyone, request=anyone, lose=losses)
    def accept(self, provider: int, request: int, lose: bool) -> None:
        """Mostly a provider the client sees in a sent proposal."""
        self.step("accept")
        world = self.world
        q = self.choose(
            request, [k for k, r in enumerate(world.requests) if r.status == m.PROPOSAL_SENT]
        )
        named = [p for p, d in world.requests[q].dispatches.items() if d.proposed]
        p = self.choose(provider, named, len(world.providers))
        self.lose_jobs(lose)
        expected = world.accept(q, p)
        self.agree(
            expected,
            answers.accept_proposal(
                self.client, request_id=self.request_ids[q], membership_id=self.membership_ids[p]
            ),
        )

    @precondition(lambda self: self.some(*m.CANCELLABLE, at_least=2))
    @rule(request=anyone)
    def cancel(self, request: int) -> None:
        """Mostly the oldest request still open (the latest one goes on to its end)."""
        self.step("cancel")
        q = self.choose(
            request,
            [k for k, r in enumerate(self.world.requests) if r.status in m.CANCELLABLE][:1],
        )
        expected = self.world.cancel(q)
        self.agree(
            expected,
            cancel_service_request(self.client, request_id=self.request_ids[q], reason="No need"),
        )

    @precondition(lambda self: self.model is not None)
    @rule(delay=st.none() | delays, offset=st.sampled_from([0, -1, 1]))
    def advance(self, delay: timedelta | None, offset: int) -> None:
        """Move the clock, or to the next deadline (a second before, at, or after it)."""
        self.step("advance")
        world = self.world
        deadline = world.next_deadline()
        if delay is None and deadline is not None:
            delay = max(deadline + timedelta(seconds=offset) - world.now, timedelta(0))
        world.advance(delay or m.DAY)
        self.harness.now = world.now

    @precondition(lambda self: self.model is not None)
    @rule(how=st.sampled_from(["scheduler", "sweep", "two sweeps at once"]))
    def sweep(self, how: str) -> None:
        """The scheduler's tick (the outbox relay, then the sweep), a sweep alone (the relay
        is down), or two sweeps at once (two schedulers)."""
        self.step("sweep")
        if how == "scheduler":
            self.world.relay()
            self.run(jobs.relay_pending())
            self.run(jobs.drain())
        self.world.sweep()
        if how == "two sweeps at once":

            async def both() -> None:
                await asyncio.gather(sweep_dispatch_deadlines(), sweep_dispatch_deadlines())

            self.run(both())
        else:
            self.run(sweep_dispatch_deadlines())

    @precondition(lambda self: self.model is not None)
    @rule(provider=anyone, action=anyone, lose=losses)
    def lifecycle(self, provider: int, action: int, lose: bool) -> None:
        """Mostly a move the provider's status allows."""
        self.step("lifecycle")
        providers = self.world.providers
        p = self.choose(
            provider, [n for n, x in enumerate(providers) if x.status != m.DELETED], len(providers)
        )
        status = providers[p].status
        moves = sorted(m.LIFECYCLE)
        legal = [a for a in moves if status in m.LIFECYCLE[a][0]]
        chosen = moves[self.choose(action, [moves.index(a) for a in legal], len(moves))]
        self.lose_jobs(lose)
        expected = self.world.lifecycle(p, chosen)
        self.agree(expected, _LIFECYCLE[chosen](self.staff, membership_id=self.membership_ids[p]))

    @precondition(lambda self: self.busy_providers())
    @rule(provider=anyone, delete=st.booleans())
    def stop_a_busy_provider(self, provider: int, delete: bool) -> None:
        """Staff deactivate or delete a provider with work pending (a visit upcoming or in
        progress, or a request the client accepted with no visit yet): the guard's case,
        which random lifecycle moves rarely reach."""
        self.step("stop_busy")
        busy = self.busy_providers()
        p = busy[provider % len(busy)]
        chosen = "delete" if delete else "deactivate"
        expected = self.world.lifecycle(p, chosen)
        self.agree(expected, _LIFECYCLE[chosen](self.staff, membership_id=self.membership_ids[p]))

    def busy_providers(self) -> list[int]:
        if self.model is None:
            return []
        return [p for p in range(len(self.model.providers)) if self.model.pending_work(p)]

    @precondition(lambda self: self.model is not None)
    @rule(provider=anyone, service=st.integers(0, SERVICES - 1), to=anyone)
    def service_decision(self, provider: int, service: int, to: int) -> None:
        """Staff accept, reject or deactivate a provider's service, or the provider applies:
        mostly a move its status allows."""
        self.step("service_decision")
        p = self.choose(provider, [], len(self.world.providers))
        status = self.world.providers[p].services.get(service)
        moves = [m.DEACTIVATED, m.ACCEPTED, m.REJECTED, "apply"]
        legal = [
            n
            for n, move in enumerate(moves)
            if (move == "apply" and status in (None, m.REJECTED, m.DEACTIVATED))
            or (move != "apply" and status in m.SERVICE_DECISIONS[move])
        ]
        move = moves[self.choose(to, legal, len(moves))]
        if move == "apply":
            expected = self.world.apply_for_service(p, service)

            async def apply() -> None:
                await catalog.apply_for_service(await self.provider(p), self.service_ids[service])

            self.agree(expected, apply())
            return
        expected = self.world.decide_service(p, service, move)

        async def decide() -> None:
            row = await ProviderService.get_or_none(
                membership_id=self.membership_ids[p], service_id=self.service_ids[service]
            )
            await catalog.decide_provider_service(
                self.staff,
                row.id if row is not None else 0,
                to=ProviderServiceStatus(move),
                reason="Not for us" if move == m.REJECTED else "",
            )

        self.agree(expected, decide())

    @precondition(lambda self: self.model is not None)
    @rule(
        dispatch_enabled=st.none() | st.booleans(),
        proposals_required=st.none() | st.integers(1, 3),
        days_before_sending=st.none() | st.integers(0, 4),
        days_before_reminder=st.none() | st.integers(1, 3),
    )
    def change_settings(
        self,
        dispatch_enabled: bool | None,
        proposals_required: int | None,
        days_before_sending: int | None,
        days_before_reminder: int | None,
    ) -> None:
        self.step("change_settings")
        self.world.change_settings(
            dispatch_enabled=dispatch_enabled,
            proposals_required=proposals_required,
            days_before_sending=days_before_sending,
            days_before_reminder=days_before_reminder,
        )
        self.run(
            update_dispatch_settings(
                self.staff,
                dispatch_enabled=dispatch_enabled,
                proposals_required=proposals_required,
                days_before_sending=days_before_sending,
                days_before_reminder=days_before_reminder,
            )
        )

    @precondition(lambda self: self.some(m.ACCEPTED))
    @rule(request=anyone, by_provider=st.booleans())
    def schedule(self, request: int, by_provider: bool) -> None:
        """Staff or the chosen provider; mostly a request the client accepted."""
        self.step("schedule")
        world = self.world
        q = self.choose(
            request, [k for k, r in enumerate(world.requests) if r.status == m.ACCEPTED]
        )
        chosen = world.requests[q].selected
        by_provider = by_provider and chosen is not None
        expected = world.schedule(q, by_provider=by_provider)
        starts = world.now + m.DAY

        async def work() -> None:
            actor = self.staff if chosen is None or not by_provider else await self.provider(chosen)
            visits = await schedule_intervention(
                actor,
                request_id=self.request_ids[q],
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                price=Decimal("80.00"),
            )
            self.visit_ids.extend(v.id for v in visits)

        self.agree(expected, work())

    @precondition(lambda self: self.model is not None and self.model.visits)
    @rule(visit=anyone, to=anyone)
    def move_visit(self, visit: int, to: int) -> None:
        """Start, complete or cancel a visit: mostly a move its status allows."""
        self.step("move_visit")
        v = self.choose(visit, [], len(self.world.visits))
        moves = sorted(_VISIT)
        status = self.world.visits[v].status
        legal = [n for n, move in enumerate(moves) if status in m.VISIT_MOVES[move]]
        move = moves[self.choose(to, legal, len(moves))]
        expected = self.world.move_visit(v, move)
        self.agree(
            expected,
            change_intervention_status(
                self.staff, intervention_id=self.visit_ids[v], to=_VISIT[move], reason="Away"
            ),
        )

    # --- choosing among what exists ----------------------------------------------------------

    def some(self, *statuses: str, asked: bool = False, at_least: int = 1) -> bool:
        """Some requests are in one of these statuses (and sent to someone): the rule has
        something to do."""
        if self.model is None:
            return False
        found = [
            r for r in self.model.requests if r.status in statuses and (r.dispatches or not asked)
        ]
        return len(found) >= at_least

    def choose(self, n: int, preferred: list[int], among: int | None = None) -> int:
        """Mostly (4 times in 5) one of ``preferred``; else any of ``range(among)`` (by default
        the requests, the latest ones first: where things happen)."""
        if preferred and n % 5 != 4:
            return preferred[(n // 5) % len(preferred)]
        if among is None:
            requests = len(self.world.requests)
            return requests - 1 - (n % requests)
        return n % among

    def lose_jobs(self, lose: bool) -> None:
        """The process dies between the commit and the enqueue of this step's jobs (rarely)."""
        self.world.losing = self.harness.losing = lose

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        if self.model is None:
            return
        self.world.losing = self.harness.losing = False
        self.run(jobs.drain())
        self.run(self._agrees())
        self.healthy = True

    async def _agrees(self) -> None:
        world = self.world
        requests = {r.id: r for r in await ServiceRequest.filter(id__in=self.request_ids)}
        members = {mm.id: mm for mm in await Membership.filter(id__in=self.membership_ids)}
        dispatches = await Dispatch.filter(request_id__in=self.request_ids)
        by_pair = {(d.request_id, d.membership_id): d for d in dispatches}
        proposals = {
            pr.request_id: pr for pr in await Proposal.filter(request_id__in=self.request_ids)
        }
        services = {
            (row.membership_id, row.service_id): row
            for row in await ProviderService.filter(membership_id__in=self.membership_ids)
        }
        marketplace = await Marketplace.get(id=self.marketplace.id)
        assert marketplace.dispatch_enabled == world.settings.dispatch_enabled
        assert marketplace.proposals_required == world.settings.proposals_required

        for p, provider in enumerate(world.providers):
            member_id = self.membership_ids[p]
            assert members[member_id].status.value == provider.status, f"provider {p}"
            for s, status in provider.services.items():
                offered = services.get((member_id, self.service_ids[s]))
                assert (offered.status.value if offered else None) == status, f"provider {p} {s}"

        def available(member_id: int, service_id: int) -> bool:
            offered = services.get((member_id, service_id))
            return (
                members[member_id].status.value == m.ACCEPTED
                and offered is not None
                and offered.status is ProviderServiceStatus.ACCEPTED
            )

        for q, expected in enumerate(world.requests):
            request_id = self.request_ids[q]
            row = requests[request_id]
            seen = (row.status.value, row.round, row.send_proposal_at, row.remind_at)
            wanted = (
                expected.status,
                expected.round,
                expected.send_proposal_at,
                expected.remind_at,
            )
            assert seen == wanted, f"request {q}: (status, round, send, remind) {seen} != {wanted}"
            chosen = row.selected_membership_id
            assert chosen == (
                None if expected.selected is None else self.membership_ids[expected.selected]
            ), f"request {q}: selected"
            asked = {
                self.membership_ids.index(mid): (d.status.value, d.round, d.proposed_at is not None)
                for (rid, mid), d in by_pair.items()
                if rid == request_id
            }
            model_asked = {
                p: (d.status, d.round, d.proposed) for p, d in expected.dispatches.items()
            }
            assert asked == model_asked, f"request {q}: dispatches (status, round, proposed)"
            sent = proposals.get(request_id)
            assert (sent.trigger.value if sent else None) == expected.proposal, f"request {q}"
            if row.status.value == m.PROPOSAL_SENT:
                service_id = row.service_id
                named = [
                    mid
                    for (rid, mid), d in by_pair.items()
                    if rid == request_id
                    and d.proposed_at is not None
                    and d.status.value == m.INTERESTED
                ]
                stopped = [mid for mid in named if not available(mid, service_id)]
                assert not stopped, f"request {q}: the proposal names unavailable {stopped}"

        visits = {i.id: i for i in await Intervention.filter(id__in=self.visit_ids)}
        assert [visits[i].status.value for i in self.visit_ids] == [
            v.status for v in world.visits
        ], "visits"

        ids = await self._ids()
        logged = (
            await Event.filter(id__gt=self.last_event)
            .exclude(topic=NOTIFICATION_CREATED)
            .order_by("id")
        )
        if logged:
            self.last_event = logged[-1].id
        events = [self._event(e, ids) for e in logged]
        self.events_checked, new_events = len(world.events), world.events[self.events_checked :]
        assert events == new_events, "the event log differs from the model's changes"

        rows = await DispatchJob.filter(id__gt=self.last_job).order_by("id")
        if rows:
            self.last_job = rows[-1].id
        recorded = [self._job(r.actor_name, r.kwargs, ids) for r in rows]
        new_jobs = [j for j in world.jobs[self.jobs_checked :] if j[0] in m.DISPATCH_JOBS]
        self.jobs_checked = len(world.jobs)
        assert recorded == new_jobs, "the dispatch outbox differs from the model's facts"

        handed = Counter(self._job(name, kwargs, ids) for name, kwargs in self.harness.enqueued)
        self.harness.enqueued.clear()
        expected_handed = Counter(world.enqueued[self.enqueued_checked :])
        self.enqueued_checked = len(world.enqueued)
        assert handed == expected_handed, "jobs handed to the queue differ from the model's"

        self._read_mails()
        for key in set(self.mails) | set(world.mails) | set(world.mail_allowance):
            low, high = world.mails[key], world.mails[key] + world.mail_allowance[key]
            assert low <= self.mails[key] <= high, (
                f"e-mails {key}: {self.mails[key]} not in {low}..{high}"
            )

    async def _ids(self) -> dict[str, dict[int, Any]]:
        request_of = {rid: q for q, rid in enumerate(self.request_ids)}
        provider_of = {mid: p for p, mid in enumerate(self.membership_ids)}
        service_of = {sid: s for s, sid in enumerate(self.service_ids)}
        return {
            "request": request_of,
            "provider": provider_of,
            "visit": {vid: v for v, vid in enumerate(self.visit_ids)},
            "provider_service": {
                row.id: (provider_of[row.membership_id], service_of[row.service_id])
                for row in await ProviderService.filter(membership_id__in=self.membership_ids)
            },
            "dispatch": {
                d.id: (request_of[d.request_id], provider_of[d.membership_id])
                for d in await Dispatch.filter(request_id__in=self.request_ids)
            },
            "proposal": {
                pr.id: request_of[pr.request_id]
                for pr in await Proposal.filter(request_id__in=self.request_ids)
            },
            "audit": {
                a.id: provider_of[a.membership_id]
                for a in await MembershipAudit.filter(membership_id__in=self.membership_ids)
            },
        }

    @staticmethod
    def _event(event: Event, ids: dict[str, dict[int, Any]]) -> m.Event:
        payload = event.payload
        if event.topic == "service_request.dispatched":
            asked = frozenset(ids["provider"][int(a.split(":")[1])] for a in event.audience)
            return (event.topic, ids["request"][event.object_id], payload["round"], asked)
        if event.topic == "service_request.updated":
            return (
                event.topic,
                ids["request"][event.object_id],
                payload["change"],
                payload["status"],
            )
        if event.topic == "membership.updated":
            return (event.topic, ids["provider"][event.object_id])
        if event.topic == "provider_service.updated":
            return (event.topic, *ids["provider_service"][event.object_id], payload["status"])
        if event.topic == "intervention.updated":
            return (
                event.topic,
                ids["visit"][event.object_id],
                payload["change"],
                payload["status"],
            )
        return (event.topic, event.object_type, event.object_id)

    @staticmethod
    def _job(name: str, kwargs: dict[str, Any], ids: dict[str, dict[int, Any]]) -> m.Job:
        if name == "notify_dispatch_round":
            return (name, ids["request"][kwargs["request_id"]], kwargs["round"])
        if name == "send_proposal":
            return (name, ids["proposal"][kwargs["proposal_id"]])
        if name == "notify_proposal_extended":
            return (name, *ids["dispatch"][kwargs["dispatch_id"]])
        if name == "notify_selection":
            return (name, ids["request"][kwargs["request_id"]])
        if name == "notify_membership_change":
            return (name, ids["audit"][kwargs["audit_id"]])
        if name == "notify_proposal_withdrawn":
            return (name, *ids["dispatch"][kwargs["dispatch_id"]])
        if name == "notify_chosen_provider_unavailable":
            return (name, ids["request"][kwargs["request_id"]])
        return (name, tuple(sorted(kwargs.items())))

    def _read_mails(self) -> None:
        box = self.harness.mailbox
        with box.lock:
            fresh = box.messages[self.mails_seen :]
            self.mails_seen = len(box.messages)
        for message in fresh:
            to, subject = str(message["To"]), str(message["Subject"])
            if to == self.client_email:
                who: tuple[object, ...] = ("client",)
            elif to in self.company_emails:
                who = ("provider", self.company_emails[to])
            else:
                continue  # the same notice to a provider's users
            if subject.startswith(_NOTIFICATIONS):
                continue
            kind = next(
                (k for prefix, k in _MAIL_KINDS if subject.startswith(prefix)), "membership"
            )
            self.mails[(who, kind)] += 1

    def teardown(self) -> None:
        """Eventually, every lost job was handed again and done."""
        if self.model is None or not self.healthy:
            return
        self.healthy = False
        self.world.losing = self.harness.losing = False
        self.world.advance(m.JOB_RETRY_AFTER + timedelta(minutes=1))
        self.harness.now = self.world.now
        self.world.relay()
        self.run(jobs.relay_pending())
        self.run(jobs.drain())
        self.world.sweep()
        self.run(sweep_dispatch_deadlines())
        self.database_agrees_with_the_model()
        assert self.run(_count(JobOutbox.all())) == 0, "a job stayed in the outbox"
        assert self.run(_count(DispatchJob.filter(done_at=None))) == 0, "a dispatch job not done"


async def _count(query: QuerySet[Any]) -> int:
    return await query.count()


async def test_dispatch_agrees_with_its_model_over_random_sequences_of_every_action(
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    # Jobs lost on purpose are reported as warnings: expected here.
    for name in ("presta.jobs", "resolvers.dispatch.reminder"):
        caplog.set_level(logging.ERROR, logger=name)
    harness = Harness(loop=asyncio.get_running_loop(), mailbox=mailbox)
    real_enqueue = jobs.enqueue

    async def enqueue(actor_name: str, **kwargs: Any) -> None:
        if harness.losing:
            raise ConnectionError("the process died before enqueueing")
        if actor_name not in _NOT_MODELLED_JOBS:
            harness.enqueued.append((actor_name, kwargs))
        await real_enqueue(actor_name, **kwargs)

    monkeypatch.setattr(jobs, "enqueue", enqueue)
    monkeypatch.setattr(clock, "now", lambda: harness.now)
    DispatchMachine.harness = harness
    budget = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        print_blob=True,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    started, runs = time.monotonic(), 0
    try:
        while runs == 0 or harness.steps < MIN_STEPS:
            await asyncio.to_thread(run_state_machine_as_test, DispatchMachine, settings=budget)
            runs += 1
    finally:
        plugins = request.config.pluginmanager
        reporter, capture = (
            plugins.get_plugin("terminalreporter"),
            plugins.get_plugin("capturemanager"),
        )
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(
                    f"dispatch model: {harness.examples} examples, {harness.steps} steps "
                    f"({runs} run(s) of {EXAMPLES} examples of at most {STEPS} steps), "
                    f"{time.monotonic() - started:.1f} s"
                )
                reporter.write_line(
                    "dispatch model outcomes: "
                    + ", ".join(f"{k} {n}" for k, n in harness.outcomes.most_common())
                )
