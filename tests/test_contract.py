"""The schema contract (`presta check-schema`, run by `make check`): a breaking change passes
only when the changelog lists it, and a removal only after a released deprecation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from service import contract

ROOT = Path(__file__).resolve().parents[1]

RELEASED = """
type Query {
  viewer: Viewer
  legacyName: String @deprecated(reason: "Use `viewer { name }`.")
  count(first: Int, legacyFilter: String @deprecated(reason: "Ignored.")): Int!
}

type Viewer {
  name: String!
  age: Int
}

enum Role {
  ADMIN
  AGENT
}
"""


def _changelog(*breaking: str, section: str = "Unreleased") -> str:
    lines = ["# Changelog", "", f"## {section}", "", "### Breaking", *breaking, ""]
    return "\n".join(lines) + "\n## 2026-12-04\n\nFirst release.\n"


def _compare(current: str, changelog: str = "") -> contract.Verdict:
    return contract.compare(RELEASED, current, changelog)


def _refusals(verdict: contract.Verdict) -> list[str]:
    return [change.coordinate if change else why for change, why in verdict.refused]


def test_the_same_schema_keeps_the_contract():
    verdict = _compare(RELEASED)
    assert verdict.ok
    assert (verdict.allowed, verdict.dangerous) == ([], [])


def test_a_field_removed_without_a_released_deprecation_is_refused_even_when_listed():
    current = RELEASED.replace("  age: Int\n", "")
    listed = _changelog("- `Viewer.age` removed (deprecated since 2026-12-04, 90 days).")
    for changelog in ("", listed):
        verdict = _compare(current, changelog)
        assert _refusals(verdict) == ["Viewer.age"]
        assert "was not deprecated" in verdict.refused[0][1]


def test_a_changed_type_is_refused_unless_the_changelog_lists_it():
    current = RELEASED.replace("name: String!", "name: Int!")
    verdict = _compare(current)
    assert _refusals(verdict) == ["Viewer.name"]
    assert "not listed" in verdict.refused[0][1]

    verdict = _compare(current, _changelog("- `Viewer.name` is now the name's length: sorry."))
    assert verdict.ok
    assert [c.coordinate for c in verdict.allowed] == ["Viewer.name"]


def test_a_breaking_change_listed_in_a_released_section_does_not_count():
    current = RELEASED.replace("name: String!", "name: Int!")
    changelog = _changelog("- `Viewer.name` changed.", section="2026-11-01")
    assert _refusals(_compare(current, changelog)) == ["Viewer.name"]


def test_a_deprecated_field_removed_passes_once_listed_with_its_deprecation_period():
    current = RELEASED.replace(
        '  legacyName: String @deprecated(reason: "Use `viewer { name }`.")\n', ""
    )
    assert _refusals(_compare(current)) == ["Query.legacyName"]

    without_period = _changelog("- `Query.legacyName` removed: use `viewer { name }`.")
    verdict = _compare(current, without_period)
    assert _refusals(verdict) == ["Query.legacyName"]
    assert "deprecated since" in verdict.refused[0][1]

    listed = _changelog(
        "- `Query.legacyName` removed (deprecated since 2026-12-04, 90 days):",
        "  use `viewer { name }`.",
    )
    verdict = _compare(current, listed)
    assert verdict.ok
    assert [c.coordinate for c in verdict.allowed] == ["Query.legacyName"]


def test_a_deprecated_argument_is_named_by_its_coordinate():
    current = RELEASED.replace(', legacyFilter: String @deprecated(reason: "Ignored.")', "")
    assert _refusals(_compare(current)) == ["Query.count(legacyFilter:)"]
    listed = _changelog("- `Query.count(legacyFilter:)` removed (deprecated since 2026-12-04).")
    assert _compare(current, listed).ok


def test_an_enum_value_added_is_printed_as_dangerous_and_passes(capsys):
    current = RELEASED.replace("  AGENT\n", "  AGENT\n  PARTNER\n")
    verdict = _compare(current)
    assert verdict.ok
    assert [(c.coordinate, c.kind) for c in verdict.dangerous] == [
        ("Role.PARTNER", "VALUE_ADDED_TO_ENUM")
    ]
    contract.report(verdict, sys.stdout)
    assert "dangerous: Enum value Role.PARTNER was added." in capsys.readouterr().out


def test_a_breaking_entry_must_start_with_its_coordinate():
    verdict = _compare(RELEASED, _changelog("- Viewer.age is gone"))
    assert not verdict.ok
    assert "must start with a `coordinate`" in verdict.refused[0][1]


def _check_schema(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "check-schema", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_presta_check_schema_fails_on_a_refused_change_and_passes_the_committed_files(tmp_path):
    released = tmp_path / "released.graphql"
    current = tmp_path / "schema.graphql"
    released.write_text(RELEASED)
    current.write_text(RELEASED.replace("  age: Int\n", ""))
    refused = _check_schema(
        "--released", str(released), "--current", str(current), "--changelog", "none.md"
    )
    assert refused.returncode == 1
    assert "REFUSED: Field Viewer.age was removed." in refused.stdout

    kept = _check_schema()  # the committed schema.graphql, schema/released.graphql, CHANGELOG.md
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "schema contract kept" in kept.stdout
