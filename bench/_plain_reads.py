"""The baseline of ``bench.reads``: the dashboard and providers screen by hand, no GraphQL.

Plain Starlette + asyncpg + orjson: the bearer token and the acting marketplace are checked,
then each list is one hand-written SQL statement, and the JSON is the one Presta returns for
``bench.queries`` (ids and cursors encoded the same way). The request body is read but not
parsed: the route says which screen is asked for.

    BENCH_DATABASE_URL=... BENCH_SECRET=... uvicorn bench._plain_reads:app
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_pool: asyncpg.Pool | None = None
ROWS = 20


def gid(kind: str, pk: int) -> str:
    return base64.b64encode(f"{kind}:{pk}".encode()).decode()


def cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"k:{pk}".encode()).decode()


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dec(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def _json(data: Any) -> Response:
    return Response(orjson.dumps({"data": data}), media_type="application/json")


def _user_id(request: Request) -> int | None:
    auth = request.headers.get("authorization", "")
    try:
        claims = jwt.decode(auth[7:], os.environ["BENCH_SECRET"], algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    return int(claims["sub"])


_MEMBERSHIP = """
SELECT ms.id, ms.status, ms.terms_version_accepted, mk.id AS marketplace_id,
       mk.name AS marketplace_name, pc.name AS company_name,
       (SELECT max(number) FROM terms_version t WHERE t.marketplace_id = mk.id) AS terms
FROM account_user u
JOIN membership ms ON ms.company_id = u.provider_company_id AND ms.status <> 'DELETED'
JOIN marketplace mk ON mk.id = ms.marketplace_id AND mk.slug = $2
JOIN provider_company pc ON pc.id = ms.company_id
WHERE u.id = $1 AND u.is_active
ORDER BY ms.id
"""
_SERVICES = """
SELECT s.id, s.name, ps.status FROM service s
LEFT JOIN provider_service ps ON ps.service_id = s.id AND ps.membership_id = $2
WHERE s.marketplace_id = $1 ORDER BY s.name, s.id
"""
_REQUESTS = """
SELECT r.id, r.status, r.city, r.postal_code, r.description, r.created_at,
       r.selected_membership_id, s.name AS service_name, c.full_name, c.phone,
       d.id AS dispatch_id, d.status AS d_status, d.message, d.price, d.answered_at
FROM dispatch d
JOIN service_request r ON r.id = d.request_id
JOIN service s ON s.id = r.service_id
JOIN account_client c ON c.id = r.client_id
WHERE d.membership_id = $1
ORDER BY r.id DESC LIMIT $2
"""
_ANSWERS = """
SELECT dispatch_id, to_status, created_at FROM dispatch_answer_audit
WHERE dispatch_id = ANY($1::bigint[]) ORDER BY id
"""
_INTERVENTIONS = """
SELECT i.id, i.status, i.starts_at, i.ends_at, i.price, s.name AS service_name
FROM intervention i JOIN service s ON s.id = i.service_id
WHERE i.membership_id = $1 ORDER BY i.id DESC LIMIT $2
"""
_CONVERSATIONS = """
SELECT c.id, c.kind, cl.full_name AS client_name, c.last_message_at,
       m.text, m.sender_name, m.sender_id, m.created_at,
       (SELECT count(*) FROM message u
        LEFT JOIN conversation_participant p ON p.conversation_id = u.conversation_id
             AND p.user_id = $2
        WHERE u.conversation_id = c.id AND u.id > coalesce(p.last_read_message_id, 0)
          AND (u.sender_id IS NULL OR u.sender_id <> $2)) AS unread
FROM conversation c
LEFT JOIN account_client cl ON cl.id = c.client_id
LEFT JOIN message m ON m.id = c.last_message_id
WHERE c.membership_id = $1
ORDER BY c.id DESC LIMIT $3
"""


async def dashboard(request: Request) -> Response:
    await request.body()
    user_id = _user_id(request)
    if user_id is None:
        return _json({"myMemberships": []})
    assert _pool is not None
    slug = request.headers.get("x-marketplace", "")
    async with _pool.acquire() as db:
        memberships = []
        for m in await db.fetch(_MEMBERSHIP, user_id, slug):
            memberships.append(await _membership(db, m, user_id, slug))
    return _json({"myMemberships": memberships})


async def _membership(db: Any, m: Any, user_id: int, slug: str) -> dict[str, Any]:
    services = await db.fetch(_SERVICES, m["marketplace_id"], m["id"])
    requests = await db.fetch(_REQUESTS, m["id"], ROWS + 1)
    history: dict[int, list[dict[str, Any]]] = {r["dispatch_id"]: [] for r in requests}
    for a in await db.fetch(_ANSWERS, list(history)):
        history[a["dispatch_id"]].append(
            {"toStatus": a["to_status"], "createdAt": _ts(a["created_at"])}
        )
    interventions = await db.fetch(_INTERVENTIONS, m["id"], ROWS + 1)
    conversations = await db.fetch(_CONVERSATIONS, m["id"], user_id, ROWS + 1)
    shown = requests[:ROWS]
    return {
        "id": gid("Membership", m["id"]),
        "status": m["status"],
        "marketplaceName": m["marketplace_name"],
        "mustAcceptTerms": m["terms"] is not None
        and (m["terms_version_accepted"] or 0) < m["terms"],
        "company": {"name": m["company_name"]},
        "services": [
            {"status": s["status"], "service": {"id": gid("Service", s["id"]), "name": s["name"]}}
            for s in services
        ],
        "requests": {
            "pageInfo": {
                "hasNextPage": len(requests) > ROWS,
                "endCursor": cursor(shown[-1]["id"]) if shown else None,
            },
            "nodes": [
                {
                    "id": gid("ServiceRequest", r["id"]),
                    "status": r["status"],
                    "city": r["city"],
                    "postalCode": r["postal_code"],
                    "description": r["description"],
                    "createdAt": _ts(r["created_at"]),
                    "service": {"name": r["service_name"]},
                    "client": {"fullName": r["full_name"], "phone": r["phone"]}
                    if r["selected_membership_id"] == m["id"]
                    else None,
                    "myDispatch": {
                        "status": r["d_status"],
                        "message": r["message"],
                        "price": _dec(r["price"]),
                        "answeredAt": _ts(r["answered_at"]),
                        "answerHistory": history[r["dispatch_id"]],
                    },
                }
                for r in shown
            ],
        },
        "interventions": {
            "nodes": [
                {
                    "id": gid("Intervention", i["id"]),
                    "status": i["status"],
                    "startsAt": _ts(i["starts_at"]),
                    "endsAt": _ts(i["ends_at"]),
                    "price": _dec(i["price"]),
                    "companyName": m["company_name"],
                    "service": {"name": i["service_name"]},
                }
                for i in interventions[:ROWS]
            ]
        },
        "conversations": {
            "nodes": [
                {
                    "id": gid("Conversation", c["id"]),
                    "kind": c["kind"],
                    "clientName": c["client_name"],
                    "lastMessageAt": _ts(c["last_message_at"]),
                    "unreadCount": c["unread"],
                    "lastMessage": None
                    if c["text"] is None
                    else {
                        "text": c["text"],
                        "senderName": c["sender_name"],
                        "sentByViewer": c["sender_id"] == user_id,
                        "createdAt": _ts(c["created_at"]),
                    },
                }
                for c in conversations[:ROWS]
            ]
        },
    }


_COUNTS = """
SELECT status, count(*) FROM membership WHERE marketplace_id = $1 GROUP BY status
"""
_PROVIDERS = """
SELECT ms.id, ms.status, ms.applied_at, ms.created_at, ms.company_id,
       pc.name, pc.siret, pc.email
FROM membership ms JOIN provider_company pc ON pc.id = ms.company_id
WHERE ms.marketplace_id = $1 AND ms.status <> 'DELETED'
ORDER BY ms.id DESC LIMIT $2
"""
_OFFERS = """
SELECT m.id AS membership_id, ps.status, s.name
FROM membership m JOIN service s ON s.marketplace_id = m.marketplace_id
LEFT JOIN provider_service ps ON ps.membership_id = m.id AND ps.service_id = s.id
WHERE m.id = ANY($1::bigint[]) ORDER BY m.id, s.name, s.id
"""
_STAFF = """
SELECT sm.marketplace_id FROM account_staff_member sm
JOIN marketplace mk ON mk.id = sm.marketplace_id AND mk.slug = $2
JOIN account_user u ON u.id = sm.user_id AND u.is_active
WHERE sm.user_id = $1
"""
_DOCUMENTS = """
SELECT m.id AS membership_id,
       CASE WHEN count(r.id) = 0 THEN 'VALID'
            WHEN bool_or(d.id IS NULL) THEN 'MISSING'
            WHEN bool_or(d.expires_on < current_date) THEN 'EXPIRED'
            WHEN bool_or(d.expires_on < current_date + 30) THEN 'EXPIRING_SOON'
            ELSE 'VALID' END AS state
FROM membership m
LEFT JOIN required_document_type r ON r.marketplace_id = m.marketplace_id
LEFT JOIN LATERAL (SELECT id, expires_on FROM document WHERE company_id = m.company_id
                   AND document_type_id = r.document_type_id ORDER BY id DESC LIMIT 1) d ON true
WHERE m.id = ANY($1::bigint[]) GROUP BY m.id
"""


async def providers(request: Request) -> Response:
    await request.body()
    user_id = _user_id(request)
    assert _pool is not None
    slug = request.headers.get("x-marketplace", "")
    async with _pool.acquire() as db:
        market = await db.fetchval(_STAFF, user_id, slug) if user_id else None
        if market is None:
            return _json(None)
        counts = {r["status"]: r["count"] for r in await db.fetch(_COUNTS, market)}
        rows = await db.fetch(_PROVIDERS, market, 50 + 1)
        shown = rows[:50]
        ids = [r["id"] for r in shown]
        offers: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        for o in await db.fetch(_OFFERS, ids):
            offers[o["membership_id"]].append(
                {"status": o["status"], "service": {"name": o["name"]}}
            )
        documents = {r["membership_id"]: r["state"] for r in await db.fetch(_DOCUMENTS, ids)}
    return _json(
        {
            "providerCounts": {
                "invited": counts.get("INVITED", 0),
                "applied": counts.get("APPLIED", 0),
                "accepted": counts.get("ACCEPTED", 0),
                "suspended": counts.get("SUSPENDED", 0),
                "deactivated": counts.get("DEACTIVATED", 0),
                "total": sum(n for s, n in counts.items() if s != "DELETED"),
            },
            "providers": {
                "pageInfo": {
                    "hasNextPage": len(rows) > 50,
                    "endCursor": cursor(shown[-1]["id"]) if shown else None,
                },
                "edges": [
                    {
                        "cursor": cursor(r["id"]),
                        "node": {
                            "id": gid("Membership", r["id"]),
                            "status": r["status"],
                            "appliedAt": _ts(r["applied_at"]),
                            "createdAt": _ts(r["created_at"]),
                            "documentState": documents.get(r["id"]),
                            "company": {
                                "name": r["name"],
                                "siret": r["siret"],
                                "email": r["email"],
                            },
                            "services": offers[r["id"]],
                        },
                    }
                    for r in shown
                ],
            },
        }
    )


@contextlib.asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    global _pool
    _pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=2, max_size=20)
    try:
        yield
    finally:
        await _pool.close()


app = Starlette(
    routes=[
        Route("/dashboard", dashboard, methods=["POST"]),
        Route("/providers", providers, methods=["POST"]),
    ],
    lifespan=lifespan,
)
