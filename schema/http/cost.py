"""The static cost of a document: its fields once fragments expand, times the page sizes."""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

from presta.settings import settings


def expanded_size(document: Any) -> int:
    """Fields of the largest operation once its fragments are expanded, in linear time."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    sizes: dict[str, int | None] = {}

    def size(selection_set: SelectionSetNode | None) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += 1 + size(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += size(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in sizes:
                    sizes[name] = None  # a cycle counts nothing; validation refuses it
                    sizes[name] = size(fragment.selection_set)
                total += sizes.get(name) or 0
        return total

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return max((size(o.selection_set) for o in operations), default=0)


def static_limits(
    document: Any, variables: dict[str, Any], operation_name: str | None
) -> GraphQLError | None:
    """The error for the first page size or cost over its limit; None when all fit."""
    cfg = settings()
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if operation_name and operation.name and operation.name.value != operation_name:
            continue
        try:
            cost = _cost(operation.selection_set, fragments, variables, {}, cfg.max_page_size)
        except _PageTooLarge as exc:
            return GraphQLError(
                f"Page size {exc.size} is over the maximum of {cfg.max_page_size}.",
                extensions={"code": "PAGE_SIZE_EXCEEDED"},
            )
        if cost > cfg.max_query_cost:
            return GraphQLError(
                f"Query cost {cost} is over the limit of {cfg.max_query_cost}.",
                extensions={"code": "QUERY_TOO_COSTLY"},
            )
    return None


class _PageTooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def _cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    costs: dict[str, int | None],
    max_page: int,
) -> int:
    """Each field costs 1 plus its children times the page size it asks for.

    A fragment's cost is computed once (``costs``; None while in progress, which cuts
    cycles): fragments spreading each other twice over would else take exponential time.
    """
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            multiplier = 1
            for argument in selection.arguments or ():
                if argument.name.value in ("first", "last"):
                    size = _int_value(argument.value, variables)
                    if size is not None:
                        if size > max_page:
                            raise _PageTooLarge(size)
                        multiplier = max(size, 1)
            children = _cost(selection.selection_set, fragments, variables, costs, max_page)
            total += 1 + multiplier * children
        elif isinstance(selection, InlineFragmentNode):
            total += _cost(selection.selection_set, fragments, variables, costs, max_page)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None:
                continue
            if name not in costs:
                costs[name] = None
                costs[name] = _cost(fragment.selection_set, fragments, variables, costs, max_page)
            total += costs[name] or 0
    return total


def _int_value(node: Any, variables: dict[str, Any]) -> int | None:
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, VariableNode):
        value = variables.get(node.name.value)
        return value if isinstance(value, int) else None
    return None
