"""Benchmarks: every module of this package with ``async def run()`` is one benchmark.

``run()`` returns rows: ``Row(name, figure, unit, baseline=None, ratio=None)`` or plain tuples
``(name, figure, unit[, baseline[, ratio]])``. ``python -m bench`` runs them all (or the ones
named on the command line) and prints one table. See bench/README.md.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# A load generator is a few principals sending thousands of requests: rate limiting stays on
# (its cost is part of what is measured) with quotas no benchmark reaches.
UNLIMITED = {
    "PRESTA_RATE_LIMIT_PER_PRINCIPAL": "1000000000",
    "PRESTA_RATE_LIMIT_PER_MARKETPLACE": "1000000000",
}


@dataclass(frozen=True)
class Row:
    """One measured figure; ``baseline`` is the same figure for the reference implementation."""

    name: str
    figure: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None

    @classmethod
    def of(cls, value: Row | Sequence[Any]) -> Row:
        row = value if isinstance(value, Row) else cls(*value)
        if row.ratio is None and row.baseline:
            return cls(row.name, row.figure, row.unit, row.baseline, row.figure / row.baseline)
        return row


def modules() -> list[str]:
    """Benchmark modules of this package: those with a ``run()`` (private ``_*`` helpers and
    shared definitions such as ``queries`` are not benchmarks)."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_") and not info.ispkg and _runs(info.name)
    )


def _runs(name: str) -> bool:
    try:
        module = importlib.import_module(f"bench.{name}")
    except Exception:
        return True  # listed, so that the table reports why it does not import
    return callable(getattr(module, "run", None))


async def run_modules(names: Iterable[str]) -> list[tuple[str, list[Row] | str]]:
    """Run each module's ``run()``; a failure is reported in the table, not raised."""
    results: list[tuple[str, list[Row] | str]] = []
    for name in names:
        started = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            rows = [Row.of(r) for r in await module.run()]
            results.append((name, rows))
        except Exception as exc:
            traceback.print_exc()
            # The table keeps one line per failure: the traceback above has the rest.
            message = " ".join(str(exc).split())
            message = message if len(message) <= 160 else f"...{message[-157:]}"
            results.append((name, f"FAILED: {type(exc).__name__}: {message}"))
        print(f"[bench] {name} done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return results


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def table(results: list[tuple[str, list[Row] | str]]) -> str:
    """One plain-text table of every benchmark's rows."""
    header = ("benchmark", "measure", "figure", "unit", "baseline", "ratio")
    lines: list[tuple[str, ...]] = []
    for module, rows in results:
        if isinstance(rows, str):
            lines.append((module, rows, "", "", "", ""))
            continue
        for row in rows:
            ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
            lines.append(
                (module, row.name, _number(row.figure), row.unit, _number(row.baseline), ratio)
            )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    right = {2, 4, 5}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])


def main(argv: Sequence[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or modules()
    unknown = sorted(set(names) - set(modules()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(modules())}")
        return 2
    results = asyncio.run(run_modules(names))
    print(table(results))
    return 1 if any(isinstance(rows, str) for _, rows in results) else 0
