"""Who sees a client: the client itself and its marketplace's staff (and partner keys).

Providers never read a client as such: a chosen provider sees the few fields its requests
show (``resolvers.dispatch.reads.clients_of``)."""

from __future__ import annotations

from tortoise.expressions import Q

from models.account import Client
from presta import clock, db
from presta.db import padded
from presta.i18n import _
from presta.settings import settings
from presta.tx import atomic
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.client.onboarding import ClientErrorCode
from resolvers.compiled.rules import (
    Flag,
    Same,
    all_of,
    any_of,
    condition,
    holds,
    visible_row,
    where,
)
from resolvers.errors import UserError, not_found
from resolvers.pagination import Page, decode_cursor, keyset_page

MAX_SEARCH = 100


# Written once for the loaders (``where``, ``holds``) and the compiled path (``condition``).
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


# --- the compiled read path (``resolvers.compiled``) ---------------------------------------
# The staff list (``list_clients`` without a search) and ``node(id:)``, both ``SEES_CLIENT``;
# a client's tabs are their domains' (its conversations: ``resolvers.messaging.inbox``).


def _now(b: compiled.Builder) -> str:
    return b.param(lambda _inputs: clock.now(), "timestamptz")


def _invitation_pending(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    """``onboarding.invitation_pending`` at the clock's now."""
    return (
        f"COALESCE({alias}.user_id IS NULL AND {alias}.erased_at IS NULL "
        f"AND {alias}.invitation_expires_at > {_now(b)}, false)"
    )


def _seen(b: compiled.Builder, _s: compiled.Selected) -> dict[str, str]:
    return {"seen": condition(SEES_CLIENT, b, "{c}")}


def _consent(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    """``gdpr.consent_of_clients``: the latest record on each channel, by channel (every
    client read here is one the actor sees)."""
    r, line = b.alias(), b.alias()
    latest = (
        f"SELECT DISTINCT ON ({r}.channel) {r}.* FROM client_consent_record {r} "
        f"WHERE {r}.client_id = {alias}.id ORDER BY {r}.channel, {r}.id DESC"
    )
    body = b.object("ClientConsent", line, s.selection_set)
    return (
        f'COALESCE((SELECT json_agg({body} ORDER BY {line}.channel COLLATE "C") '
        f"FROM ({latest}) {line}), '[]'::json)"
    )


compiled.declare_type(
    "ClientConsent",
    {
        "channel": compiled.column("{t}.channel"),
        "granted": compiled.column("{t}.granted"),
        "wordingVersion": compiled.column("{t}.wording_version"),
        "since": compiled.column("{t}.created_at", "datetime"),
    },
)
compiled.declare_type(
    "Client",
    {
        "consent": _consent,
        "id": compiled.node_id("Client"),
        "fullName": compiled.column("{t}.full_name"),
        "email": compiled.column("{t}.email"),
        "phone": compiled.column("{t}.phone"),
        "hasLogin": compiled.column("({t}.user_id IS NOT NULL)"),
        "invitationPending": _invitation_pending,
        "createdAt": compiled.column("{t}.created_at", "datetime"),
        "erasedAt": compiled.column("{t}.erased_at", "datetime"),
    },
)
compiled.declare_root(
    "clients",
    compiled.readers_only(
        compiled.keyset_connection(
            "Client",
            "FROM account_client {c} WHERE {seen} AND {c}.erased_at IS NULL",
            max_size=lambda: settings().max_page_size,
            decode_cursor=lambda value: decode_cursor(value, field="after"),
            extra=_seen,
        )
    ),
)
compiled.declare_node("Client", compiled.NodeRead(visible_row("account_client", SEES_CLIENT)))
