"""Every SQL statement tortoise sends for the code a block runs (statement-count tests)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Set in the counting task and inherited by the tasks it starts (loader batches), not by jobs
# and sweeps that run meanwhile.
_inside: ContextVar[bool] = ContextVar("inside", default=False)


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if _inside.get() and not message.startswith(("Created connection", "Closed connection")):
            self.statements.append(message)


@contextmanager
def counting() -> Iterator[list[str]]:
    """The statements, as tortoise logs them (BEGIN and COMMIT are not logged)."""
    logger = logging.getLogger("tortoise.db_client")
    handler, level = _Counter(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    token = _inside.set(True)
    try:
        yield handler.statements
    finally:
        _inside.reset(token)
        logger.removeHandler(handler)
        logger.setLevel(level)
