"""``serviceRequestDispatched`` compiled (``resolvers.compiled.live``): for one event, the
request as sent to one provider, under the rule of ``core.dispatch_for_provider`` (its own
dispatch of the event's request, while its file is accepted in the acting marketplace) and of
the live path's role check (the user still on its company's account), or null. Every provider
woken by the event gets its row of one statement."""

from __future__ import annotations

from models.membership import MembershipStatus
from resolvers import compiled
from resolvers.compiled.live import declare_subscription
from resolvers.dispatch.core import REQUEST_DISPATCHED
from resolvers.events import event_cursor


def _cursor(b: compiled.Builder, _alias: str, _s: compiled.Selected) -> str:
    def cursor(inputs: compiled.Inputs) -> str:
        assert inputs.event is not None
        return event_cursor(int(inputs.event["id"]))

    return f"to_json({b.param(cursor, 'text')})"


def _dispatch(b: compiled.Builder, alias: str, s: compiled.Selected) -> str:
    return b.object("Dispatch", alias, s.selection_set)


compiled.declare_type(
    "ServiceRequestDispatchedEvent",
    {
        "cursor": _cursor,
        "serviceRequest": compiled.one(
            "ServiceRequest", "FROM service_request {c} WHERE {c}.id = {t}.request_id"
        ),
        "dispatch": _dispatch,
    },
)


def _dispatched(b: compiled.Builder, _alias: str, s: compiled.Selected) -> str:
    if not (b.kind.provider and b.kind.in_marketplace):
        raise compiled.Fallback("serviceRequestDispatched is for providers in a marketplace")
    if b.arguments_absent(s.node, allowed=("after",)):
        raise compiled.Fallback("an argument given by a variable")

    def request_id(inputs: compiled.Inputs) -> int:
        assert inputs.event is not None
        return int(inputs.event["object_id"])

    request = b.param(request_id, "bigint")
    membership = b.param(lambda i: i.actor.membership_id, "bigint")
    marketplace = b.param(lambda i: i.actor.marketplace_id, "bigint")
    user = b.param(lambda i: i.actor.user_id, "bigint")
    d, m, r, u = b.alias(), b.alias(), b.alias(), b.alias()
    body = b.object("ServiceRequestDispatchedEvent", d, s.selection_set)
    return (
        f"(SELECT {body} FROM dispatch {d} "
        f"JOIN membership {m} ON {m}.id = {d}.membership_id "
        f"JOIN service_request {r} ON {r}.id = {d}.request_id "
        f"WHERE {d}.request_id = {request} AND {d}.membership_id = {membership} "
        f"AND {m}.status = '{MembershipStatus.ACCEPTED.value}' "
        f"AND {r}.marketplace_id = {marketplace} "
        # Still on its company's account (``schema.http.live``'s check on the standard path).
        f"AND EXISTS (SELECT 1 FROM account_user {u} WHERE {u}.id = {user} "
        f"AND {u}.provider_company_id = {m}.company_id AND {u}.is_active))"
    )


declare_subscription("serviceRequestDispatched", _dispatched, topics=[REQUEST_DISPATCHED])
