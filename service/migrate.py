"""Bring a database up to date: the migrations, then the reference data the code expects."""

from __future__ import annotations

from presta import db
from presta.settings import Settings, settings
from resolvers.document import ensure_document_types


async def migrate(cfg: Settings | None = None) -> None:
    cfg = cfg or settings()
    await db.migrate_db(cfg)
    # The document-type catalogue is written through fully initialised models.
    await db.init_db(cfg)
    try:
        await ensure_document_types()
    finally:
        await db.close_db()
