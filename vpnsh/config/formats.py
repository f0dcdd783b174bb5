"""Config trees as text: ``default`` (brace tree), ``set`` lines, ``xml`` and ``json``.

``render(tree, fmt, path)`` and ``parse(text, fmt)`` are inverse: parse(render(t)) == t for
every tree ``set`` can build.  Both are driven by the schema: children print in schema order,
entries in their stored order.  Secrets are stored encrypted, so they print encrypted.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from typing import Any

from .schema import Container, Entries, Flag, Leaf, LeafList, Node
from .tree import ConfigError, Encrypt, Path, get_path, node_at, parse_value, set_path
from .vpn_schema import ROOT

FORMATS = ("default", "set", "xml", "json")
_PLAIN = re.compile(r"[^\s\"'\\;{}\[\]]+")


def quote(word: str) -> str:
    """``word`` as one token: bare if it can be, else in double quotes."""
    if _PLAIN.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tokenize(text: str) -> Iterator[str]:
    """Split text into words, quoted strings (unquoted) and the marks ``{ } [ ] ;``."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "{}[];":
            yield c
            i += 1
        elif c in "\"'":
            out, i = [], i + 1
            while i < n and text[i] != c:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                out.append(text[i])
                i += 1
            if i >= n:
                raise ConfigError((), "unterminated quoted string")
            i += 1
            yield "".join(out)
        else:
            m = _PLAIN.match(text, i)
            assert m is not None
            yield m.group()
            i = m.end()


# --------------------------------------------------------------------------- render


def _children(node: Container | Entries, value: dict) -> Iterator[tuple[Node, Any]]:
    for child in node.children:
        if child.name in value:
            yield child, value[child.name]


def _scalar(v: Any) -> str:
    return quote(str(v))


def _brace(node: Node, key: str, value: Any, ind: str, entry: bool = False) -> Iterator[str]:
    if isinstance(node, Flag):
        yield f"{ind}{quote(key)};"
    elif isinstance(node, Leaf):
        yield f"{ind}{quote(key)} {_scalar(value)};"
    elif isinstance(node, LeafList):
        if len(value) == 1:
            yield f"{ind}{quote(key)} {_scalar(value[0])};"
        else:
            yield f"{ind}{quote(key)} [ {' '.join(_scalar(v) for v in value)} ];"
    elif not value:
        yield f"{ind}{quote(key)} {{ }}"
    else:
        yield f"{ind}{quote(key)} {{"
        yield from _brace_body(node, value, ind + "  ", entry)
        yield f"{ind}}}"


def _brace_body(node: Node, value: dict, ind: str, entry: bool = False) -> Iterator[str]:
    if isinstance(node, Entries) and not entry:
        for name, sub in value.items():
            yield from _brace(node, name, sub, ind, entry=True)
        return
    assert isinstance(node, Container | Entries)
    for child, sub in _children(node, value):
        yield from _brace(child, child.name, sub, ind)


def _set_lines(node: Node, prefix: Path, value: Any, entry: bool = False) -> Iterator[str]:
    words = " ".join(quote(k) for k in prefix)
    if isinstance(node, Flag):
        yield f"set {words}"
    elif isinstance(node, Leaf):
        yield f"set {words} {_scalar(value)}"
    elif isinstance(node, LeafList):
        if len(value) == 1:
            yield f"set {words} {_scalar(value[0])}"
        else:
            yield f"set {words} [ {' '.join(_scalar(v) for v in value)} ]"
    elif isinstance(node, Entries) and not entry:
        for name, sub in value.items():
            yield from _set_lines(node, prefix + (name,), sub, entry=True)
    else:
        assert isinstance(node, Container | Entries)
        if not value and prefix:
            yield f"set {words}"
        for child, sub in _children(node, value):
            yield from _set_lines(child, prefix + (child.name,), sub)


def _xml(node: Node, key: str, value: Any, entry: bool = False) -> ET.Element:
    el = ET.Element("entry", name=key) if entry else ET.Element(key)
    if isinstance(node, Leaf):
        el.text = str(value)
    elif isinstance(node, LeafList):
        for v in value:
            if node.xml == "entry":
                ET.SubElement(el, "entry", name=str(v))
            else:
                ET.SubElement(el, "member").text = str(v)
    elif isinstance(node, Entries) and not entry:
        for name, sub in value.items():
            el.append(_xml(node, name, sub, entry=True))
    elif isinstance(node, Container | Entries):
        for child, sub in _children(node, value):
            el.append(_xml(child, child.name, sub))
    return el


def to_element(value: Any, path: Sequence[str] = ()) -> ET.Element:
    """The value stored at ``path`` as the XML element ``render(..., "xml", path)`` prints
    (an entry as ``<entry name="N">``); the PAN-OS XML API builds its replies from it."""
    path = tuple(path)
    node, is_entry = node_at(path) if path else (ROOT, False)
    return _xml(node, path[-1] if path else ROOT.name, value, entry=is_entry)


def render(tree: dict, fmt: str = "default", path: Sequence[str] = ()) -> str:
    """The config at ``path`` (default: all of it) as text in format ``fmt``."""
    path = tuple(path)
    node, is_entry = node_at(path) if path else (ROOT, False)
    value = get_path(tree, path)[1] if path else tree
    if value is None:
        return ""
    key = path[-1] if path else ROOT.name
    if fmt == "json":
        return json.dumps(value if not path else {key: value}, indent=2)
    if fmt == "set":
        lines = list(_set_lines(node, path, value, entry=is_entry))
        return "\n".join(lines) + ("\n" if lines else "")
    if fmt == "xml":
        el = _xml(node, key, value, entry=is_entry)
        ET.indent(el)
        return ET.tostring(el, encoding="unicode") + "\n"
    if fmt == "default":
        if not path:  # the whole tree under PAN-OS's "config {" root
            body = list(_brace_body(ROOT, value, "  "))
            lines = [f"{ROOT.name} {{", *body, "}"] if body else []
        else:
            lines = list(_brace(node, key, value, "", entry=is_entry))
        return "\n".join(lines) + ("\n" if lines else "")
    raise ValueError(f"unknown format '{fmt}'")


# --------------------------------------------------------------------------- parse


def _canonical(node: Node, raw: Any, path: Path, encrypt: Encrypt | None,
               entry: bool = False) -> Any:
    """Check ``raw`` (strings from a text format) against the schema; canonical values."""
    if isinstance(node, Flag):
        if raw not in ({}, None, ""):
            raise ConfigError(path, f"{node.name} takes no value", "value")
        return {}
    if isinstance(node, Leaf):
        if isinstance(raw, dict | list) or raw is None:
            raise ConfigError(path, f"{node.name} needs one value", "value")
        return parse_value(node, path, str(raw), encrypt)
    if isinstance(node, LeafList):
        if not isinstance(raw, list) or not raw:
            raise ConfigError(path, f"{node.name} needs a list of values", "value")
        out: list = []
        for v in raw:
            parsed = parse_value(node, path, str(v), encrypt)
            if parsed not in out:
                out.append(parsed)
        return out
    if not isinstance(raw, dict):
        raise ConfigError(path, f"'{path[-1] if path else node.name}' is unexpected")
    assert isinstance(node, Container | Entries)
    if isinstance(node, Entries) and not entry:
        entries = {}
        for name, sub in raw.items():
            try:
                key = str(node.key.parse(name))
            except ValueError as exc:
                raise ConfigError(path + (name,), f"{node.name} {exc}", "value") from None
            entries[key] = _canonical(node, sub, path + (key,), encrypt, entry=True)
        return entries
    result = {}
    for key, sub in raw.items():
        child = node.child(key)
        if child is None:
            raise ConfigError(path + (key,), f"'{key}' is unexpected")
        if any(r in result for r in node.rivals(key)):
            raise ConfigError(path + (key,), f"{key} cannot be used together with "
                              f"{', '.join(r for r in node.rivals(key) if r in result)}", "value")
        result[key] = _canonical(child, sub, path + (key,), encrypt)
    return result


class _Tokens:
    def __init__(self, text: str) -> None:
        self.toks = list(tokenize(text))
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise ConfigError((), f"expected '{want or 'a word'}' but found '{tok or 'end'}'")
        self.i += 1
        return tok


def _brace_parse(ts: _Tokens, node: Container | Entries, entry: bool, path: Path) -> dict:
    out: dict = {}
    while ts.peek() not in ("}", None):
        key = ts.take()
        if isinstance(node, Entries) and not entry:
            child: Node = node
        else:
            found = node.child(key)
            if found is None:
                raise ConfigError(path + (key,), f"'{key}' is unexpected")
            child = found
        is_entry = child is node
        if isinstance(child, Flag):
            ts.take(";")
            out[key] = {}
        elif isinstance(child, Leaf):
            out[key] = ts.take()
            ts.take(";")
        elif isinstance(child, LeafList):
            if ts.peek() == "[":
                ts.take()
                members = []
                while ts.peek() != "]":
                    members.append(ts.take())
                ts.take("]")
            else:
                members = [ts.take()]
            ts.take(";")
            out[key] = members
        else:
            assert isinstance(child, Container | Entries)
            if ts.peek() == ";":
                ts.take()
                out[key] = {}
                continue
            ts.take("{")
            out[key] = _brace_parse(ts, child, is_entry, path + (key,))
            ts.take("}")
    return out


def _xml_parse(el: ET.Element, node: Node, path: Path, entry: bool = False) -> Any:
    if isinstance(node, Flag):
        return {}
    if isinstance(node, Leaf):
        return el.text or ""
    if isinstance(node, LeafList):
        for m in el:
            if m.tag != node.xml:
                raise ConfigError(path + (m.tag,), f"'{m.tag}' is unexpected")
        if node.xml == "entry":
            return [m.get("name") or "" for m in el]
        return [m.text or "" for m in el]
    assert isinstance(node, Container | Entries)
    out: dict = {}
    if isinstance(node, Entries) and not entry:
        for sub in el:
            name = sub.get("name")
            if sub.tag != "entry" or name is None:
                raise ConfigError(path + (sub.tag,), f"'{sub.tag}' is unexpected")
            out[name] = _xml_parse(sub, node, path + (name,), entry=True)
        return out
    for sub in el:
        child = node.child(sub.tag)
        if child is None:
            raise ConfigError(path + (sub.tag,), f"'{sub.tag}' is unexpected")
        out[sub.tag] = _xml_parse(sub, child, path + (sub.tag,))
    return out


def from_element(el: ET.Element, path: Sequence[str] = (), *, encrypt: Encrypt | None = None) -> Any:
    """The value for ``path`` from an XML element whose content is that node's content
    (its tag is not looked at), checked against the schema as :func:`parse` checks it."""
    path = tuple(path)
    node, is_entry = node_at(path) if path else (ROOT, False)
    raw = _xml_parse(el, node, path, entry=is_entry)
    return _canonical(node, raw, path, encrypt, entry=is_entry)


def parse(text: str, fmt: str = "default", *, encrypt: Encrypt | None = None) -> dict:
    """A whole config tree from text in format ``fmt`` (as ``render(tree, fmt)`` writes it).

    Raises ConfigError naming the first bad keyword or value.  Clear-text secrets are
    encrypted with ``encrypt`` (an error without it).
    """
    if fmt == "set":
        tree: dict = {}
        for number, line in enumerate(text.splitlines(), 1):
            words = list(tokenize(line))
            if not words or words[0].startswith("#"):
                continue
            if words[0] != "set":
                raise ConfigError((), f"line {number}: '{words[0]}' is unexpected")
            try:
                set_path(tree, words[1:], encrypt=encrypt)
            except ConfigError as exc:
                raise ConfigError(exc.path, f"line {number}: {exc.message}", exc.kind) from None
        return tree
    if fmt == "json":
        try:
            raw = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError((), f"invalid JSON: {exc}") from None
    elif fmt == "xml":
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise ConfigError((), f"invalid XML: {exc}") from None
        if root.tag != ROOT.name:
            raise ConfigError((root.tag,), f"'{root.tag}' is unexpected")
        raw = _xml_parse(root, ROOT, ())
    elif fmt == "default":
        ts = _Tokens(text)
        wrapped = ts.peek() == ROOT.name  # "config { ... }" as render writes it (or not)
        if wrapped:
            ts.take()
            ts.take("{")
        raw = _brace_parse(ts, ROOT, False, ())
        if wrapped:
            ts.take("}")
        if ts.peek() is not None:
            raise ConfigError((), f"'{ts.peek()}' is unexpected")
    else:
        raise ValueError(f"unknown format '{fmt}'")
    return _canonical(ROOT, raw, (), encrypt)
