#!/usr/bin/env python3
"""Check that a fresh machine gets every Debian package the tests use.

Each external program that the tests (and the vpnsh code they run) start, and each strongSwan
plugin the tests load, is resolved to the Debian package that ships it here (`dpkg -S`). Each
such package must be in `.ci/run`'s apt-get install list, or pulled in by the Depends of one
that is (not Recommends: `.ci/run` installs with --no-install-recommends), or be part of every
Debian system (Essential or Priority: required). A package installed by hand on this machine
would otherwise hide a missing one until CI runs on a fresh machine.

Where programs are found: in tests/, vpnsh/ and scripts/, the first word of a string, or the
first string of a list or tuple, given as the first argument of a call (`run("ping", ...)`,
`spawn(["unshare", ...])`), every string argument of `tool_missing(...)` and `shutil.which(...)`,
and absolute paths of executables. A word that is no program on this machine is ignored.
Plugins: every `load =` list the strongSwan helper renders (its PLUGINS and any `plugins=`
argument or `*PLUGINS` constant); a plugin that is not installed is traced through the
helper's PLUGIN_PACKAGES table.

Run after `.ci/run` installed its packages:  python3 scripts/ci_deps.py [CI_RUN_FILE]
Exit status 1, with one line per problem, when something would be missing.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("tests", "vpnsh", "scripts")
PLUGIN_DIR = Path("/usr/lib/ipsec/plugins")
WHOLE_ARG_CALLS = {"tool_missing", "which"}
# Calls that start a program from their first argument (subprocess, asyncio, the test helpers).
PROCESS_CALLS = {"run", "spawn", "Popen", "check_output", "check_call", "call", "_ip",
                 "create_subprocess_exec", "create_subprocess_shell", "execvp", "execv"}
DEBIAN_DIRS = ("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/lib/", "/usr/libexec/",
               "/usr/include/", "/usr/share/")


def ci_packages(ci_run: str) -> list[str]:
    """The packages of every `apt-get ... install` command in `.ci/run` (continuation lines too)."""
    joined = re.sub(r"\\\n", " ", ci_run)
    packages: list[str] = []
    for line in joined.splitlines():
        words = line.split()
        if not words or words[0] != "apt-get" or "install" not in words:
            continue
        for word in words[words.index("install") + 1:]:
            if word.startswith(("<", ">", "|", "&", ";")):
                break
            if not word.startswith("-"):
                packages.append(word)
    return packages


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _first_word(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        words = node.value.split()
        return words[0] if words else None
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        return _first_word(node.elts[0])
    return None


def program_words(tree: ast.AST) -> Iterator[str]:
    """Words in a parsed module that may name a program it starts."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            name = _call_name(node)
            if name in WHOLE_ARG_CALLS:
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        yield arg.value
            word = _first_word(node.args[0]) if name in PROCESS_CALLS else None
            if word:
                yield word
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and node.value.startswith("/usr/") and " " not in node.value):
            yield node.value


def plugin_lists(tree: ast.AST) -> Iterator[str]:
    """The strings given as strongSwan plugin lists (`X_PLUGINS = ...`, `plugins=...`)."""
    for node in ast.walk(tree):
        named = isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id.endswith("PLUGINS") for t in node.targets)
        keyword = isinstance(node, ast.keyword) and node.arg == "plugins"
        value = node.value if named or keyword else None  # type: ignore[attr-defined]
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            yield value.value


def _modules() -> Iterator[ast.AST]:
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield ast.parse(path.read_text(errors="replace"), filename=str(path))


def _system_path() -> str:
    """PATH without virtual environments: their scripts are pip's, not Debian's."""
    keep = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and not (Path(p) / "activate").exists()]
    return os.pathsep.join(keep + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"])


def owning_package(path: str) -> str | None:
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):  # Debian 12 is usrmerged; dpkg may know either spelling
        if p.startswith("/usr/"):
            candidates.append(p[len("/usr"):])
        else:
            candidates.append("/usr" + p)
    for p in candidates:
        res = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        for line in res.stdout.splitlines():  # skip "diversion by dash from: /bin/sh"
            if not line.startswith("diversion ") and ": " in line:
                return line.split(": ")[0].split(",")[0].strip().split(":")[0]
    return None


def depends_closure(packages: Iterable[str]) -> set[str]:
    names = sorted(set(packages))
    res = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *names],
        capture_output=True, text=True)
    closure = set(names)
    closure.update(line.strip() for line in res.stdout.splitlines()
                   if line and not line.startswith((" ", "<")))
    return {n.split(":")[0] for n in closure}


def is_base(package: str) -> bool:
    res = subprocess.run(["dpkg-query", "-W", "-f", "${Essential} ${Priority}", package],
                         capture_output=True, text=True)
    return res.returncode == 0 and ("yes" in res.stdout.split() or "required" in res.stdout)


def plugin_package_table() -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from tests.helpers.strongswan import PLUGIN_PACKAGES
    return dict(PLUGIN_PACKAGES)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    ci_run = Path(args[0]) if args else ROOT / ".ci" / "run"
    listed = ci_packages(ci_run.read_text())
    if not listed:
        print("ci_deps: found no apt-get install list in .ci/run", file=sys.stderr)
        return 1
    closure = depends_closure(listed)
    modules = list(_modules())

    needs: dict[str, str] = {}  # what is used -> the package that ships it
    problems: list[str] = []
    search = _system_path()
    for word in sorted({w for tree in modules for w in program_words(tree)}):
        if "/" not in word and not re.fullmatch(r"[A-Za-z0-9][\w.+-]*", word):
            continue
        path = word if word.startswith("/") else shutil.which(word, path=search)
        if not path or not os.path.isfile(path):
            continue
        if not path.startswith(DEBIAN_DIRS):
            print(f"ci_deps: {word} is {path}, not a Debian file: not checked")
            continue
        what = f"file {word}" if word.startswith("/") else f"program {word}"
        package = owning_package(path)
        if package is None:
            problems.append(f"{what} ({path}): no Debian package ships it")
        else:
            needs[what] = package

    table = plugin_package_table()
    for name in sorted({n for tree in modules for s in plugin_lists(tree) for n in s.split()}):
        so = PLUGIN_DIR / f"libstrongswan-{name}.so"
        package = owning_package(str(so)) if so.exists() else table.get(name)
        if package is None:
            problems.append(f"strongSwan plugin {name}: not installed and not in PLUGIN_PACKAGES "
                            "(tests/helpers/strongswan.py)")
        else:
            needs[f"strongSwan plugin {name}"] = package

    for what, package in sorted(needs.items()):
        if package not in closure and not is_base(package):
            problems.append(f"{what} comes from Debian package {package}, "
                            "which .ci/run does not install")
    if problems:
        print("ci_deps: a fresh machine would lack what the tests use:")
        for line in problems:
            print(f"- {line}")
        return 1
    print(f"ci_deps: {len(needs)} programs, files and strongSwan plugins the tests use come from "
          f"{len(set(needs.values()))} packages that .ci/run installs or every Debian system has")
    return 0


if __name__ == "__main__":
    sys.exit(main())
