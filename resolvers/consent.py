"""Marketing consent (GDPR): per membership and channel, granted or withdrawn, never erased."""

from __future__ import annotations

from enum import StrEnum

from tortoise.queryset import QuerySet

from models.consent import ConsentChannel, ConsentRecord, ConsentState
from models.membership import Membership, MembershipStatus
from presta import clock
from presta.db import padded
from presta.i18n import _
from presta.tx import atomic
from resolvers import compiled
from resolvers.actor import Actor
from resolvers.compiled.rules import Among, Flag, Same, Via, all_of, any_of, visible_row, where
from resolvers.errors import UserError, UserErrors, not_found
from resolvers.membership import LIVE, split_files
from resolvers.pagination import Page, keyset_page

MAX_LABEL = 64


class ConsentErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"


# Written once for the use cases (``where``) and the compiled path (``condition``): a live
# file's consent is read by staff and partners of its marketplace and the provider itself,
# and changed by its staff (not partner keys) and the provider.
_LIVE_FILE = all_of(Same("marketplace_id", "marketplace_id"), Among("status", LIVE))
READS_CONSENT = all_of(
    _LIVE_FILE, any_of(Same("id", "membership_id"), Flag("sees_whole_marketplace"))
)
WRITES_CONSENT = all_of(_LIVE_FILE, any_of(Same("id", "membership_id"), Flag("is_staff")))
SEES_CONSENT_RECORD = all_of(
    Via("membership_id", Membership, "id", Same("marketplace_id", "marketplace_id")),
    any_of(Flag("sees_whole_marketplace"), Same("membership_id", "membership_id")),
)


async def _membership_for(actor: Actor, membership_id: int, *, write: bool) -> Membership:
    """Staff of its marketplace (any partner key to read) or the provider itself."""
    actor.require_marketplace()
    if write:
        actor.require_writer()
    rule = WRITES_CONSENT if write else READS_CONSENT
    membership = await where(Membership.filter(id=membership_id), rule, actor).first()
    if membership is None:
        raise not_found(_("Membership"), field="membershipId")
    return membership


def _label(value: str, field: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= MAX_LABEL:
        raise UserError(
            ConsentErrorCode.INVALID,
            _("Give 1 to {most} characters.", most=MAX_LABEL),
            field=field,
        )
    return value


async def set_marketing_consent(
    actor: Actor,
    *,
    membership_id: int,
    channel: ConsentChannel,
    granted: bool,
    wording_version: str,
    source: str,
) -> ConsentRecord:
    """Append a grant or withdrawal and make it the consent in force, in one transaction
    (the record is returned with who recorded it)."""
    errors: list[UserError] = []
    labels: dict[str, str] = {}
    for field, value in (("wordingVersion", wording_version), ("source", source)):
        try:
            labels[field] = _label(value, field)
        except UserError as exc:
            errors.append(exc)
    membership = await _membership_for(actor, membership_id, write=True)
    if errors:
        raise UserErrors(errors)
    async with atomic():
        # Changes of one membership's consent queue on its row: the state follows the last record.
        await Membership.filter(id=membership.id).select_for_update().first()
        record = await ConsentRecord.create(
            membership=membership,
            channel=channel,
            granted=granted,
            wording_version=labels["wordingVersion"],
            source=labels["source"],
            actor_id=actor.user_id,
        )
        await ConsentState.update_or_create(
            membership_id=membership.id,
            channel=channel,
            defaults={
                "marketplace_id": membership.marketplace_id,
                "granted": granted,
                "record_id": record.id,
                "updated_at": clock.now(),
            },
        )
    await record.fetch_related("actor")
    return record


async def consent_history(
    actor: Actor,
    *,
    membership_id: int,
    channel: ConsentChannel | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[ConsentRecord]:
    """Every grant and withdrawal of a membership, newest first: who, when, which wording."""
    membership = await _membership_for(actor, membership_id, write=False)
    query = ConsentRecord.filter(membership_id=membership.id).select_related("actor")
    if channel is not None:
        query = query.filter(channel=channel)
    return await keyset_page(query, first=first, after=after, last=last, before=before)


async def current_consent(actor: Actor, *, membership_id: int) -> list[ConsentState]:
    """The consent in force on each channel that has a record."""
    membership = await _membership_for(actor, membership_id, write=False)
    return await ConsentState.filter(membership_id=membership.id).select_related("record")


async def consent_of_files(
    actor: Actor, files: list[Membership]
) -> dict[int, list[ConsentState] | Exception]:
    """The consent in force on each channel of several files (the GDPR tab); a file the
    actor may not open gives its error instead."""
    allowed, denied = split_files(actor, files)
    result: dict[int, list[ConsentState] | Exception] = dict(denied)
    found: dict[int, list[ConsentState]] = {m.id: [] for m in allowed}
    if allowed:
        rows = ConsentState.filter(membership_id__in=padded([m.id for m in allowed]))
        for state in await rows.select_related("record").order_by("id"):
            found[state.membership_id].append(state)
    result.update(found)
    return result


def consented_memberships_query(
    marketplace_id: int, channel: ConsentChannel
) -> QuerySet[Membership]:
    """Who has consented now: ONE indexed query over the consent in force (marketing sends)."""
    return Membership.filter(
        marketplace_id=marketplace_id,
        consent_states__channel=channel,
        consent_states__granted=True,
    ).exclude(status=MembershipStatus.DELETED)


async def consented_memberships(
    actor: Actor,
    *,
    channel: ConsentChannel,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[Membership]:
    """Staff: the providers who accept marketing on a channel right now."""
    marketplace_id = actor.require_reader()
    return await keyset_page(
        consented_memberships_query(marketplace_id, channel).select_related(
            "company", "marketplace"
        ),
        first=first,
        after=after,
        last=last,
        before=before,
    )


async def visible_consent_records(actor: Actor, ids: list[int]) -> list[ConsentRecord]:
    """Staff and partners see their marketplace's records, a provider its membership's."""
    if actor.marketplace_id is None or not ids:
        return []
    query = where(ConsentRecord.filter(id__in=ids), SEES_CONSENT_RECORD, actor)
    return await query.select_related("actor")


# --- the compiled read path (``resolvers.compiled``) ---------------------------------------
# A record by ``node(id:)`` (``SEES_CONSENT_RECORD``) and a file's GDPR tab
# (``consent_of_files``: a file the actor opens, its states by id).


def _recorded_by(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    u = b.alias()
    return f"(SELECT {u}.email FROM account_user {u} WHERE {u}.id = {alias}.actor_id)"


def _consent_tab(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    if not b.opened:  # refused for a file the actor does not open (sees_file)
        raise compiled.Fallback("a file not known to be opened")
    return compiled.many(
        "ConsentStatus", "FROM consent_state {c} WHERE {c}.membership_id = {t}.id", "{c}.id"
    )(b, alias, s)


def _wording(b: compiled.Builder, alias: str, _s: compiled.Selected) -> str:
    r = b.alias()
    return f"(SELECT {r}.wording_version FROM consent_record {r} WHERE {r}.id = {alias}.record_id)"


compiled.declare_type(
    "ConsentRecord",
    {
        "id": compiled.node_id("ConsentRecord"),
        "membershipId": compiled.node_id("Membership", "{t}.membership_id"),
        "channel": compiled.column("{t}.channel"),
        "granted": compiled.column("{t}.granted"),
        "wordingVersion": compiled.column("{t}.wording_version"),
        "source": compiled.column("{t}.source"),
        "recordedBy": _recorded_by,
        "createdAt": compiled.column("{t}.created_at", "datetime"),
    },
)
compiled.declare_type(
    "ConsentStatus",
    {
        "channel": compiled.column("{t}.channel"),
        "granted": compiled.column("{t}.granted"),
        "wordingVersion": _wording,
        "since": compiled.column("{t}.updated_at", "datetime"),
    },
)
compiled.declare_type("Membership", {"consent": _consent_tab})
compiled.declare_node(
    "ConsentRecord", compiled.NodeRead(visible_row("consent_record", SEES_CONSENT_RECORD))
)
