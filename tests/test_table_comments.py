"""On PostgreSQL each table's comment is its model's description, as migrations leave it."""

from __future__ import annotations

from tortoise import Tortoise, connections


async def test_every_table_comment_is_its_models_current_description():
    rows = await connections.get("default").execute_query_dict(
        "SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS comment "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r'"
    )
    comments = {r["name"]: r["comment"] for r in rows}
    stale = {
        model._meta.db_table: (comments.get(model._meta.db_table), model._meta.table_description)
        for model in Tortoise.apps["models"].values()
        if model._meta.table_description
        and comments.get(model._meta.db_table) != model._meta.table_description
    }
    assert stale == {}
