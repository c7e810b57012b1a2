"""The schema contract: what the API promised in its last release, and how it may change.

``schema.graphql`` (exported from the code) is compared with ``schema/released.graphql`` (the
schema of the last release) by graphql-core's ``find_breaking_changes``. Partners build on the
released schema through introspection, so a breaking change is refused unless the
``## Unreleased`` section of ``CHANGELOG.md`` lists it under ``### Breaking``, one entry per
change starting with its schema coordinate in backticks (`` `Type.field` ``,
`` `Type.field(arg:)` ``, `` `Enum.VALUE` ``, `` `Type` ``). A field, argument or enum value is
removed only after a release that marked it ``@deprecated(reason: …)``, and its entry says
since when (``deprecated since …``). Dangerous changes (an enum value or an optional argument
added, a default changed) are printed: clients may need to know, nothing is refused.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from graphql import GraphQLSchema, build_schema
from graphql.utilities import (
    BreakingChange,
    BreakingChangeType,
    DangerousChange,
    DangerousChangeType,
    find_breaking_changes,
    find_dangerous_changes,
)
from graphql.utilities.resolve_schema_coordinate import resolve_schema_coordinate

RELEASED = Path("schema/released.graphql")
CURRENT = Path("schema.graphql")
CHANGELOG = Path("CHANGELOG.md")

# Removals of what ``@deprecated`` can mark: the deprecation must have been released first.
_DEPRECATED_FIRST = {
    BreakingChangeType.FIELD_REMOVED,
    BreakingChangeType.ARG_REMOVED,
    BreakingChangeType.VALUE_REMOVED_FROM_ENUM,
}
_UNION_CHANGES = {
    BreakingChangeType.TYPE_REMOVED_FROM_UNION,
    DangerousChangeType.TYPE_ADDED_TO_UNION,
}
# graphql-core names members and arguments by their schema coordinate in its descriptions.
_MEMBER = re.compile(r"@\w+(?:\(\w+:\))?|\b\w+\.\w+(?:\(\w+:\))?")
_ENTRY = re.compile(r"^[-*]\s+`([^`]+)`")


@dataclass(frozen=True, slots=True)
class Change:
    coordinate: str
    description: str
    kind: str


@dataclass(slots=True)
class Verdict:
    """The breaking changes allowed by the changelog, those refused (with why), the dangerous
    ones, and what the changelog lists that no longer differs."""

    allowed: list[Change] = field(default_factory=list)
    refused: list[tuple[Change | None, str]] = field(default_factory=list)
    dangerous: list[Change] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused


def coordinate_of(change: BreakingChange | DangerousChange) -> str:
    """The schema coordinate a change is about, as a changelog entry names it."""
    found = _MEMBER.search(change.description)
    if found is not None:
        return found.group()
    words: list[str] = re.findall(r"\w+", change.description.removeprefix("Standard scalar "))
    # "X was removed from union type U.": the union changed.
    return words[-1] if change.type in _UNION_CHANGES else words[0]


def breaking_entries(changelog: str) -> tuple[dict[str, str], list[str]]:
    """The ``### Breaking`` entries of the ``## Unreleased`` section by coordinate, and the
    entries that name none."""
    entries: list[str] = []
    section = subsection = ""
    for line in changelog.splitlines():
        if line.startswith("## "):
            section, subsection = line[3:].strip().lower(), ""
        elif line.startswith("### "):
            subsection = line[4:].strip().lower()
        elif section.startswith("unreleased") and subsection == "breaking":
            if line.startswith(("- ", "* ")):
                entries.append(line.strip())
            elif line.strip() and entries:
                entries[-1] += " " + line.strip()  # an entry continued on the next line
    listed: dict[str, str] = {}
    unnamed: list[str] = []
    for entry in entries:
        named = _ENTRY.match(entry)
        if named is None:
            unnamed.append(entry)
        else:
            listed[named.group(1).strip()] = entry
    return listed, unnamed


def _deprecation(schema: GraphQLSchema, coordinate: str) -> str | None:
    try:
        found = resolve_schema_coordinate(schema, coordinate)
    except Exception:
        return None
    for part in ("field_argument", "enum_value", "input_field", "field"):
        element = getattr(found, part, None)
        if element is not None:
            return getattr(element, "deprecation_reason", None)
    return None


def compare(released: str, current: str, changelog: str) -> Verdict:
    """Check the current schema (SDL) against the released one and the changelog's entries."""
    old, new = build_schema(released), build_schema(current)
    listed, unnamed = breaking_entries(changelog)
    verdict = Verdict()
    for text in unnamed:
        verdict.refused.append((None, f"a Breaking entry must start with a `coordinate`: {text}"))
    seen: set[str] = set()
    for change in find_breaking_changes(old, new):
        found = Change(coordinate_of(change), change.description, change.type.name)
        seen.add(found.coordinate)
        entry = listed.get(found.coordinate)
        deprecation_needed = change.type in _DEPRECATED_FIRST
        if deprecation_needed and _deprecation(old, found.coordinate) is None:
            verdict.refused.append(
                (
                    found,
                    f"`{found.coordinate}` was not deprecated in the released schema: mark it "
                    "@deprecated(reason: …), release, and remove it after the deprecation "
                    "period",
                )
            )
        elif entry is None:
            verdict.refused.append(
                (found, f"not listed under `### Breaking` of `## Unreleased` in {CHANGELOG}")
            )
        elif deprecation_needed and "deprecated since" not in entry.lower():
            verdict.refused.append(
                (found, "its changelog entry must say since when it was `deprecated since …`")
            )
        else:
            verdict.allowed.append(found)
    verdict.stale = sorted(listed.keys() - seen)
    verdict.dangerous = [
        Change(coordinate_of(change), change.description, change.type.name)
        for change in find_dangerous_changes(old, new)
    ]
    return verdict


def report(verdict: Verdict, out: TextIO) -> None:
    for change in verdict.dangerous:
        out.write(f"dangerous: {change.description} ({change.kind})\n")
    for change in verdict.allowed:
        out.write(f"breaking, listed in the changelog: {change.description}\n")
    for coordinate in verdict.stale:
        out.write(f"note: the changelog lists `{coordinate}`, which does not break anything\n")
    for refused, why in verdict.refused:
        out.write(f"REFUSED: {refused.description + ' ' if refused else ''}{why}\n")
    changes = len(verdict.allowed) + len(verdict.refused) + len(verdict.dangerous)
    outcome = "refused" if verdict.refused else "kept"
    out.write(f"schema contract {outcome} ({changes} change(s) since the last release)\n")


def check(released: Path = RELEASED, current: Path = CURRENT, changelog: Path = CHANGELOG) -> bool:
    """Compare the files, print the verdict; whether the contract is kept."""
    if not released.exists():
        sys.stdout.write(f"REFUSED: no released schema at {released}\n")
        return False
    verdict = compare(
        released.read_text(),
        current.read_text(),
        changelog.read_text() if changelog.exists() else "",
    )
    report(verdict, sys.stdout)
    return verdict.ok
