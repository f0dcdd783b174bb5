"""``find command keyword KW``: every command form and config path that has KW in it.

Operational and configure-mode command forms come from the grammar (walked with
Lark's interactive parser: keywords as themselves, free values as ``<value>``);
config paths come from the schema (``set network ike gateway <name> ...``).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from lark import Token
from lark.exceptions import LarkError

from vpnsh.config import schema
from vpnsh.config.vpn_schema import ROOT
from vpnsh.shell.parser import CONFIGURE, OPERATIONAL, keyword_terminals, lark_parser, start_rule

MAX_WORDS = 10
_VALUE_SAMPLE = {"NUMBER": "1", "WORD": "x", "STRING": '"x"', "REGEX": "x"}


def _forms(mode: str) -> Iterator[str]:
    kw = keyword_terminals()
    parser = lark_parser()
    stack: list[tuple[Any, tuple[str, ...]]] = [(parser.parse_interactive("", start=start_rule(mode)), ())]
    seen: set[tuple[str, ...]] = set()
    while stack:
        ip, words = stack.pop()
        try:
            accepts = ip.accepts()
        except LarkError:
            continue
        if "$END" in accepts and words:
            yield " ".join(words)
        if len(words) >= MAX_WORDS:
            continue
        for term in sorted(accepts, reverse=True):
            if term in ("$END", "VBAR", "LBRACKET", "RBRACKET"):
                continue
            if term in kw:
                word, text = kw[term], kw[term]
                if word in words:  # repeatable options (commit force description ...): once
                    continue
            elif term in _VALUE_SAMPLE:
                word, text = "<value>", _VALUE_SAMPLE[term]
            else:
                continue
            if words and word == "<value>" and words[-1] == "<value>":
                # a path: "<value> <value> ..." once is enough ("set <path>")
                key = (*words, "...")
                if key in seen:
                    continue
                seen.add(key)
                yield " ".join((*words[:-1], "<path>"))
                continue
            nxt = (*words, word)
            if nxt in seen:
                continue
            seen.add(nxt)
            probe = ip.copy()
            try:
                probe.feed_token(Token(term, text))
            except LarkError:
                continue
            stack.append((probe, nxt))


def _schema_paths(node: schema.Node, prefix: tuple[str, ...]) -> Iterator[str]:
    if isinstance(node, schema.Entries):
        here = (*prefix, node.name, "<name>")
        yield " ".join(here)
        for child in node.children:
            yield from _schema_paths(child, here)
    elif isinstance(node, schema.Container):
        here = (*prefix, node.name) if node.name else prefix
        if here:
            yield " ".join(here)
        for child in node.children:
            yield from _schema_paths(child, here)
    elif isinstance(node, schema.Flag):
        yield " ".join((*prefix, node.name))
    else:
        yield " ".join((*prefix, node.name, "<value>"))


@lru_cache(maxsize=1)
def all_commands() -> tuple[str, ...]:
    op = sorted(set(_forms(OPERATIONAL)))
    cfg = sorted({f for f in _forms(CONFIGURE) if not f.startswith(("set <", "delete <", "edit <", "show <", "run "))})
    paths = []
    for top in getattr(ROOT, "children", []):
        paths += [f"set {p}" for p in _schema_paths(top, ())]
    return tuple([*op, *(f"(configure) {c}" for c in cfg), *(f"(configure) {p}" for p in paths)])


def find_command(keyword: str) -> str:
    """The matching commands, one a line (PAN-OS lists the full command forms)."""
    word = keyword.lower()
    found = [c for c in all_commands() if word in c.lower()]
    return "".join(f"{c}\n" for c in found)
