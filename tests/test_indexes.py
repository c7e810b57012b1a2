"""Every foreign key a read or a cascade follows has an index that starts with it.

A key without one makes each lookup by it a scan of the whole table: authenticating a
provider read every membership of the bench's 50,000 to find its company's (the index on
``(marketplace_id, company_id)`` does not start with the company), and every client of the
marketplace to find a user's; a dashboard scanned all answers for each request's history.
The columns left without an index name who acted (kept for the record, never looked up: users
are deactivated, never deleted) or are only compared with ``<>``.
"""

from __future__ import annotations

from tortoise import connections

UNINDEXED = {
    # Who acted: written once, never a filter, and their user is never deleted.
    ("account_api_key", "created_by_id"),
    ("account_client", "created_by_id"),
    ("client_consent_record", "actor_id"),
    ("colleague_invitation", "accepted_by_id"),
    ("colleague_invitation", "invited_by_id"),
    ("commission_rate", "created_by_id"),
    ("consent_record", "actor_id"),
    ("dispatch", "assigned_by_id"),
    ("dispatch_answer_audit", "user_id"),
    ("document", "uploaded_by_id"),
    ("document_review", "reviewed_by_id"),
    ("invitation", "accepted_by_id"),
    ("invitation", "created_by_id"),
    ("membership_audit", "actor_id"),
    ("service_request", "created_by_id"),
    ("terms_version", "published_by_id"),
    ("webhook_endpoint", "created_by_id"),
    ("zone_restriction", "restricted_by_id"),
    # Read only as "not sent by the viewer" (unread counts), never by equality.
    ("message", "sender_id"),
}

_UNINDEXED_KEYS = """
SELECT c.conrelid::regclass::text, a.attname
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
  AND NOT EXISTS (
    SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1]
  )
"""


async def test_every_followed_foreign_key_has_an_index() -> None:
    _, rows = await connections.get("default").execute_query(_UNINDEXED_KEYS)
    assert {(row[0], row[1]) for row in rows} == UNINDEXED
