"""Rules of who sees what, written once and read two ways: in Python over a loaded row (the
use cases and loaders of the standard executor) and as a SQL predicate over a row's alias
with the actor's values as parameters (the compiled path).

A rule is a small tree: ``Flag`` (a boolean property of the actor), ``Same`` (a column of the
row equals a value of the actor that is not null), ``AnyOf`` and ``AllOf``. Both readings
give the same answer for every row and actor: a null on either side of ``Same`` is false, as
SQL's ``=`` with a null is not true (``COALESCE(…, false)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resolvers.actor import Actor
from resolvers.compiled.builder import Builder


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
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    rules: tuple[Rule, ...]


Rule = Flag | Same | AnyOf | AllOf


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
    if isinstance(rule, AnyOf):
        return any(holds(r, actor, row) for r in rule.rules)
    return all(holds(r, actor, row) for r in rule.rules)


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
    joiner = " OR " if isinstance(rule, AnyOf) else " AND "
    return "(" + joiner.join(f"COALESCE({_sql(r, b, alias)}, false)" for r in rule.rules) + ")"
