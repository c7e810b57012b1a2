"""``make bench`` runs every benchmark module and nothing else (it once failed on the shared
GraphQL documents of ``bench.queries``, which have no ``run()``)."""

from __future__ import annotations

import importlib

import bench


def test_every_listed_module_is_a_benchmark_and_shared_definitions_are_not() -> None:
    names = bench.modules()
    assert "queries" not in names
    assert {"reads", "dispatch_latency", "load"} <= set(names)
    for name in names:
        assert callable(importlib.import_module(f"bench.{name}").run), name
