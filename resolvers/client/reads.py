"""Who sees a client: the client itself and its marketplace's staff (and partner keys).

Providers never read a client as such: a chosen provider sees the few fields its requests
show (``resolvers.dispatch.reads.clients_of``)."""

from __future__ import annotations

from tortoise.expressions import Q

from models.account import Client
from presta import db
from presta.db import padded
from presta.i18n import _
from presta.tx import atomic
from resolvers.actor import Actor
from resolvers.client.onboarding import ClientErrorCode
from resolvers.compiled.rules import Flag, Same, all_of, any_of, holds, where
from resolvers.errors import UserError, not_found
from resolvers.pagination import Page, keyset_page

MAX_SEARCH = 100


# Written once for the loaders (``where``, ``holds``) and the compiled path (``predicate``).
SEES_CLIENT = all_of(
    Same("marketplace_id", "marketplace_id"),
    any_of(Flag("sees_whole_marketplace"), Same("id", "client_id")),
)


def sees_client(actor: Actor, client: Client) -> bool:
    """The rule, for one row: the client itself, or staff and partners of its marketplace."""
    return holds(SEES_CLIENT, actor, client)


async def visible_clients(actor: Actor, ids: list[int]) -> list[Client]:
    """The clients of ``ids`` the actor may see (``sees_client``), for a batch."""
    if not ids or actor.marketplace_id is None:
        return []
    return list(await where(Client.filter(id__in=padded(sorted(set(ids)))), SEES_CLIENT, actor))


async def get_client(actor: Actor, client_id: int, *, field: str = "clientId") -> Client:
    """One client the actor may see; any other reads as absent."""
    found = await visible_clients(actor, [client_id])
    if not found:
        raise not_found(_("Client"), field=field)
    return found[0]


async def list_clients(
    actor: Actor,
    *,
    search: str | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[Client]:
    """Staff page through their marketplace's clients, newest first, optionally those whose
    name, e-mail or phone contains ``search`` (any case). Erased clients are left out."""
    marketplace_id = actor.require_reader()
    query = Client.filter(marketplace_id=marketplace_id, erased_at=None)
    term = (search or "").strip()
    if len(term) > MAX_SEARCH:
        raise UserError(
            ClientErrorCode.INVALID,
            _("Search at most {most} characters.", most=MAX_SEARCH),
            field="search",
        )
    if not term:
        return await keyset_page(query, first=first, after=after, last=last, before=before)
    query = query.filter(
        Q(full_name__icontains=term) | Q(email__icontains=term) | Q(phone__icontains=term)
    )
    async with atomic():
        # After five runs PostgreSQL may keep a generic plan, blind to the pattern: it walks
        # the marketplace's clients instead of the trigram indexes (300 ms instead of 4 at
        # 100k clients, bench/clients.py). Each search is planned for its own pattern.
        await db.rows("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
        return await keyset_page(query, first=first, after=after, last=last, before=before)
