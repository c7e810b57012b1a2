"""strawberry's Schema with extension hooks wrapped once per extension class, and errors
logged by our rule (``schema.http.masking.log_errors``).

strawberry inspects every hook of every extension and wraps it in a new context-manager
function (``functools.wraps`` included) on every request, for the same result each time:
about 4% of a small query's CPU (callgrind, five extensions). Here the wrapping is done once
per class; the hooks then run exactly as strawberry runs them (same context managers, same
exit stack, same order).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, located_error
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    StreamResultContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext, StreamExecutionResult
from strawberry.utils.await_maybe import await_maybe

from schema.http.compiled import run_compiled
from schema.http.masking import log_errors


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors)

    async def _execute_operation(
        self, execution_context: ExecutionContext, *args: Any, **kwargs: Any
    ) -> Any:
        # The compiled statement when the operation compiles (schema.http.compiled): the
        # executing hooks still run around it, as they do around graphql-core's execution.
        if not execution_context.result:
            try:
                compiled = await run_compiled(self._schema, execution_context)
            except Exception as error:
                # As graphql-core reports a resolver's exception: the error rules classify it
                # (a database that went away is SERVICE_UNAVAILABLE) and mask the rest.
                compiled = GraphQLExecutionResult(data=None, errors=[located_error(error)])
            if compiled is not None:
                execution_context.result = compiled
        return await super()._execute_operation(execution_context, *args, **kwargs)

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return _Runner(execution_context, extensions)


class _Runner(SchemaExtensionsRunner):
    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)

    def on_stream_result(self, result: StreamExecutionResult) -> StreamResultContextManager:
        # Entered for every result of every live cohort: when no extension has the hook (none
        # of ours), strawberry's exit stacks around nothing were ~14% of a cohort's event.
        if not any(_wrapped(type(e), "on_stream_result") for e in self.extensions):
            return _NOTHING  # type: ignore[return-value]
        return _StreamResult(self.extensions, result)

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        # Asked for every result, subscription events included: only the classes that
        # report something are asked.
        data: dict[str, Any] = {}
        for extension in self.extensions:
            if _reports(type(extension)):
                data.update(await await_maybe(extension.get_results()))
        data.update(ctx.extensions_results)
        return data


_NOTHING = contextlib.nullcontext()
_reporting: dict[type, bool] = {}


def _reports(cls: type) -> bool:
    """Whether the class overrides ``get_results`` (the base reports nothing)."""
    found = _reporting.get(cls)
    if found is None:
        found = _reporting[cls] = getattr(cls, "get_results", None) is not (
            SchemaExtension.get_results
        )
    return found


# A hook that is a plain function, not a generator: strawberry's get_hook wraps it itself.
_PLAIN = "plain"
_Wrapped = tuple[Callable[..., Any], bool] | str | None
_wrapped_hooks: dict[tuple[type, str], _Wrapped] = {}


def _wrapped(cls: type, name: str) -> _Wrapped:
    """The context-manager factory of a class's hook and whether it is async; None when the
    class does not define that hook."""
    found = _wrapped_hooks.get((cls, name), ...)
    if found is ...:
        hook = getattr(cls, name)
        if hook is getattr(SchemaExtension, name):
            found = None
        elif inspect.isgeneratorfunction(hook):
            found = contextlib.contextmanager(hook), False
        elif inspect.isasyncgenfunction(hook):
            found = contextlib.asynccontextmanager(hook), True
        else:
            found = _PLAIN
        _wrapped_hooks[cls, name] = found
    return found


class _CachedHooks(ExtensionContextManagerBase):
    __slots__ = ()

    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        found = _wrapped(type(extension), self.HOOK_NAME)
        if found is None:
            return None
        if isinstance(found, str):
            return super().get_hook(extension)
        factory, is_async = found
        return WrappedHook(
            extension=extension, hook=functools.partial(factory, extension), is_async=is_async
        )


class _Operation(_CachedHooks, OperationContextManager):
    __slots__ = ()


class _Validation(_CachedHooks, ValidationContextManager):
    __slots__ = ()


class _Parsing(_CachedHooks, ParsingContextManager):
    __slots__ = ()


class _Executing(_CachedHooks, ExecutingContextManager):
    __slots__ = ()


class _StreamResult(StreamResultContextManager):
    """Entered for every event of every subscription: the classes without the hook (all of
    ours) are known once; one that has it goes through strawberry's own wrapping."""

    __slots__ = ()

    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        if _wrapped(type(extension), self.HOOK_NAME) is None:
            return None
        return super().get_hook(extension)
