#!/usr/bin/env python3
"""Write docs/command-reference.md from the grammar, the op-command table and the schema.

    python scripts/gen_command_reference.py            # writes docs/command-reference.md
    python scripts/gen_command_reference.py --check    # exit 1 if the file is out of date

Operational and configure-mode commands are enumerated from the grammar (grammar/vpnsh.lark
and the operational commands' rules made from vpnsh/shell/op_table.py) with Lark's
interactive parser (every keyword sequence the grammar accepts up to the end of a line),
with the help the table declares; config paths come from the schema ROOT in
vpnsh.config.vpn_schema, with type, default and help.  Nothing is copied by hand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from lark import Token

from vpnsh.config.schema import (
    Container,
    Entries,
    Enum,
    Flag,
    Leaf,
    LeafList,
    Node,
    Ref,
    hint_of,
)
from vpnsh.config.vpn_schema import ROOT
from vpnsh.render.layouts import LAYOUTS
from vpnsh.shell import help as help_table
from vpnsh.shell import op_table
from vpnsh.shell.parser import CONFIGURE, OPERATIONAL, keyword_terminals, lark_parser, start_rule

OUT = Path(__file__).resolve().parent.parent / "docs" / "command-reference.md"

# How a free value terminal is written in a syntax line.
VALUE_TEXT = {"WORD": "<value>", "STRING": '"<text>"', "NUMBER": "<number>", "REGEX": "<regex>"}
# Terminals that repeat (paths, filters): written once, followed by "...".
REPEATING = ("WORD", "STRING", "LBRACKET", "RBRACKET")
# Options offered again after one was given, this many or more: an any-order option list
LONG_OPTION_LIST = 6


# ------------------------------------------------------------------ grammar


def command_forms(mode: str) -> list[tuple[str, str]]:
    """Every command form of ``mode`` as (syntax, help), pipes left out."""
    kw = keyword_terminals()
    forms: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(ip: object, words: list[str], keywords: list[str], states: frozenset,
              offered: frozenset = frozenset()) -> None:
        accepts = ip.accepts()  # type: ignore[attr-defined]
        if "$END" in accepts:
            syntax = " ".join(words)
            if syntax not in seen:
                seen.add(syntax)
                forms.append((syntax, form_help(words, mode)))
        # a long list of options in any order (request certificate generate): each option is
        # written once after the command, not in every order
        options = frozenset(t for t in accepts if t in kw)
        if len(options & offered) >= LONG_OPTION_LIST:
            return
        offered = offered | options
        for term in sorted(accepts - {"$END", "VBAR"}):
            probe = ip.copy()  # type: ignore[attr-defined]
            if term in kw:
                text, value = kw[term], kw[term]
            else:
                text, value = VALUE_TEXT.get(term, f"<{term.lower()}>"), "x1"
                if term == "STRING":
                    continue  # same slots as WORD, written once
            probe.feed_token(Token(term, value))
            state = tuple(probe.parser_state.state_stack)
            if term in ("LBRACKET", "RBRACKET"):
                continue
            if state in states or (term in REPEATING and words and words[-1].startswith("<")):
                # a repeating slot: write it once
                if words[-1].startswith("<") and not words[-1].endswith("..."):
                    visit(probe, [*words[:-1], words[-1] + "..."], keywords, states | {state},
                          offered)
                continue
            if len(words) > 12 or (term in kw and text in words):
                continue  # an option given once is enough (commit force description ...)
            visit(probe, [*words, text], keywords + ([text] if term in kw else []), states | {state},
                  offered)

    ip = lark_parser().parse_interactive("", start=start_rule(mode))
    visit(ip, [], [], frozenset())
    # "x <value>" is implied by "x <value>..."
    forms = [(f, h) for f, h in forms if f + "..." not in seen]
    if mode == CONFIGURE:  # the path slot of set/delete/edit/show/rename/move
        forms = [(_path_slot(f), h) for f, h in forms]
    return sorted(set(forms))


PATH_VERBS = ("set", "delete", "edit", "show", "rename", "move")


def _path_slot(syntax: str) -> str:
    words = syntax.split(" ")
    if words[0] in PATH_VERBS and len(words) > 1 and words[1].startswith("<value>"):
        words[1] = "<path>"
    return " ".join(words)


# Configure-mode forms whose help is not that of one keyword (an operational command's is
# its ``doc`` in vpnsh.shell.op_table).
COMMAND_HELP = {
    "commit": "Commit the candidate configuration",
    "save config": "Save the candidate configuration as a named snapshot",
    "load config": "Load a named snapshot into the candidate configuration",
}


def form_help(words: list[str], mode: str) -> str:
    """Help of a form: the command's own, or the last keyword's before the first value."""
    syntax = " ".join(words)
    overrides = COMMAND_HELP if mode == CONFIGURE else {
        c.words: c.doc for c in op_table.COMMANDS if c.doc}
    for prefix in sorted(overrides, key=len, reverse=True):
        if syntax == prefix or syntax.startswith(prefix + " "):
            return overrides[prefix]
    keywords: list[str] = []
    for word in words:
        if word.startswith(("<", '"')):
            break
        keywords.append(word)
    if not keywords:
        return ""
    return help_table.keyword_help(keywords[:-1], keywords[-1], mode)


# ------------------------------------------------------------------ schema


def type_text(node: Leaf | LeafList) -> str:
    vt = node.type
    if isinstance(vt, Enum):
        text = " | ".join(vt.values)
    elif isinstance(vt, Ref):
        targets = ", ".join(" ".join(t) for t in vt.targets)
        extra = f" or {' | '.join(vt.extra)}" if vt.extra else ""
        text = f"name of a `{targets}` entry{extra}"
    else:
        text = hint_of(vt)
    if isinstance(node, LeafList):
        text = f"list of {text} (`[ a b ]`; `set` appends)"
    return text


def default_text(node: Node) -> str:
    default = getattr(node, "default", None)
    if default is None:
        return ""
    if isinstance(default, tuple | list):
        return "[ " + " ".join(map(str, default)) + " ]"
    return str(default)


def config_rows(node: Node, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str, str, str]]:
    """(path, type, default, help) for every settable node below ``node``."""
    if isinstance(node, Container):
        if path:
            choice = " (one of its children)" if node.choice else ""
            yield " ".join(path), "container" + choice, "", node.describe()
        for child in node.children:
            yield from config_rows(child, (*path, child.name))
    elif isinstance(node, Entries):
        order = ", ordered (`move`)" if node.ordered else ""
        yield " ".join(path), f"entries named {hint_of(node.key)}{order}", "", node.describe()
        entry = (*path, hint_of(node.key))
        for child in node.children:
            yield from config_rows(child, (*entry, child.name))
    elif isinstance(node, Flag):
        yield " ".join(path), "flag (no value)", "", node.describe()
    elif isinstance(node, Leaf | LeafList):
        yield " ".join(path), type_text(node), default_text(node), node.describe()


# ------------------------------------------------------------------ document


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    out = [
        "# vpnsh command reference",
        "",
        "Generated by `scripts/gen_command_reference.py` from the operational commands' table",
        "(`vpnsh/shell/op_table.py`), the grammar (`grammar/vpnsh.lark`) and the schema",
        "(`vpnsh/config/vpn_schema.py`). Do not edit by hand: change the table, the grammar,",
        "configure mode's help (`vpnsh/shell/help.py`) or the schema, then run the script again.",
        "",
        "Notation: `<value>` a name or word (quote it if it has blanks: `\"a b\"`), `<number>` digits,",
        "`<regex>` a regular expression, `...` the slot repeats.",
        "Every command may end with pipes: `| match <regex>` keeps the lines that match,",
        "`| except <regex>` drops them; pipes chain left to right.",
        "",
        "## Operational mode (`user@host>`)",
        "",
        "| Command | Help |",
        "| --- | --- |",
    ]
    out += [f"| `{_cell(s)}` | {_cell(h)} |" for s, h in command_forms(OPERATIONAL)]
    out += [
        "",
        "## Configure mode (`user@host#`)",
        "",
        "`set`, `delete`, `edit`, `show`, `rename` and `move` take a `<path>` (next section),",
        "relative to the current edit level shown as `[edit ...]` above the prompt.",
        "`run` takes any operational command.",
        "",
        "| Command | Help |",
        "| --- | --- |",
    ]
    cfg = [(s, h) for s, h in command_forms(CONFIGURE) if not s.startswith("run ")]
    cfg.append(("run <operational command>", help_table.KEYWORD_HELP["run"]))
    out += [f"| `{_cell(s)}` | {_cell(h)} |" for s, h in sorted(cfg)]
    out += [
        "",
        "## Output layouts",
        "",
        "How sure each layout is: *verified* against real PAN-OS output, or *modelled* on",
        "PAN-OS's fields and style (`vpnsh/render/layouts.py`). The VPN commands' layouts are in",
        "`docs/operational-data.md`.",
        "",
        "| Command | Layout | Source |",
        "| --- | --- | --- |",
    ]
    out += [f"| `{_cell(c)}` | {v} | {_cell(src)} |" for c, (v, src) in LAYOUTS.items()]
    out += [
        "",
        "## Config paths",
        "",
        "Every node of the config tree, in `set` form. `<name>`-like words are the names of",
        "entries you choose. A missing leaf has its default; defaults are not stored.",
        "",
        "| Path | Type | Default | Help |",
        "| --- | --- | --- | --- |",
    ]
    out += [f"| `{_cell(p)}` | {_cell(t)} | {_cell(d)} | {_cell(h)} |" for p, t, d, h in config_rows(ROOT)]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the reference is out of date")
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run scripts/gen_command_reference.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
