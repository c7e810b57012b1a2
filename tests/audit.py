"""`make audit`: known vulnerabilities in the installed distributions, through pip-audit.

pip-audit asks OSV, or PyPI's per-release JSON (`/pypi/<name>/<version>/json`). When neither
answers (the project's machines reach PyPI's project pages but not those two), it would skip
every package and still say "No known vulnerabilities found". So this asks first which feed
answers, and falls back to what does: each project's JSON (`/pypi/<name>/json`) lists the
vulnerabilities of its latest release. A distribution at its latest release is then fully
audited; one behind it is reported as such (advisories fixed before the latest release are
not visible there): raise its floor or audit where OSV answers. For each such distribution the
report names what holds it back (an installed dependent, or our own pyproject, whose requirement
excludes the latest release) and whether only the ``dev`` extra (tests, tools) needs it.

Exit status: 0 when no known vulnerability was found, 1 otherwise (or when nothing answers).
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
PYPI = "https://pypi.org/pypi"
OSV = "https://api.osv.dev/v1/query"
TIMEOUT = 15
PIP_AUDIT = [
    str(Path(sys.executable).with_name("pip-audit")),
    "--strict",
    "--skip-editable",
    "--progress-spinner",
    "off",
]


def _answers(method: str, url: str, **kw: Any) -> bool:
    try:
        return requests.request(method, url, timeout=TIMEOUT, **kw).status_code == 200
    except requests.RequestException:
        return False


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def _installed() -> dict[str, str]:
    ours = _project()["name"]
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonicalize_name(name) != canonicalize_name(ours):
            found[canonicalize_name(name)] = dist.version
    return found


class _Graph:
    """Who requires what among the installed distributions, from our pyproject down."""

    def __init__(self) -> None:
        self.edges: dict[str, list[tuple[str, Requirement]]] = {}
        project = _project()
        self.ours = str(project["name"])
        runtime = _requirements(project.get("dependencies", []))
        dev = _requirements(project.get("optional-dependencies", {}).get("dev", []))
        for req in [*runtime, *dev]:
            self.edges.setdefault(canonicalize_name(req.name), []).append((self.ours, req))
        self.runtime = self._walk(runtime)
        self.everything = self._walk([*runtime, *dev])

    def _walk(self, roots: list[Requirement]) -> set[str]:
        seen: set[str] = set()
        todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in roots]
        done: set[tuple[str, frozenset[str]]] = set()
        while todo:
            name, extras = todo.pop()
            if (name, extras) in done:
                continue
            done.add((name, extras))
            try:
                dist = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            seen.add(name)
            parent = f"{dist.metadata['Name']} {dist.version}"
            for req in _requirements(dist.requires or []):
                if req.marker is None or any(
                    req.marker.evaluate({"extra": extra}) for extra in ("", *extras)
                ):
                    child = canonicalize_name(req.name)
                    if (parent, req) not in self.edges.get(child, []):
                        self.edges.setdefault(child, []).append((parent, req))
                    todo.append((child, frozenset(req.extras)))
        return seen

    def why_behind(self, name: str, latest: str) -> str:
        """What keeps ``name`` from its latest release, and who needs it."""
        holders = [
            f"held back by {parent} (requires {req})"
            for parent, req in self.edges.get(name, [])
            if not req.specifier.contains(latest, prereleases=True)
        ]
        if name not in self.everything:
            needed = f"not required by {self.ours}"
        elif name not in self.runtime:
            needed = f"test-only: needed by {self.ours}[dev] alone"
        else:
            needed = f"runtime dependency of {self.ours}"
        return "; ".join([*(holders or ["no installed requirement holds it back"]), needed])


def _requirements(lines: list[str]) -> list[Requirement]:
    found = []
    for line in lines:
        try:
            found.append(Requirement(line))
        except InvalidRequirement:
            continue
    return found


def _latest_advisories(name: str) -> tuple[str, list[dict[str, Any]]] | None:
    response = requests.get(f"{PYPI}/{name}/json", timeout=TIMEOUT)
    if response.status_code != 200:
        return None
    data = response.json()
    vulns = [v for v in data.get("vulnerabilities") or [] if not v.get("withdrawn")]
    return data["info"]["version"], vulns


def _fallback() -> int:
    installed = _installed()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = dict(zip(installed, pool.map(_latest_advisories, installed), strict=True))
    graph = _Graph()
    vulnerable, behind, unknown = [], [], []
    for name, version in sorted(installed.items()):
        answer = answers[name]
        if answer is None:
            unknown.append(name)
            continue
        latest, vulns = answer
        # An advisory open on the latest release is taken to hold for older ones too.
        for vuln in vulns:
            fixed = ", ".join(vuln.get("fixed_in") or []) or "no fix yet"
            vulnerable.append(f"{name} {version}: {vuln['id']} (fixed in: {fixed})")
        try:
            is_behind = Version(version) < Version(latest)
        except InvalidVersion:
            is_behind = True
        if is_behind:
            behind.append(f"{name} {version} (latest {latest}): {graph.why_behind(name, latest)}")
    print(f"audited {len(installed)} distributions against PyPI's project JSON")
    if behind:
        print(f"{len(behind)} behind their latest release (older advisories not visible here):")
        print("  " + "\n  ".join(behind))
    if unknown:
        print(f"not found on PyPI, not audited: {', '.join(unknown)}")
    if vulnerable:
        print(f"{len(vulnerable)} known vulnerabilities:")
        print("  " + "\n  ".join(vulnerable))
        return 1
    print("No known vulnerabilities found")
    return 0


def main() -> int:
    probe = {"package": {"name": "pip", "ecosystem": "PyPI"}, "version": "20.0"}
    if _answers("POST", OSV, json=probe):
        return subprocess.call([*PIP_AUDIT, "--vulnerability-service", "osv"])
    pip_version = importlib.metadata.version("pip")
    if _answers("GET", f"{PYPI}/pip/{pip_version}/json"):
        return subprocess.call(PIP_AUDIT)
    if not _answers("GET", f"{PYPI}/pip/json"):
        print("pip-audit: no vulnerability feed answers (OSV, PyPI): NOT AUDITED", file=sys.stderr)
        return 1
    print("pip-audit: OSV and PyPI's per-release feed do not answer here; falling back to")
    print("the vulnerabilities PyPI lists for each project's latest release.")
    return _fallback()


if __name__ == "__main__":
    sys.exit(main())
