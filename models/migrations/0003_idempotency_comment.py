"""The PostgreSQL comment of ``idempotency_key``, which 0002's AlterModelOptions left stale
(tortoise runs no SQL for a changed model description)."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

COMMENT = "A creating mutation run under its caller's Idempotency-Key, and the response it gave."
PREVIOUS = "A mutation run under a key chosen by its caller, with the hash of its input and the"


def _comment(text: str) -> Any:
    async def run(apps: Any, schema_editor: Any) -> None:
        quoted = text.replace("'", "''")
        await schema_editor.client.execute_script(f"COMMENT ON TABLE idempotency_key IS '{quoted}'")

    return run


class Migration(migrations.Migration):
    dependencies = [("models", "0002_auto_20261127_0826")]

    initial = False

    operations = [ops.RunPython(_comment(COMMENT), _comment(PREVIOUS))]
