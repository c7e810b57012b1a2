"""Rules of who sees what, written once and read three ways: in Python over a loaded row
(``holds``), as a tortoise filter for the use cases and loaders of the standard executor
(``q``, ``where``), and as a SQL predicate over a row's alias with the actor's values as
parameters (the compiled path, ``predicate``).

A rule is a small tree: ``Flag`` (a boolean property of the actor), ``Same`` (a column of the
row equals a value of the actor that is not null), ``Within`` (a column of the row is among
the values another table holds for the actor: the requests sent to a provider), ``AnyOf``
and ``AllOf``. Every reading gives the same answer for every row and actor: a null on either
side of ``Same`` is false, as SQL's ``=`` with a null is not true (``COALESCE(…, false)``).
``Within`` needs the database: ``holds`` refuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise.expressions import Q, Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet

from resolvers.actor import Actor
from resolvers.compiled.builder import ActorKind, Builder
from resolvers.policy import Principal

M = TypeVar("M", bound=Model)


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


Rule = Flag | Same | Within | AnyOf | AllOf


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
    if isinstance(rule, Within):
        raise TypeError("a Within rule reads the database: use q() or predicate()")
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
    parts = [q(r, actor) for r in rule.rules]
    decisive, neutral = (True, False) if isinstance(rule, AnyOf) else (False, True)
    if decisive in parts:
        return decisive
    kept = [p for p in parts if not isinstance(p, bool)]
    if not kept:
        return neutral
    if len(kept) == 1:
        return kept[0]
    return Q(*kept, join_type=Q.OR if isinstance(rule, AnyOf) else Q.AND)


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
    parts = [fold(r, kind) for r in rule.rules]
    decisive, neutral = (True, False) if isinstance(rule, AnyOf) else (False, True)
    if decisive in parts:
        return decisive
    kept = [p for p in parts if not isinstance(p, bool)]
    if not kept:
        return neutral
    if len(kept) == 1:
        return kept[0]
    return AnyOf(tuple(kept)) if isinstance(rule, AnyOf) else AllOf(tuple(kept))


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
    return _sql(rule, b, alias)
