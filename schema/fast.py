"""Direct resolvers for nested fields that need none of strawberry's per-call machinery.

Strawberry routes every field that has a resolver through the same wrapper: it builds an
``Info``, converts the arguments, chains the field extensions and awaits the result in a
coroutine of its own. A nested field without arguments and without extensions (most of them:
``service``, ``company``, ``myDispatch``, ``nodes``...) needs none of that, and a list of 20
rows resolves hundreds of them per operation. This pass, run once when the schema is built,
gives such fields a resolver that calls the method directly: the same call strawberry would
make (``self`` the source, ``info`` when asked for), and an awaitable result is awaited by
graphql-core as before. Root fields keep their policy gate; anything unusual keeps
strawberry's wrapper. A coroutine resolver is run eagerly (``_eagerly``): when what it awaits
is already loaded, its value is returned at once.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLObjectType, GraphQLResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

Resolver = Callable[..., Any]


def install(schema: strawberry.Schema) -> int:
    """Replace the wrapper of every eligible nested field; returns how many were replaced."""
    core = schema._schema
    roots = {core.query_type, core.mutation_type, core.subscription_type}
    replaced = 0
    for gtype in core.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype in roots:
            continue
        if gtype.name.startswith("__"):
            continue
        for gfield in gtype.fields.values():
            direct = _direct(gfield)
            if direct is not None:
                gfield.resolve = direct
                replaced += 1
    return replaced


def _direct(gfield: GraphQLField) -> Resolver | None:
    field = (gfield.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(field, StrawberryField) or gfield.args:
        return None
    resolver = field.base_resolver
    if resolver is None or field.extensions or field.arguments:
        return None
    target = resolver.wrapped_func
    call: Resolver = target if inspect.isfunction(target) else resolver
    takes_self = resolver.self_parameter is not None
    source_param = resolver.root_parameter or resolver.parent_parameter
    source_name = source_param.name if source_param is not None else None
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None

    if inspect.iscoroutinefunction(target):
        call = _eagerly(call)
    if info_name is None and source_name is None:
        if takes_self:
            return lambda source, _info: call(source)
        return lambda _source, _info: call()

    def with_context(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        kwargs: dict[str, Any] = {}
        if source_name is not None:
            kwargs[source_name] = source
        if info_name is not None:
            kwargs[info_name] = strawberry.Info(_raw_info=info, _field=field)
        return call(source, **kwargs) if takes_self else call(**kwargs)

    return with_context


def _eagerly(call: Resolver) -> Resolver:
    """``call`` for a coroutine function, run at once up to its first wait.

    graphql-core handles an awaitable result through a coroutine of its own, and the items of
    a list through a task each; a resolver whose data is at hand (a loader's row already
    loaded, a page already read) then costs as much as one that queries. Run eagerly, such a
    resolver returns its value and graphql-core goes on synchronously; one that does wait
    returns an awaitable that resumes it, and its loader's batch has already been scheduled.
    Its first step runs in the caller's context, not in a copy as a task's would: resolvers
    of nested fields read, they set no context variable (no transaction, for one).
    """

    def run(*args: Any, **kwargs: Any) -> Any:
        coro = call(*args, **kwargs)
        try:
            waiting_for = coro.send(None)
        except StopIteration as done:
            return done.value
        return _Resumed(coro, waiting_for)

    return run


class _Resumed:
    """The rest of a coroutine that stopped at ``waiting_for`` (a future, or None for a bare
    yield), for the task that awaits this to drive."""

    __slots__ = ("_coro", "_waiting_for")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_for: Any) -> None:
        self._coro = coro
        self._waiting_for = waiting_for
        if isinstance(waiting_for, asyncio.Future):
            # No task holds it yet: another coroutine may await the same future meanwhile
            # (two rows naming the same service), which asyncio refuses while it is marked.
            waiting_for._asyncio_future_blocking = False

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting_for = self._coro, self._waiting_for
        while True:
            if isinstance(waiting_for, asyncio.Future):
                waiting_for._asyncio_future_blocking = True  # handed to the task below
            try:
                sent = yield waiting_for
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation included: the coroutine sees it
                try:
                    waiting_for = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting_for = coro.send(sent)
                except StopIteration as done:
                    return done.value
