"""Every SQL statement tortoise sends for the code a block runs (statement-count tests)."""

from __future__ import annotations

import asyncio
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
        if (
            _inside.get()
            and not _in_a_job()
            and not message.startswith(("Created connection", "Closed connection"))
        ):
            self.statements.append(message)


def _in_a_job() -> bool:
    """Whether the statement comes from a job the block enqueued, running in this process
    (``presta.jobs``): it inherits the block's context, but is no part of what it measures."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return False
    return task is not None and getattr(task.get_coro(), "__name__", "") == "_run_inline"


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
