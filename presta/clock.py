"""The current time, injectable so tests move the clock instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    return (_frozen or datetime.now(UTC)) + _offset


def freeze(at: datetime | None = None) -> None:
    """Stop the clock at ``at``, by default now to the second (tests only: an answer that
    shows the time, or signs with it, must be the same when asked twice)."""
    global _frozen
    _frozen = at or datetime.now(UTC).replace(microsecond=0)


def advance(delta: timedelta) -> None:
    """Move the clock forward (tests only)."""
    global _offset
    _offset += delta


def reset() -> None:
    global _offset, _frozen
    _offset = timedelta(0)
    _frozen = None
