"""Rules of who sees what, written once and read three ways: in Python over a loaded row
(``holds``), as a tortoise filter for the use cases and loaders of the standard executor
(``q``, ``where``), and as a SQL predicate over a row's alias with the actor's values as
parameters (the compiled path, ``predicate``).

A rule is a small tree: ``Flag`` (a boolean property of the actor), ``Same`` (a column of the
row equals a value of the actor that is not null), ``Within`` (a column of the row is among
the values another table holds for the actor: the requests sent to a provider), ``AnyOf``
and ``AllOf``. Every reading gives the same answer for every row and actor: a null on either
side of ``Same`` is false, as SQL's ``=`` with a null is not true (``COALESCE(…, false)``).
``Among`` (a column among constants), ``Missing`` (a null column) and ``Via`` (a column among
the values of another table's rows that another rule lets the actor see) read the row alone
or through another table. ``Within`` and ``Via`` need the database: ``holds`` refuses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise.expressions import Q, Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet

from resolvers.actor import Actor
from resolvers.compiled.builder import ActorKind, Builder, quote
from resolvers.policy import Principal

M = TypeVar("M", bound=Model)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Flag:
    """A boolean property of the actor (``sees_whole_marketplace``)."""

    actor: str


@dataclass(frozen=True, slots=True)
class Same:
    """The row's ``column`` equals the actor's ``actor`` value, which is not null."""

    column: str
    actor: str


@dataclass(frozen=True, slots=True)
class Within:
    """The row's ``column`` is one of ``model``'s ``select`` values on the rows whose
    ``where`` column equals the actor's ``actor`` value, which is not null."""

    column: str
    model: type[Model]
    select: str
    where: str
    actor: str


@dataclass(frozen=True, slots=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Among:
    """The row's ``column`` is one of constant ``values`` (a kind, a status: a null is none)."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Missing:
    """The row's ``column`` is null (not deleted: ``deleted_at``)."""

    column: str


@dataclass(frozen=True, slots=True)
class Via:
    """The row's ``column`` is one of ``model``'s ``select`` values on the rows that ``rule``
    lets the actor see: a message is seen through its conversation, a document through the
    files of its company."""

    column: str
    model: type[Model]
    select: str
    rule: Rule


Rule = Flag | Same | Within | AnyOf | AllOf | Among | Missing | Via


def any_of(*rules: Rule) -> AnyOf:
    return AnyOf(rules)


def all_of(*rules: Rule) -> AllOf:
    return AllOf(rules)


def holds(rule: Rule, actor: Actor, row: Any) -> bool:
    """The rule for a loaded row (a model instance)."""
    if isinstance(rule, Flag):
        return bool(getattr(actor, rule.actor))
    if isinstance(rule, Same):
        mine = getattr(actor, rule.actor)
        return mine is not None and getattr(row, rule.column) == mine
    if isinstance(rule, Within | Via):
        raise TypeError("a Within or Via rule reads the database: use q() or predicate()")
    if isinstance(rule, Among):
        return getattr(row, rule.column) in rule.values
    if isinstance(rule, Missing):
        return getattr(row, rule.column) is None
    if isinstance(rule, AnyOf):
        return any(holds(r, actor, row) for r in rule.rules)
    return all(holds(r, actor, row) for r in rule.rules)


def q(rule: Rule, actor: Actor) -> Q | bool:
    """The rule as a tortoise filter for this actor, or a constant when the actor's values
    alone decide it (a flag, a value the actor does not have)."""
    if isinstance(rule, Flag):
        return bool(getattr(actor, rule.actor))
    if isinstance(rule, Same | Within):
        mine = getattr(actor, rule.actor)
        if mine is None:
            return False
        if isinstance(rule, Same):
            return Q(**{rule.column: mine})
        inner: Any = Subquery(rule.model.filter(**{rule.where: mine}).values(rule.select))
        return Q(**{f"{rule.column}__in": inner})
    if isinstance(rule, Among):
        listed: Any = list(rule.values)
        return Q(**{f"{rule.column}__in": listed})
    if isinstance(rule, Missing):
        null: Any = True
        return Q(**{f"{rule.column}__isnull": null})
    if isinstance(rule, Via):
        seen = q(rule.rule, actor)
        if seen is False:
            return False
        rows = rule.model.all() if seen is True else rule.model.filter(seen)
        through: Any = Subquery(rows.values(rule.select))
        return Q(**{f"{rule.column}__in": through})
    either = isinstance(rule, AnyOf)
    kept = _kept([q(r, actor) for r in rule.rules], either=either)
    if isinstance(kept, bool):
        return kept
    return kept[0] if len(kept) == 1 else Q(*kept, join_type=Q.OR if either else Q.AND)


def _kept(parts: list[T | bool], *, either: bool) -> list[T] | bool:
    """The parts of an ``AnyOf`` (``either``) or ``AllOf`` still undecided, or its value when
    a constant part decides it (true in an ``AnyOf``, false in an ``AllOf``) or none is left."""
    decisive = either
    if decisive in parts:
        return decisive
    kept = [p for p in parts if not isinstance(p, bool)]
    return kept if kept else not either


def where(query: QuerySet[M], rule: Rule, actor: Actor) -> QuerySet[M]:
    """``query`` narrowed to the rows the rule lets the actor see."""
    found = q(rule, actor)
    if found is True:
        return query
    if found is False:
        return query.filter(pk__in=[])
    return query.filter(found)


def predicate(rule: Rule, b: Builder, alias: str) -> str:
    """The rule as a SQL condition on the row ``alias`` (never null)."""
    return f"COALESCE({_sql(rule, b, alias)}, false)"


def _sql(rule: Rule, b: Builder, alias: str) -> str:
    if isinstance(rule, Flag):
        name = rule.actor
        return b.param(lambda inputs: bool(getattr(inputs.actor, name)), "boolean")
    if isinstance(rule, Same):
        name = rule.actor
        mine = b.param(lambda inputs: getattr(inputs.actor, name), "bigint")
        return f"({alias}.{rule.column} = {mine})"
    if isinstance(rule, Within):
        name = rule.actor
        mine = b.param(lambda inputs: getattr(inputs.actor, name), "bigint")
        w, table = b.alias(), rule.model._meta.db_table
        return (
            f"({alias}.{rule.column} IN (SELECT {w}.{rule.select} FROM {table} {w} "
            f"WHERE {w}.{rule.where} = {mine}))"
        )
    if isinstance(rule, Among):
        listed = ", ".join(quote(v) for v in rule.values)
        return f"({alias}.{rule.column} IN ({listed}))"
    if isinstance(rule, Missing):
        return f"({alias}.{rule.column} IS NULL)"
    if isinstance(rule, Via):
        w, table = b.alias(), rule.model._meta.db_table
        return (
            f"({alias}.{rule.column} IN (SELECT {w}.{rule.select} FROM {table} {w} "
            f"WHERE {predicate(rule.rule, b, w)}))"
        )
    joiner = " OR " if isinstance(rule, AnyOf) else " AND "
    return "(" + joiner.join(f"COALESCE({_sql(r, b, alias)}, false)" for r in rule.rules) + ")"


# --- a fourth reading: the rule in a WHERE clause, folded for the actor's kind ---------------
# A plan is built per actor kind (``ActorKind``), so what the kind decides is known when the
# SQL is written: the flag of a reader of the whole marketplace, whether the actor has a
# marketplace, a provider's file, a client. Folded as ``q`` folds the tortoise filter, the
# condition left is the one the use case sends: plain comparisons an index serves.


def _has_client(kind: ActorKind) -> bool:
    # ``principals_of``: an actor is a CLIENT exactly when it has a client id (API keys none).
    return Principal.CLIENT in kind.principals


_FLAGS: dict[str, Callable[[ActorKind], bool]] = {
    "sees_whole_marketplace": lambda kind: kind.whole_marketplace,
}
_PRESENT: dict[str, Callable[[ActorKind], bool]] = {
    "marketplace_id": lambda kind: kind.in_marketplace,
    "membership_id": lambda kind: kind.provider,
    "client_id": _has_client,
}


def fold(rule: Rule, kind: ActorKind | None) -> Rule | bool:
    """The rule with what the actor's kind decides replaced by constants (None: nothing)."""
    if kind is None:
        return rule
    if isinstance(rule, Flag):
        known = _FLAGS.get(rule.actor)
        return rule if known is None else known(kind)
    if isinstance(rule, Same | Within):
        present = _PRESENT.get(rule.actor)
        return rule if present is None or present(kind) else False
    if isinstance(rule, Among | Missing):
        return rule
    if isinstance(rule, Via):
        # The inner rule is folded again where it is written (``_plain``).
        return False if fold(rule.rule, kind) is False else rule
    either = isinstance(rule, AnyOf)
    parts: list[Rule | bool] = [fold(r, kind) for r in rule.rules]
    kept: list[Rule] | bool = _kept(parts, either=either)
    if isinstance(kept, bool):
        return kept
    return kept[0] if len(kept) == 1 else AnyOf(tuple(kept)) if either else AllOf(tuple(kept))


def condition(rule: Rule, b: Builder, alias: str) -> str:
    """The rule as a condition of a WHERE clause or a ``CASE WHEN`` on the row ``alias``,
    folded for the plan's actor kind. Null counts as false there (there is no NOT in a rule),
    so no ``COALESCE`` hides the comparisons from the planner; ``predicate`` is the reading
    that is never null, for a value."""
    folded = fold(rule, b.kind)
    if isinstance(folded, bool):
        return "true" if folded else "false"
    return _plain(folded, b, alias)


def _plain(rule: Rule, b: Builder, alias: str) -> str:
    if isinstance(rule, AnyOf | AllOf):
        joiner = " OR " if isinstance(rule, AnyOf) else " AND "
        return "(" + joiner.join(_plain(r, b, alias) for r in rule.rules) + ")"
    if isinstance(rule, Via):
        w, table = b.alias(), rule.model._meta.db_table
        return (
            f"({alias}.{rule.column} IN (SELECT {w}.{rule.select} FROM {table} {w} "
            f"WHERE {condition(rule.rule, b, w)}))"
        )
    return _sql(rule, b, alias)


def visible_row(table: str, rule: Rule) -> Callable[[Builder], str]:
    """``node(id:)``'s source (``compiled.NodeRead``): the row of ``table`` named, if the rule
    lets the actor see it, as the domain's batch read (``where``) finds it."""

    def source(b: Builder) -> str:
        return f"FROM {table} {{c}} WHERE {{c}}.id = {{pk}} AND {condition(rule, b, '{c}')}"

    return source
