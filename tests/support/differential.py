"""Run a read document through both executors of the HTTP API and require the same answer.

Outside production the server runs a query compiled to one SQL statement whenever the
operation compiles, and the standard strawberry executor when the request carries
``X-Presta-Executor: standard``; the answer says which one ran in ``extensions.executor``
(absent: the standard one, as before the compiler existed). Both answers must be equal after
sorting keys, once ``extensions.executor`` is removed: HTTP status, data, and errors (message,
path, locations, extensions). Errors are compared as a set, ordered by path and message: the
GraphQL specification leaves their order to the executor.

``EXECUTORS`` counts which executor answered the first run, so that the suite shows how much
of what it sends the compiler covers (``tests/conftest.py`` prints it at the end of a run).
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

EXECUTOR_HEADER = "X-Presta-Executor"
# (source, executor) -> documents run: source is "fixed" or "generated".
EXECUTORS: Counter[tuple[str, str]] = Counter()


@dataclass(frozen=True)
class Sent:
    """One operation as a client sends it."""

    document: str
    variables: dict[str, Any]
    actor: str
    operation_name: str | None = None
    origin: str = ""

    def describe(self) -> str:
        return "\n".join(
            [
                f"actor: {self.actor}" + (f"  (from {self.origin})" if self.origin else ""),
                f"operation: {self.operation_name or '(the only one)'}",
                "variables: " + json.dumps(self.variables, ensure_ascii=False, sort_keys=True),
                "document:",
                self.document.strip(),
            ]
        )


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def executor(self) -> str:
        extensions = self.body.get("extensions") or {}
        return str(extensions.get("executor") or "standard")

    def comparable(self) -> dict[str, Any]:
        """The answer without the executor's name, errors in a fixed order."""
        body = dict(self.body)
        extensions = {k: v for k, v in (body.pop("extensions", None) or {}).items()}
        extensions.pop("executor", None)
        if extensions:
            body["extensions"] = extensions
        if "errors" in body:
            body["errors"] = sorted(body["errors"] or [], key=_error_order)
        return {"status": self.status, "body": body}


def _error_order(error: dict[str, Any]) -> str:
    return json.dumps([error.get("path") or [], error.get("message")], default=str)


def canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)


async def send(
    client: httpx.AsyncClient,
    sent: Sent,
    headers: dict[str, str],
    *,
    standard: bool = False,
) -> Answer:
    payload: dict[str, Any] = {"query": sent.document, "variables": sent.variables}
    if sent.operation_name:
        payload["operationName"] = sent.operation_name
    extra = {EXECUTOR_HEADER: "standard"} if standard else {}
    response = await client.post("/graphql", json=payload, headers={**headers, **extra})
    body = response.json()
    assert isinstance(body, dict), f"not a GraphQL response: {body!r}\n{sent.describe()}"
    return Answer(response.status_code, body)


class Mismatch(AssertionError):
    pass


async def both_executors(
    client: httpx.AsyncClient, sent: Sent, headers: dict[str, str], *, source: str | None
) -> Answer:
    """The answer of the default path, after checking the standard executor gives the same;
    counted in ``EXECUTORS`` under ``source`` (None: not counted)."""
    first = await send(client, sent, headers)
    standard = await send(client, sent, headers, standard=True)
    if source is not None:
        EXECUTORS[(source, first.executor)] += 1
    if standard.executor != "standard":
        raise Mismatch(
            f"`{EXECUTOR_HEADER}: standard` ran the {standard.executor} executor\n"
            + sent.describe()
        )
    left, right = canonical(first.comparable()), canonical(standard.comparable())
    if left != right:
        diff = difflib.unified_diff(
            right.splitlines(),
            left.splitlines(),
            fromfile="standard executor",
            tofile=f"{first.executor} executor (default path)",
            lineterm="",
            n=4,
        )
        raise Mismatch(
            "the executors disagree\n" + sent.describe() + "\n" + "\n".join(list(diff)[:200])
        )
    return first


def summary() -> str | None:
    """One line per source: how many documents ran compiled and how many standard."""
    if not EXECUTORS:
        return None
    lines = []
    for source in sorted({s for s, _ in EXECUTORS}):
        compiled = EXECUTORS[(source, "compiled")]
        standard = sum(n for (s, e), n in EXECUTORS.items() if s == source and e != "compiled")
        lines.append(
            f"reads differential ({source} documents): {compiled} ran compiled, {standard} standard"
        )
    return "\n".join(lines)
