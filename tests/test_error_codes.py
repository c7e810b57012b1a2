"""Every top-level ``extensions.code`` the code can raise is documented, and nothing else is.

Partners branch on these codes: one raised but missing from ``schema.http.errors.ERROR_CODES`` and
the README is a code nobody was told about. The sources are read, not run, so a code raised on
a rare path counts as much as a common one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from schema.http.errors import ERROR_CODES

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("schema", "resolvers", "presta", "workers")
_Function = ast.FunctionDef | ast.AsyncFunctionDef


def _modules() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT)): ast.parse(path.read_text())
        for layer in LAYERS
        for path in sorted((ROOT / layer).rglob("*.py"))
    }


def _code_parameters(modules: dict[str, ast.Module]) -> dict[str, int]:
    """Our functions and exception classes taking a ``code``: the parameter's position."""
    positions: dict[str, int] = {}
    for tree in modules.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                init = next((f for f in node.body if getattr(f, "name", "") == "__init__"), None)
                if isinstance(init, ast.FunctionDef):
                    names = [a.arg for a in init.args.args[1:]]
                    if "code" in names:
                        positions[node.name] = names.index("code")
            elif isinstance(node, _Function):
                names = [a.arg for a in node.args.args]
                if "code" in names:
                    positions.setdefault(node.name, names.index("code"))
    return positions


def _literals(expr: ast.AST, constants: dict[str, str]) -> set[str]:
    found = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isupper():
            found.add(node.value)
        elif isinstance(node, ast.Name) and node.id in constants:
            found.add(constants[node.id])
    return found


def _values(
    expr: ast.expr,
    *,
    assigned: dict[str, ast.expr],
    constants: dict[str, str],
    functions: dict[str, _Function],
) -> set[str]:
    """The codes ``expr`` can hold: a literal, a module constant, a local variable's
    literals, or the literals returned by a function of ours (``code_of``)."""
    if isinstance(expr, ast.Name) and expr.id in assigned:
        return _literals(assigned[expr.id], constants)
    if isinstance(expr, ast.Call):
        called = functions.get(getattr(expr.func, "id", ""))
        returned = [
            node.value
            for node in (ast.walk(called) if called is not None else ())
            if isinstance(node, ast.Return) and node.value is not None
        ]
        return set().union(*(_literals(r, constants) for r in returned))
    if isinstance(expr, ast.Constant | ast.Name):
        return _literals(expr, constants)
    return set()  # error.code and the like: counted where that error is built


def raised_codes() -> dict[str, str]:
    """Codes put in an error's ``{"code": …}`` or passed as ``code`` to a callable of ours,
    each with a module raising it."""
    modules = _modules()
    takes_code = _code_parameters(modules)
    functions = {
        node.name: node
        for tree in modules.values()
        for node in ast.walk(tree)
        if isinstance(node, _Function)
    }
    codes: dict[str, str] = {}
    for where, tree in modules.items():
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for scope in ast.walk(tree):
            if not isinstance(scope, _Function):
                continue
            assigned = {
                target.id: node.value
                for node in ast.walk(scope)
                if isinstance(node, ast.Assign)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            given: list[ast.expr] = []
            for node in ast.walk(scope):
                if isinstance(node, ast.Dict):
                    given += [
                        value
                        for key, value in zip(node.keys, node.values, strict=True)
                        if isinstance(key, ast.Constant) and key.value == "code"
                    ]
                elif isinstance(node, ast.Call):
                    callee = getattr(node.func, "id", getattr(node.func, "attr", ""))
                    if callee in takes_code:
                        position = takes_code[callee]
                        given += [k.value for k in node.keywords if k.arg == "code"]
                        given += node.args[position : position + 1]
            for expr in given:
                found = _values(expr, assigned=assigned, constants=constants, functions=functions)
                codes.update(dict.fromkeys(found, where))
    return codes


def _readme_codes() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("Every top-level `extensions.code` is listed in", 1)[1]
    return set(re.findall(r"`([A-Z][A-Z_]+)`", section.split("\n- ", 1)[0]))


def test_every_error_code_the_code_raises_is_listed_and_every_listed_one_is_raised():
    raised = raised_codes()
    unlisted = {code: where for code, where in raised.items() if code not in ERROR_CODES}
    assert unlisted == {}, "add these to schema.http.errors.ERROR_CODES and the README"
    assert ERROR_CODES - raised.keys() == set(), "listed in ERROR_CODES but raised nowhere"


def test_the_readme_lists_exactly_the_error_codes():
    assert _readme_codes() == ERROR_CODES
