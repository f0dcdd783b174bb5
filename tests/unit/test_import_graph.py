"""The package has no import cycle, and a codec module does not load an engine.

The graph counts every import the source names: module level, inside functions and under
``if TYPE_CHECKING:``; and importing ``a.b.c`` runs ``a.b/__init__`` first, so a package's
``__init__`` that imports its engine would put every codec module in a cycle with it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "vpnsh"


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        mods[".".join(parts)] = (path, is_pkg)
    return mods


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of vpnsh it imports (and the packages that contain it)."""
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rsplit(".", 1)[0]
        parts = name.split(".")
        for i in range(1, len(parts)):
            if ".".join(parts[:i]) in mods:
                edges[name].add(".".join(parts[:i]))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges[name].update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                if base in mods:
                    edges[name].add(base)
                edges[name].update(f"{base}.{a.name}" for a in node.names
                                   if f"{base}.{a.name}" in mods)
        edges[name].discard(name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_the_checker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_relative_type_only_and_parent_imports() -> None:
    edges = import_graph()
    # function-level and TYPE_CHECKING imports count
    assert "vpnsh.engine.ikev2.sa" in edges["vpnsh.engine.ikev2.tasks.ike_auth"]
    # a submodule depends on the packages that hold it
    assert "vpnsh.engine.ikev2" in edges["vpnsh.engine.ikev2.payloads"]
    assert "vpnsh.engine.ike.events" in edges["vpnsh.engine.ikev1.engine"]


def test_no_import_cycle_in_vpnsh() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    "codec",
    [
        "vpnsh.engine.ikev2.payloads",
        "vpnsh.engine.ikev2.message",
        "vpnsh.engine.ikev1.message",
        "vpnsh.engine.ikev1.sa",
        "vpnsh.engine.ike.events",
    ],
)
def test_importing_a_codec_loads_no_engine(codec: str) -> None:
    code = (
        f"import sys; import {codec}; "
        "loaded = [m for m in ('vpnsh.engine.ikev2.engine', 'vpnsh.engine.ikev1.engine', "
        "'vpnsh.engine.ikev1.dual', 'vpnsh.engine.service') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
