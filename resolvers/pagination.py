"""Keyset pagination over a queryset ordered by id (feeds: newest first)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar

from tortoise.queryset import QuerySet

from presta.i18n import _
from presta.settings import settings
from presta.statements import select
from resolvers.errors import CommonCode, UserError

T = TypeVar("T")


class Paging(TypedDict):
    """Where a page starts and how long it is, as the connection's arguments give it."""

    first: int | None
    after: str | None
    last: int | None
    before: str | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_next_page: bool
    has_previous_page: bool

    def cursor(self, item: Any) -> str:
        return encode_cursor(item.id)


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"k:{key}".encode()).decode()


def decode_cursor(cursor: str, *, field: str) -> int:
    try:
        kind, _sep, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "k":
            raise ValueError(cursor)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise UserError(CommonCode.INVALID, _("Malformed cursor."), field=field) from None


async def keyset_page(
    query: QuerySet[Any],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    newest_first: bool = True,
    shape: Hashable | None = None,
    params: Sequence[Any] = (),
) -> Page[Any]:
    """One page in id order; ``first``/``after`` walk forward, ``last``/``before`` backward.

    A page that every app opening asks for names the ``shape`` of ``query`` and its
    ``params`` (``presta.statements``): its SQL is then built once per way of paging it."""
    limit_max = settings().max_page_size
    if first is not None and last is not None:
        raise UserError(CommonCode.INVALID, _("Give first or last, not both."), field="last")
    size = first if first is not None else last if last is not None else 20
    if not 0 <= size <= limit_max:
        raise UserError(
            CommonCode.INVALID,
            _("Page size must be between 0 and {most}.", most=limit_max),
            field="first" if first is not None else "last",
        )
    forward = last is None
    # "Forward" in the list's own order; for newest-first lists that means descending ids.
    descending = newest_first == forward
    keys: list[int] = []
    if after is not None:
        keys.append(key := decode_cursor(after, field="after"))
        query = query.filter(id__lt=key) if newest_first else query.filter(id__gt=key)
    if before is not None:
        keys.append(key := decode_cursor(before, field="before"))
        query = query.filter(id__gt=key) if newest_first else query.filter(id__lt=key)
    query = query.order_by("-id" if descending else "id").limit(size + 1)
    if shape is None:
        rows = await query
    else:
        paging = (shape, after is not None, before is not None, newest_first, descending)
        rows = await select(paging, [*params, *keys, size + 1], lambda: query)
    more = len(rows) > size
    rows = rows[:size]
    if not forward:
        rows.reverse()
    return Page(
        items=rows,
        has_next_page=more if forward else before is not None,
        has_previous_page=after is not None if forward else more,
    )
