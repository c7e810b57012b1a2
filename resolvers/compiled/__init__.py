"""The compiled read path: a validated query operation turned into one PostgreSQL statement
whose single value is the operation's ``data`` object, as JSON.

Why: the standard executor resolves every field of a screen in Python (graphql-core's walk,
models, loaders); the same rows read as one statement built with ``json_build_object``,
``json_agg`` and correlated subqueries cost the server one round trip and the bytes. As in
pg_graphql and PostGraphile, the document is compiled, not interpreted; unlike them, whatever
cannot be proved to give the standard executor's exact answer is not compiled at all.

What compiles: the root fields and types that a domain declares here (``declare_root``,
``declare_type``, next to the domain's read use cases, so a rule of who sees what sits beside
the one the loaders apply), with aliases, named fragments and inline fragments on the concrete
type, ``__typename``, variables (defaults included), ``@include``/``@skip``, lists and
nullable objects. Anything else raises ``Fallback`` while planning, and the operation runs
through the standard executor: an undeclared field, an argument the declaration does not
take, an actor the policy would refuse. Values that only the request knows (a page size out
of range, a malformed cursor, a filter the declaration leaves to Python) raise ``Fallback``
when the parameters are computed, before any statement: the standard executor then gives
its exact answer, error included.

A plan is cached per (document, operation, actor kind, values of the variables that steer
``@include``/``@skip``): a second request of the same document does no planning work, only
computes its parameters (``Plan.values``) and runs ``Plan.sql``.

Encodings follow what strawberry writes: Relay global ids are standard base64 of
``Type:id``, cursors URL-safe base64 of ``k:id`` (``resolvers.pagination``), datetimes
Python's ``isoformat()`` of an aware UTC datetime (microseconds only when not zero), dates
``YYYY-MM-DD``, decimals their text.
"""

from resolvers.compiled.builder import (
    ActorKind,
    Builder,
    Fallback,
    Getter,
    Inputs,
    Read,
    Selected,
    build_object,
    declare_root,
    declare_type,
    kind_of,
    readers_only,
)
from resolvers.compiled.plans import (
    NodeRead,
    Plan,
    declare_node,
    decode_global_id,
    operation_of,
    plan_for,
    plans_built,
    read,
)
from resolvers.compiled.sql import (
    column,
    cursor,
    encode,
    global_id,
    iso_datetime,
    keyset_connection,
    many,
    node_id,
    one,
)

__all__ = [
    "ActorKind",
    "Builder",
    "Fallback",
    "Getter",
    "Inputs",
    "NodeRead",
    "Plan",
    "Read",
    "Selected",
    "build_object",
    "column",
    "cursor",
    "declare_node",
    "declare_root",
    "declare_type",
    "decode_global_id",
    "encode",
    "global_id",
    "iso_datetime",
    "keyset_connection",
    "kind_of",
    "many",
    "node_id",
    "one",
    "operation_of",
    "plan_for",
    "plans_built",
    "read",
    "readers_only",
]
