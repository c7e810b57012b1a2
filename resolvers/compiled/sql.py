"""Building blocks of declarations: columns encoded as strawberry writes them, related
objects and lists as correlated subqueries, and keyset connections (``keyset_page``) with
their cursors and page info."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from resolvers.compiled.builder import (
    Builder,
    Fallback,
    Getter,
    Inputs,
    Read,
    Selected,
    build_object,
    quote,
)
from resolvers.compiled.plans import decode_global_id


def column(template: str, kind: str = "plain") -> Read:
    """A value of the row: ``template`` with ``{t}`` the row's alias, encoded as ``kind``."""

    def read(_b: Builder, alias: str, _s: Selected) -> str:
        return encode(template.format(t=alias), kind)

    return read


def encode(sql: str, kind: str) -> str:
    """``sql`` as strawberry writes a value of that kind in JSON."""
    if kind == "datetime":
        return iso_datetime(sql)
    if kind == "date":
        return f"to_char({sql}, 'YYYY-MM-DD')"
    if kind == "decimal":
        return f"({sql})::text"
    return sql


def iso_datetime(sql: str) -> str:
    """Python's ``datetime.isoformat()`` of a UTC timestamptz (null stays null)."""
    utc = f"({sql}) AT TIME ZONE 'UTC'"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        f"CASE WHEN extract(microseconds FROM {utc})::bigint % 1000000 = 0 THEN '' "
        f"ELSE to_char({utc}, '.US') END || '+00:00')"
    )


def global_id(type_name: str, key_sql: str) -> str:
    """strawberry's Relay global id: base64 of ``Type:id`` (no line breaks)."""
    return (
        f"translate(encode(convert_to('{type_name}:' || ({key_sql})::text, 'UTF8'), "
        f"'base64'), E'\\n', '')"
    )


def cursor(key_sql: str) -> str:
    """``resolvers.pagination.encode_cursor``: URL-safe base64 of ``k:id``."""
    return (
        f"translate(encode(convert_to('k:' || ({key_sql})::text, 'UTF8'), 'base64'), "
        f"E'+/\\n', '-_')"
    )


def node_id(type_name: str, key: str = "{t}.id") -> Read:
    def read(_b: Builder, alias: str, _s: Selected) -> str:
        return global_id(type_name, key.format(t=alias))

    return read


def one(type_name: str, source: str) -> Read:
    """A related object or null: ``source`` is ``FROM … WHERE …`` with ``{t}`` the parent and
    ``{c}`` the child's alias."""

    def read(b: Builder, alias: str, s: Selected) -> str:
        child = b.alias()
        body = b.object(type_name, child, s.selection_set)
        return f"(SELECT {body} {source.format(t=alias, c=child)})"

    return read


def many(type_name: str, source: str, order: str) -> Read:
    """A list of objects, never null: ``order`` with ``{c}`` the child's alias."""

    def read(b: Builder, alias: str, s: Selected) -> str:
        child = b.alias()
        body = b.object(type_name, child, s.selection_set)
        return (
            f"COALESCE((SELECT json_agg({body} ORDER BY {order.format(c=child)}) "
            f"{source.format(t=alias, c=child)}), '[]'::json)"
        )

    return read


def page_size(max_size: Callable[[], int], first: Getter) -> Getter:
    """``first`` checked as ``keyset_page`` checks it: out of range is left to it."""

    def size(inputs: Inputs) -> int:
        value = first(inputs)
        if value is None:
            return 20
        if not isinstance(value, int) or not 0 <= value <= max_size():
            raise Fallback("page size")
        return value

    return size


def after_key(decode: Callable[[str], int], after: Getter) -> Getter:
    def key(inputs: Inputs) -> int | None:
        value = after(inputs)
        if value is None:
            return None
        try:
            found = decode(value)
        except Exception:
            raise Fallback("cursor") from None
        if not -(2**63) <= found < 2**63:
            raise Fallback("cursor past BIGINT")
        return found

    return key


def keyset_connection(
    node_type: str,
    rows: str,
    *,
    max_size: Callable[[], int],
    decode_cursor: Callable[[str], int],
    extra: Callable[[Builder, Selected], dict[str, str]] | None = None,
    allowed: tuple[str, ...] = ("first", "after"),
) -> Read:
    """A connection read forward, newest first, by id: ``rows`` is ``FROM … WHERE …`` over
    ``{c}`` (the parent ``{t}``; ``{p:name}`` a placeholder from ``extra``)."""

    def read(b: Builder, alias: str, s: Selected) -> str:
        node = s.node
        checks = b.arguments_absent(node, allowed)
        size = page_size(max_size, b.argument(node, "first"))
        after = after_key(decode_cursor, b.argument(node, "after"))

        def checked_size(inputs: Inputs) -> int:
            for check in checks:
                check(inputs)
            found: int = size(inputs)
            return found

        n = b.param(checked_size, "int")
        after_p = b.param(after, "bigint")
        named = extra(b, s) if extra is not None else {}
        child, kept = b.alias(), b.alias()
        filled = {name: sql.format(t=alias, c=child) for name, sql in named.items()}
        source = rows.format(t=alias, c=child, **filled)
        fetched = (
            f"SELECT {child}.* {source} AND ({after_p} IS NULL OR {child}.id < {after_p}) "
            f"ORDER BY {child}.id DESC LIMIT {n} + 1"
        )
        pairs: list[str] = []
        for part in b.fields(f"{node_type}Connection", s.selection_set):
            if part.name == "__typename":
                pairs.append(f"'{part.key}', '{node_type}Connection'")
            elif part.name == "pageInfo":
                pairs.append(f"{quote(part.key)}, {_page_info(b, part, kept, n, after_p)}")
            elif part.name in ("edges", "nodes"):
                pairs.append(f"{quote(part.key)}, {_items(b, node_type, part, kept, n)}")
            else:
                raise Fallback(f"{node_type}Connection.{part.name}")
        return f"(WITH {kept} AS ({fetched}) SELECT {build_object(pairs)})"

    return read


def _kept(kept: str, n: str) -> str:
    return f"(SELECT * FROM {kept} ORDER BY id DESC LIMIT {n})"


def _page_info(b: Builder, part: Selected, kept: str, n: str, after: str) -> str:
    pairs: list[str] = []
    for info in b.fields("PageInfo", part.selection_set):
        key = quote(info.key)
        if info.name == "__typename":
            pairs.append(f"{key}, 'PageInfo'")
        elif info.name == "hasNextPage":
            pairs.append(f"{key}, (SELECT count(*) FROM {kept}) > {n}")
        elif info.name == "hasPreviousPage":
            pairs.append(f"{key}, {after} IS NOT NULL")
        elif info.name in ("startCursor", "endCursor"):
            direction = "DESC" if info.name == "startCursor" else "ASC"
            pairs.append(
                f"{key}, (SELECT {cursor('k.id')} FROM {_kept(kept, n)} k "
                f"ORDER BY k.id {direction} LIMIT 1)"
            )
        else:
            raise Fallback(f"PageInfo.{info.name}")
    return build_object(pairs)


def _items(b: Builder, node_type: str, part: Selected, kept: str, n: str) -> str:
    row = b.alias()
    if part.name == "nodes":
        body = b.object(node_type, row, part.selection_set)
    else:
        pairs: list[str] = []
        for piece in b.fields(f"{node_type}Edge", part.selection_set):
            key = quote(piece.key)
            if piece.name == "__typename":
                pairs.append(f"{key}, '{node_type}Edge'")
            elif piece.name == "cursor":
                pairs.append(f"{key}, {cursor(f'{row}.id')}")
            elif piece.name == "node":
                pairs.append(f"{key}, {b.object(node_type, row, piece.selection_set)}")
            else:
                raise Fallback(f"{node_type}Edge.{piece.name}")
        body = build_object(pairs)
    return (
        f"COALESCE((SELECT json_agg({body} ORDER BY {row}.id DESC) "
        f"FROM {_kept(kept, n)} {row}), '[]'::json)"
    )


# --- arguments of filters, as the use cases take them ---------------------------------------
# A value the use case would refuse (an id of another type, a malformed day) is left to it.


def given(b: Builder, s: Selected, name: str, convert: Callable[[Any], Any]) -> Getter:
    """The argument ``name`` per request, converted."""
    get = b.argument(s.node, name)
    return lambda inputs: convert(get(inputs))


def as_text(value: Any) -> str | None:
    """A string or an enum value (a variable's is coerced, a literal's is its name)."""
    if value is None:
        return None
    found = str(getattr(value, "value", value))
    if "\x00" in found:
        raise Fallback("NUL in a text argument")
    return found


def as_day(value: Any) -> date | None:
    """A ``Date``: coerced for a variable, its ISO text for a literal."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise Fallback("malformed date") from None


def day_after(value: Any) -> date | None:
    day = as_day(value)
    if day is None:
        return None
    if day == date.max:
        raise Fallback("the day after the last one")
    return day + timedelta(days=1)


def id_of(type_name: str) -> Callable[[Any], int | None]:
    """The number of a global id of ``type_name`` (``schema.base.decode_id``)."""

    def number(value: Any) -> int | None:
        if value is None:
            return None
        found, pk = decode_global_id(value)
        if found != type_name:
            raise Fallback(f"an id of {found} for {type_name}")
        return pk

    return number
