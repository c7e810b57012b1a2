"""Tests share code through tests/support and tests/factories, never by importing each other:
a test module imported elsewhere ties unrelated suites together; conftest is for pytest alone."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` for each module or name the file imports, relative ones resolved."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = list(package[: len(package) - node.level + 1]) if node.level else []
            base = ".".join([*anchor, *([node.module] if node.module else [])])
            # ``from tests import test_live`` names the module in the alias.
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


def _test_module(name: str) -> str | None:
    """``tests.test_…`` or ``tests.conftest`` when ``name`` is one of them or is in one."""
    package, _, rest = name.partition(".")
    module = rest.split(".")[0]
    if package == "tests" and (module == "conftest" or module.startswith("test_")):
        return f"tests.{module}"
    return None


def test_no_test_module_support_module_or_benchmark_imports_a_test_module_or_conftest():
    files = sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    found = {
        (str(path.relative_to(ROOT)), line, module)
        for path in files
        for line, name in _imported(path)
        if (module := _test_module(name))
    }
    offending = [f"{path}:{line} imports {module}" for path, line, module in sorted(found)]
    assert len(files) > 50, "the layout check found no files to read"
    assert not offending, "\n".join(["share through tests/support or tests/factories:", *offending])
