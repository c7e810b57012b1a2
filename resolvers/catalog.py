"""The service catalogue of a marketplace and the services each provider applies for."""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum

from models.catalog import ProviderService, ProviderServiceStatus, Service
from models.events import Event
from models.membership import Membership
from presta import clock
from presta.db import padded
from presta.i18n import _
from presta.statements import where_in
from presta.tx import AfterCommit, atomic
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.compiled.rules import Flag, Same, Via, all_of, any_of, visible_row, where
from resolvers.dispatch.proposal import withdraw_provider
from resolvers.errors import UserError, UserErrors, not_found
from resolvers.events import record_event, staff_audience
from resolvers.membership import split_files
from resolvers.pagination import Page, keyset_page
from resolvers.zone import visible_membership

SERVICE_UPDATED = "service.updated"
PROVIDER_SERVICE_UPDATED = "provider_service.updated"

S = ProviderServiceStatus
# Who may move a provider's service from which status: the provider applies (again after a
# rejection or a deactivation), staff decide.
_APPLY_FROM = {None, S.REJECTED, S.DEACTIVATED}
_STAFF_MOVES = {
    S.ACCEPTED: {S.PENDING, S.DEACTIVATED},
    S.REJECTED: {S.PENDING},
    S.DEACTIVATED: {S.ACCEPTED},
}


class CatalogErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    SERVICE_ARCHIVED = "SERVICE_ARCHIVED"
    ALREADY_APPLIED = "ALREADY_APPLIED"
    INVALID_TRANSITION = "INVALID_TRANSITION"


def _fields(name: str | None, category: str | None, description: str | None) -> dict[str, str]:
    errors: list[UserError] = []
    values: dict[str, str] = {}
    for key, value, limit in (
        ("name", name, 200),
        ("category", category, 100),
        ("description", description, 5000),
    ):
        if value is None:
            continue
        value = value.strip()
        if len(value) > limit or (key == "name" and not value):
            errors.append(
                UserError(
                    CatalogErrorCode.INVALID,
                    _(
                        "{field} must be {least} to {most} characters.",
                        field=key,
                        least=1 if key == "name" else 0,
                        most=limit,
                    ),
                    field=key,
                )
            )
        values[key] = value
    if errors:
        raise UserErrors(errors)
    return values


async def create_service(
    actor: Actor, *, name: str, category: str = "", description: str = ""
) -> Service:
    """Staff add a service to their marketplace's catalogue."""
    marketplace_id = actor.require_staff()
    values = _fields(name, category, description)
    async with atomic() as tx:
        service = Service(marketplace_id=marketplace_id, **values)
        await service.save()
        await _service_changed(tx, service)
    return service


async def update_service(
    actor: Actor,
    service_id: int,
    *,
    name: str | None = None,
    category: str | None = None,
    description: str | None = None,
) -> Service:
    """Staff rename or describe a service; omitted fields stay as they are."""
    marketplace_id = actor.require_staff()
    values = _fields(name, category, description)
    async with atomic() as tx:
        service = await _service_for_update(marketplace_id, service_id)
        if values:
            service.update_from_dict(values)
            await service.save(update_fields=list(values))
            await _service_changed(tx, service)
    return service


async def archive_service(actor: Actor, service_id: int) -> Service:
    """Staff archive a service: it takes no new requests and no new applications."""
    marketplace_id = actor.require_staff()
    async with atomic() as tx:
        service = await _service_for_update(marketplace_id, service_id)
        if service.archived_at is None:
            service.archived_at = clock.now()
            await service.save(update_fields=["archived_at"])
            await _service_changed(tx, service)
    return service


async def list_services(
    actor: Actor,
    *,
    include_archived: bool = False,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[Service]:
    """Anyone acting in the marketplace reads its catalogue, oldest first."""
    marketplace_id = actor.require_marketplace()
    query = Service.filter(marketplace_id=marketplace_id)
    if not include_archived:
        query = query.filter(archived_at=None)
    return await keyset_page(
        query, first=first, after=after, last=last, before=before, newest_first=False
    )


# Written once for the loaders and the compiled path: anyone acting in the marketplace reads
# its catalogue; an application, its staff and partners and the provider who applied.
SEES_SERVICE = all_of(Flag("is_authenticated"), Same("marketplace_id", "marketplace_id"))
SEES_PROVIDER_SERVICE = all_of(
    Flag("is_authenticated"),
    Via("service_id", Service, "id", Same("marketplace_id", "marketplace_id")),
    any_of(Flag("sees_whole_marketplace"), Same("membership_id", "membership_id")),
)


async def visible_services(actor: Actor, ids: list[int]) -> dict[int, Service]:
    if not ids:
        return {}
    return {s.id: s for s in await where(Service.filter(id__in=ids), SEES_SERVICE, actor)}


async def apply_for_service(actor: Actor, service_id: int) -> ProviderService:
    """A provider applies for a live service; again only after a rejection or deactivation."""
    actor.require_writer()
    marketplace_id, membership_id = actor.marketplace_id, actor.membership_id
    if marketplace_id is None or membership_id is None:
        raise not_found(_("Service"), field="serviceId")
    async with atomic() as tx:
        service = await Service.get_or_none(id=service_id, marketplace_id=marketplace_id)
        if service is None:
            raise not_found(_("Service"), field="serviceId")
        if service.archived_at is not None:
            raise UserError(
                CatalogErrorCode.SERVICE_ARCHIVED,
                _("This service is archived."),
                field="serviceId",
            )
        row = (
            await ProviderService.filter(membership_id=membership_id, service_id=service_id)
            .select_for_update()
            .first()
        )
        if row is not None and row.status not in _APPLY_FROM:
            raise UserError(
                CatalogErrorCode.ALREADY_APPLIED,
                _("Already {status} for this service.", status=row.status.value),
                field="serviceId",
            )
        if row is None:
            row = await ProviderService.create(
                membership_id=membership_id, service_id=service_id, status=S.PENDING
            )
        else:
            row.status, row.reason = S.PENDING, ""
            await row.save(update_fields=["status", "reason", "updated_at"])
        await _provider_service_changed(tx, row, marketplace_id)
    return row


async def decide_provider_service(
    actor: Actor, provider_service_id: int, *, to: ProviderServiceStatus, reason: str = ""
) -> ProviderService:
    """Staff accept, reject or deactivate a provider's service along the legal transitions."""
    marketplace_id = actor.require_staff()
    reason = reason.strip()
    if to is S.REJECTED and not reason:
        raise UserError(CatalogErrorCode.INVALID, _("Give a reason."), field="reason")
    if len(reason) > 2000:
        raise UserError(CatalogErrorCode.INVALID, _("Reason is too long."), field="reason")
    async with atomic() as tx:
        row = (
            await ProviderService.filter(
                id=provider_service_id, service__marketplace_id=marketplace_id
            )
            .select_for_update()
            .first()
        )
        if row is None:
            raise not_found(_("ProviderService"), field="providerServiceId")
        if row.status not in _STAFF_MOVES[to]:
            raise UserError(
                CatalogErrorCode.INVALID_TRANSITION,
                _(
                    "A {status} service cannot become {wanted}.",
                    status=row.status.value,
                    wanted=to.value,
                ),
                field="providerServiceId",
            )
        if to is not S.ACCEPTED:
            await withdraw_provider(
                tx,
                membership_id=row.membership_id,
                service_id=row.service_id,
                by=actor.user_id,
            )
        row.status, row.reason = to, reason
        await row.save(update_fields=["status", "reason", "updated_at"])
        event = await _provider_service_changed(tx, row, marketplace_id)
        if to in (S.ACCEPTED, S.REJECTED):
            tx.enqueue(
                "send_notification",
                kind=f"SERVICE_{to.value}",
                key=f"service:{row.id}:{event.id}",
                object_id=row.id,
            )
    return row


ServiceLine = tuple[Service, ProviderService | None]
_BY_NAME = ("name", "id")


async def membership_services(actor: Actor, membership_id: int) -> list[ServiceLine]:
    """The Services tab: every service of the marketplace with this provider's status."""
    membership = await visible_membership(actor, membership_id)
    lines = (await services_of_files(actor, [membership]))[membership.id]
    if isinstance(lines, Exception):
        raise lines
    return lines


async def services_by_id(actor: Actor, ids: list[int]) -> dict[int, Service]:
    """Services named by rows the actor may read (its requests, its visits)."""
    return {s.id: s for s in await where_in(Service, "id", padded(ids))}


async def services_of_files(
    actor: Actor, files: list[Membership]
) -> dict[int, list[ServiceLine] | Exception]:
    """The Services tab of several files (``membership_services``): the catalogue once, the
    applications in one go; a file the actor may not open gives its error instead."""
    allowed, denied = split_files(actor, files)
    result: dict[int, list[ServiceLine] | Exception] = dict(denied)
    if not allowed:
        return result
    marketplaces = sorted({m.marketplace_id for m in allowed})
    catalogue: dict[int, list[Service]] = defaultdict(list)
    for s in await where_in(Service, "marketplace_id", padded(marketplaces), order=_BY_NAME):
        catalogue[s.marketplace_id].append(s)
    applying = padded([m.id for m in allowed])
    applications: dict[tuple[int, int], ProviderService] = {
        (r.membership_id, r.service_id): r
        for r in await where_in(ProviderService, "membership_id", applying)
    }
    for m in allowed:
        result[m.id] = [(s, applications.get((m.id, s.id))) for s in catalogue[m.marketplace_id]]
    return result


async def visible_provider_services(actor: Actor, ids: list[int]) -> dict[int, ProviderService]:
    if not ids or actor.marketplace_id is None:
        return {}
    query = where(ProviderService.filter(id__in=ids), SEES_PROVIDER_SERVICE, actor)
    return {r.id: r for r in await query}


async def _service_for_update(marketplace_id: int, service_id: int) -> Service:
    service = (
        await Service.filter(id=service_id, marketplace_id=marketplace_id)
        .select_for_update()
        .first()
    )
    if service is None:
        raise not_found(_("Service"), field="serviceId")
    return service


async def _service_changed(tx: AfterCommit, service: Service) -> None:
    marketplace_id: int = service.marketplace_id
    await record_event(
        tx,
        topic=SERVICE_UPDATED,
        marketplace_id=marketplace_id,
        object_type="Service",
        object_id=service.id,
        audience=[staff_audience(marketplace_id)],
    )


async def _provider_service_changed(
    tx: AfterCommit, row: ProviderService, marketplace_id: int
) -> Event:
    membership_id: int = row.membership_id
    return await record_event(
        tx,
        topic=PROVIDER_SERVICE_UPDATED,
        marketplace_id=marketplace_id,
        object_type="ProviderService",
        object_id=row.id,
        audience=[staff_audience(marketplace_id), f"membership:{membership_id}"],
        payload={"status": row.status.value},
    )


# --- the compiled read path (``resolvers.compiled``) ---------------------------------------
# ``services_of_files``: the marketplace's whole catalogue by name, each line with the file's
# application or null. A line is the pair of aliases ``{t}_s`` (service) and ``{t}_p``
# (application).


def _services_tab(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    if not b.opened:  # refused or hidden for a file the actor does not open (sees_file)
        raise compiled.Fallback("a file not known to be opened")
    line = b.alias()
    body = b.object("MembershipService", line, s.selection_set)
    return (
        f"COALESCE((SELECT json_agg({body} ORDER BY {line}_s.name, {line}_s.id) "
        f"FROM service {line}_s LEFT JOIN provider_service {line}_p "
        f"ON {line}_p.membership_id = {alias}.id AND {line}_p.service_id = {line}_s.id "
        f"WHERE {line}_s.marketplace_id = {alias}.marketplace_id), '[]'::json)"
    )


def _line_service(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    return b.object("Service", f"{alias}_s", s.selection_set)


def _line_application(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    body = b.object("ProviderService", f"{alias}_p", s.selection_set)
    return f"CASE WHEN {alias}_p.id IS NULL THEN NULL ELSE {body} END"


compiled.declare_type(
    "Service",
    {
        "id": compiled.node_id("Service"),
        "name": compiled.column("{t}.name"),
        "category": compiled.column("{t}.category"),
        "description": compiled.column("{t}.description"),
        "archivedAt": compiled.column("{t}.archived_at", "datetime"),
        "createdAt": compiled.column("{t}.created_at", "datetime"),
    },
)
compiled.declare_type(
    "ProviderService",
    {
        "id": compiled.node_id("ProviderService"),
        "status": compiled.column("{t}.status"),
        "reason": compiled.column("{t}.reason"),
        "updatedAt": compiled.column("{t}.updated_at", "datetime"),
        "membershipId": compiled.node_id("Membership", "{t}.membership_id"),
        "serviceId": compiled.node_id("Service", "{t}.service_id"),
    },
)
compiled.declare_type(
    "MembershipService",
    {
        "service": _line_service,
        "status": compiled.column("{t}_p.status"),
        "providerService": _line_application,
    },
)
compiled.declare_type("Membership", {"services": _services_tab})


compiled.declare_node(
    "ProviderService", compiled.NodeRead(visible_row("provider_service", SEES_PROVIDER_SERVICE))
)
compiled.declare_node("Service", compiled.NodeRead(visible_row("service", SEES_SERVICE)))
