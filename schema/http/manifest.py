"""The manifest of trusted documents (``PRESTA_TRUSTED_DOCUMENTS``), read when the API starts.

Two formats, both JSON: the map of GraphQL Codegen's client preset (``persisted-documents.json``,
``{"<hash>": "<document>"}``) and Apollo's persisted query manifest
(``{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "body",
"name", "type"}]}``). An id is the client's opaque name for its document (Apollo's and Codegen's
tools make it a hash of the text, sha256 or sha1): it is not recomputed here.

Every document is parsed and validated against the schema under the limits in force: a manifest
with a document that could not run (a field since removed, a depth over the limit) fails the
start, naming each such document, rather than failing its requests later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from graphql import GraphQLSchema

from presta.settings import SettingsError
from schema.http.limits import document_problems

APOLLO_FORMAT = "apollo-persisted-query-manifest"
_SHOWN_PROBLEMS = 10


class ManifestError(SettingsError):
    """The manifest of trusted documents cannot be used: the API does not start."""


def load_manifest(path: Path, graphql_schema: GraphQLSchema) -> dict[str, str]:
    """The documents of the manifest by id, each checked against the schema and the limits."""
    try:
        content = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ManifestError(f"trusted documents {path}: cannot be read ({exc})") from None
    except orjson.JSONDecodeError as exc:
        raise ManifestError(f"trusted documents {path}: not JSON ({exc})") from None
    documents, names = _documents(path, content)
    problems = []
    for key, text in documents.items():
        found = document_problems(text, graphql_schema)
        if found:
            what = f"{key} ({names[key]})" if names.get(key) else key
            problems.append(f"  {what}: {found[0].message}")
    if problems:
        shown = "\n".join(problems[:_SHOWN_PROBLEMS])
        more = len(problems) - _SHOWN_PROBLEMS
        raise ManifestError(
            f"trusted documents {path}: {len(problems)} of {len(documents)} documents cannot "
            f"run against this schema and its limits:\n{shown}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )
    return documents


def _documents(path: Path, content: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Ids to documents, and ids to operation names where the manifest gives them."""
    if isinstance(content, dict) and "format" in content:
        if content.get("format") != APOLLO_FORMAT or content.get("version") != 1:
            raise ManifestError(
                f"trusted documents {path}: format {content.get('format')!r} version "
                f"{content.get('version')!r}; expected {APOLLO_FORMAT!r} version 1"
            )
        operations = content.get("operations")
        if not isinstance(operations, list):
            raise ManifestError(f"trusted documents {path}: `operations` must be a list")
        documents: dict[str, str] = {}
        names: dict[str, str] = {}
        for index, operation in enumerate(operations):
            if not (
                isinstance(operation, dict)
                and isinstance(operation.get("id"), str)
                and operation["id"]
                and isinstance(operation.get("body"), str)
            ):
                raise ManifestError(
                    f"trusted documents {path}: operation {index} needs a string `id` and `body`"
                )
            key, body = operation["id"], operation["body"]
            if documents.get(key, body) != body:
                raise ManifestError(f"trusted documents {path}: id {key} has two documents")
            documents[key] = body
            if isinstance(operation.get("name"), str):
                names[key] = operation["name"]
        return documents, names
    if isinstance(content, dict) and all(
        isinstance(key, str) and key and isinstance(value, str) for key, value in content.items()
    ):
        return dict(content), {}
    raise ManifestError(
        f'trusted documents {path}: expected {{"<hash>": "<document>"}} or an Apollo '
        f'persisted query manifest ({{"format": "{APOLLO_FORMAT}", "version": 1, '
        '"operations": [...]})'
    )
