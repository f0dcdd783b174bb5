"""Operational command lines without Lark: the shell's first parser.

A one-shot ``vpnsh -c 'show vpn ike-sa'`` would spend most of its time loading Lark and
its LALR tables for one line.  This module matches an operational line against the
automaton of the operational commands (:func:`vpnsh.shell.op_syntax.machine` of
:data:`vpnsh.shell.op_table.COMMANDS`, the table that also makes the grammar's op half,
help and TAB) and gives the :class:`Command` that :func:`vpnsh.shell.parser.parse` gives.

It answers only when it is sure: anything it does not recognise exactly as the Lark
parser would, it declines (:func:`match` returns None) and :func:`parse` hands the line
to the Lark parser, which also writes every error message.  It declines:

- configure mode, and any line that is not a whole operational command;
- a character other than printable ASCII, blank and tab;
- words not set apart by blanks (``gateway"GW1"``, ``[a b]``): Lark's lexer splits those;
- a free value spelled as a keyword of the grammar (``to``, ``all``) anywhere but right
  after a plain keyword where only a value may come (``show interface all``): Lark's
  contextual lexer reads a keyword wherever its LALR state accepts one, and merged
  lookaheads make that hard to know from here;
- a line that two commands, or two readings of one command, would take.

tests/unit/test_op_match.py holds it to that: every operational line of the grammar
tests, every form the Lark grammar accepts and generated values and mistakes give
the same Command through both, or are declined.

Cheap to import: the standard library, :mod:`vpnsh.shell.op_table` and
:mod:`vpnsh.shell.command` only.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from vpnsh.shell import op_syntax, op_table
from vpnsh.shell.command import OPERATIONAL, Command, Pipe, unquote

# the grammar's terminals (grammar/vpnsh.lark), matched where the grammar has them
_STRING = re.compile(r'"(\\.|[^"\\])*"')
_WORD = re.compile(r'[^\s"\[\]|]+')
_REGEX = re.compile(r'[^\s"|]+')
_NUMBER = re.compile(r"[0-9]+")
_BRACKET_OR_BAR = re.compile(r"[\[\]|]")
_PLAIN = re.compile(r"[\x20-\x7e\t]*")  # printable ASCII, blanks and tabs
_BLANKS = " \t"

_DECLINE = object()  # a step that only the Lark parser can judge
_NO_MATCH = object()

Event = tuple[str, Any]  # (argument or flag key, value) in the order of the line


def parse(line: str, mode: str) -> Command | None:
    """One line -> its :class:`Command` (None for a blank line), as
    :func:`vpnsh.shell.parser.parse` gives it; the Lark parser is loaded only for a line
    the matcher declines.  Raises :class:`vpnsh.shell.command.CommandError`."""
    if mode == OPERATIONAL:
        if _PLAIN.fullmatch(line) and not line.split():
            return None
        command = match(line)
        if command is not None:
            return command
    from vpnsh.shell import parser

    return parser.parse(line, mode)


def match(line: str) -> Command | None:
    """The operational command of ``line``, or None: not one, or not sure (see above)."""
    lexed = _lex(line)
    if lexed is None:
        return None
    words, pipes = lexed
    if not words:
        return None
    m = _machine(words[0])
    if m is None:
        return None
    live: dict[tuple[Event, ...], list[int]] = {(): m.closure(m.starts)}
    after_keyword = False  # the word before was a plain keyword on every reading
    for word in words:
        keyword_ok = after_keyword and _value_only(m, live)
        moved: dict[tuple[Event, ...], list[int]] = {}
        after_keyword = True
        for events, states in live.items():
            for s in states:
                st = m.states[s]
                if st.node is None:
                    continue
                event = _step(st.node, st.command, word, keyword_ok)
                if event is _DECLINE:
                    return None
                if event is _NO_MATCH:
                    continue
                if event is not None or not isinstance(st.node, op_syntax.Kw) \
                        or st.node.word in ("[", "]"):
                    after_keyword = False  # a value, flag, choice or bracket
                after = events if event is None else (*events, event)
                moved.setdefault(after, []).append(st.out)
        if not moved:
            return None
        live = {events: m.closure(states) for events, states in moved.items()}
    ends = {(m.states[s].command.name, events)
            for events, states in live.items() for s in states if s in m.finals}
    if len(ends) != 1:
        return None
    ((name, events),) = ends
    return Command(name, _args(op_table.BY_NAME[name], events), pipes)


def _lex(line: str) -> tuple[list[str], list[Pipe]] | None:
    """The command's words (strings kept quoted) and its pipes, or None to decline."""
    if not _PLAIN.fullmatch(line):
        return None
    words: list[str] = []
    pipes: list[Pipe] = []
    where = "command"  # then "bar" (after |), "regex" (after | match), "piped" (after a regex)
    kind = ""
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _BLANKS:
            i += 1
        if i >= n:
            break
        ch = line[i]
        if where == "regex":
            found = (_STRING if ch == '"' else _REGEX).match(line, i)
        elif ch == '"':
            found = _STRING.match(line, i)
        elif ch in "[]|":
            found = _BRACKET_OR_BAR.match(line, i)
        else:
            found = _WORD.match(line, i)
        if found is None:
            return None
        text, i = found.group(), found.end()
        if i < n and line[i] not in _BLANKS:
            return None  # words not set apart: Lark's lexer decides
        if where == "command":
            if text == "|":
                where = "bar"
            else:
                words.append(text)
        elif where == "bar":
            if text not in ("match", "except"):
                return None
            kind, where = text, "regex"
        elif where == "regex":
            pipes.append(Pipe(kind, unquote(text)))
            where = "piped"
        elif text == "|":
            where = "bar"
        else:
            return None
    return (words, pipes) if where in ("command", "piped") else None


def _value_only(m: op_syntax._Machine, live: dict[tuple[Event, ...], list[int]]) -> bool:
    """Whether only a free value may come next on every reading (no keyword, no choice,
    and the command may not end here)."""
    for states in live.values():
        for s in states:
            if s in m.finals:
                return False
            st = m.states[s]
            if st.node is not None and (isinstance(st.node, op_syntax.Kw)
                                        or st.command.arg(st.node.key).choices):
                return False
    return True


def _step(node: op_syntax.Kw | op_syntax.Val, command: op_table.OpCommand, word: str,
          keyword_ok: bool) -> Any:
    """What ``word`` does at ``node``: None (a keyword), an Event, _NO_MATCH or _DECLINE.
    A value spelled as a keyword is taken only where ``keyword_ok``: right after a plain
    keyword, where nothing but a free value may come.  There Lark's LALR state accepts
    nothing but the value's terminals (no reduction, so no lookahead merged from other
    commands), and its contextual lexer reads the word as a value; anywhere else it may
    read a keyword."""
    if isinstance(node, op_syntax.Kw):
        if node.word != word:
            return _NO_MATCH
        return (op_syntax.flag_key(word), True) if node.flag else None
    arg = command.arg(node.key)
    if arg.choices:
        return (node.key, word) if word in arg.choices else _NO_MATCH
    if word in ("[", "]"):
        return _NO_MATCH
    if arg.kind == op_table.NUMBER:
        return (node.key, int(word)) if _NUMBER.fullmatch(word) else _NO_MATCH
    if word.startswith('"'):
        return (node.key, unquote(word)) if arg.kind == op_table.NAME else _NO_MATCH
    if arg.kind not in (op_table.NAME, op_table.WORD):
        return _DECLINE
    if not keyword_ok and word in _keywords():
        return _DECLINE
    return (node.key, word)


def _args(command: op_table.OpCommand, events: tuple[Event, ...]) -> dict[str, Any]:
    """The args as the Lark parser's tree gives them: a flag True, a value once as itself,
    repeated as a list (and a ``<key>...`` value always a list)."""
    args: dict[str, Any] = {}
    for key, value in events:
        if value is True or key not in args:
            args[key] = value
        else:
            prev = args[key]
            args[key] = (prev if isinstance(prev, list) else [prev]) + [value]
    for key in command.listed_args():
        if key in args and not isinstance(args[key], list):
            args[key] = [args[key]]
    return args


@lru_cache(maxsize=16)
def _machine(first: str) -> op_syntax._Machine | None:
    """The automaton of the commands whose first word is ``first`` (the one of all the
    commands, which ``?`` help uses, takes a one-shot ~2 ms to make)."""
    commands = [c for c in op_table.COMMANDS if first == c.words.split()[0] or first in c.also]
    return op_syntax.machine(commands, op_table.word_help) if commands else None


@lru_cache(maxsize=1)
def _keywords() -> frozenset[str]:
    """Every keyword of the grammar: the literals of grammar/vpnsh.lark (configure mode,
    pipes) and every word, keyword and choice of the operational commands."""
    import vpnsh.grammar

    found = set(re.findall(r'"([^"\\\s]+)"', vpnsh.grammar.static_text()))
    for c in op_table.COMMANDS:
        found.update(c.words.split())
        found.update(c.also)
        found.update(n.word for n in c.nodes() if isinstance(n, op_syntax.Kw))
    for arg in op_table.ARGS.values():
        found.update(arg.choices)
    return frozenset(found)
