"""API conventions shared by every domain: global IDs, connections, user errors, payloads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from strawberry import relay

from presta.i18n import _
from resolvers.errors import CommonCode, UserError, UserErrors
from resolvers.pagination import Page

T = TypeVar("T")
P = TypeVar("P")
E = TypeVar("E", bound=Enum)


def decode_id(value: relay.GlobalID | str, expected: str, *, field: str = "id") -> int:
    """The database id behind a global ID of the expected type; anything else is not found."""
    try:
        gid = value if isinstance(value, relay.GlobalID) else relay.GlobalID.from_id(value)
        if gid.type_name != expected:
            raise ValueError(gid.type_name)
        number = int(gid.node_id)
        if not 0 < number < 2**63:  # a tampered id past BIGINT would fail in the database
            raise ValueError(number)
        return number
    except Exception:
        raise UserError(
            CommonCode.NOT_FOUND, _("{what} not found.", what=expected), field=field
        ) from None


def encode_id(type_name: str, pk: int) -> relay.GlobalID:
    return relay.GlobalID(type_name, str(pk))


@strawberry.type(description="Information to fetch the next or previous page of a connection.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow the last edge.")
    has_previous_page: bool = strawberry.field(description="Items precede the first edge.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge.")


@strawberry.type(description="An item of a connection with its opaque cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque cursor; pass it as `after` or `before`.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(
    description="A page of items, cursor-paginated (`first`/`after`, `last`/`before`)."
)
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with cursors.")
    page_info: PageInfo = strawberry.field(description="Where this page stands in the list.")

    @strawberry.field(description="The items of this page, without cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def connection(page: Page[Any], convert: Callable[[Any], T]) -> Connection[T]:
    edges = [Edge(cursor=page.cursor(item), node=convert(item)) for item in page.items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


@strawberry.interface(description="An expected failure of a mutation the client can act on.")
class UserErrorBase:
    field: str | None = strawberry.field(
        description="The input field at fault (camelCase), or null for the whole input."
    )
    message: str = strawberry.field(
        description="Human-readable explanation in the caller's language: the user's `locale`, "
        "else the one `Accept-Language` prefers (fr, en), else French."
    )


async def run_mutation(
    payload: Callable[..., P],
    error_type: Callable[..., Any],
    codes: type[StrEnum],
    action: Awaitable[dict[str, Any]],
) -> P:
    """Await a use case; map its ``UserError``s into the payload's ``userErrors``."""
    try:
        fields = await action
    except UserError as exc:
        return payload(user_errors=[_to_error(error_type, codes, exc)])
    except UserErrors as exc:
        return payload(user_errors=[_to_error(error_type, codes, e) for e in exc.errors])
    return payload(user_errors=[], **fields)


@dataclass(frozen=True, slots=True)
class Mutations:
    """How a domain's mutations run its use cases: ``await _run(Payload, use_case(...))``
    gives the payload, with the use case's ``UserError``s as the domain's error type."""

    error_type: Callable[..., Any]
    codes: type[StrEnum]

    async def __call__(self, payload: Callable[..., P], action: Awaitable[dict[str, Any]]) -> P:
        return await run_mutation(payload, self.error_type, self.codes, action)


def _to_error(error_type: Callable[..., Any], codes: type[StrEnum], exc: UserError) -> Any:
    return error_type(field=exc.field, message=exc.message, code=codes(exc.code.value))


def user_errors_field(description: str = "Expected failures; empty on success.") -> Any:
    return strawberry.field(description=description)


__all__: Sequence[str] = [
    "Connection",
    "Edge",
    "Mutations",
    "PageInfo",
    "UserErrorBase",
    "connection",
    "decode_id",
    "encode_id",
    "run_mutation",
]


# Arguments of every connection field.
First = Annotated[
    int | None, strawberry.argument(description="Page size from the start (max 100).")
]
After = Annotated[str | None, strawberry.argument(description="Cursor to continue after.")]
Last = Annotated[int | None, strawberry.argument(description="Page size from the end (max 100).")]
Before = Annotated[str | None, strawberry.argument(description="Cursor to continue before.")]
