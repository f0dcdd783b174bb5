"""The notation of :mod:`vpnsh.shell.op_table` and what is made from it.

A command's syntax is one line in the notation of PAN-OS's and Junos's manuals::

    word          a keyword
    +word         a keyword that is a flag: args[word] = True
    <key>         a value: args[key], of the kind declared for key (OpArg)
    [ x ]         x is optional
    ( x | y )     one of
    x...          x once or more; [ x... ] none or more
    _part         a named part of the command (OpCommand.parts), for option lists

From it: the operational half of the Lark grammar (:func:`lark_text`), and where a
line stands in the commands, for ``?`` help and TAB (:class:`Position`, on the automaton
of :func:`machine`).  Pure and cheap: it imports nothing but the standard library
(``vpnsh -c`` makes the grammar text at each start, to find its parser in the cache).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

# The table's classes (vpnsh.shell.op_table imports this module, not the reverse)
OpCommand = Any
OpArg = Any


# ------------------------------------------------------------------ syntax tree


# Plain classes, not dataclasses: a one-shot vpnsh imports this module at each start, and
# each @dataclass costs a fraction of a millisecond to make.


class Kw:
    __slots__ = ("word", "flag")

    def __init__(self, word: str, flag: bool = False) -> None:
        self.word, self.flag = word, flag


class Val:
    __slots__ = ("key", "many")

    def __init__(self, key: str, many: bool = False) -> None:
        self.key = key
        self.many = many  # <key:list>: one value, or several in brackets ([ a b ])


class Seq:
    __slots__ = ("items",)

    def __init__(self, items: tuple[Node, ...]) -> None:
        self.items = items


class Alt:
    __slots__ = ("options",)

    def __init__(self, options: tuple[Node, ...]) -> None:
        self.options = options


class Opt:
    __slots__ = ("item",)

    def __init__(self, item: Node) -> None:
        self.item = item


class Rep:
    __slots__ = ("item",)

    def __init__(self, item: Node) -> None:
        self.item = item


class Part:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


Node = Kw | Val | Seq | Alt | Opt | Rep | Part

_TOKEN = re.compile(r"\.\.\.|[\[\]()|]|<[a-z_]+(?::list)?>|\+?[^\s\[\]()|<>.]+")


class SyntaxNotationError(ValueError):
    pass


def parse_syntax(text: str) -> Node:
    """The tree of one syntax line (raises SyntaxNotationError)."""
    tokens = _TOKEN.findall(text)
    if "".join(tokens) != "".join(text.split()):
        raise SyntaxNotationError(f"bad syntax {text!r}")
    node, rest = _alternatives(tokens, 0, text)
    if rest != len(tokens):
        raise SyntaxNotationError(f"unbalanced {tokens[rest]!r} in {text!r}")
    return node


def _alternatives(tokens: list[str], i: int, text: str) -> tuple[Node, int]:
    options = []
    seq, i = _sequence(tokens, i, text)
    options.append(seq)
    while i < len(tokens) and tokens[i] == "|":
        seq, i = _sequence(tokens, i + 1, text)
        options.append(seq)
    return (options[0] if len(options) == 1 else Alt(tuple(options))), i


def _sequence(tokens: list[str], i: int, text: str) -> tuple[Node, int]:
    items: list[Node] = []
    while i < len(tokens) and tokens[i] not in ("|", ")", "]"):
        tok = tokens[i]
        if tok in ("[", "("):
            inner, i = _alternatives(tokens, i + 1, text)
            close = "]" if tok == "[" else ")"
            if i >= len(tokens) or tokens[i] != close:
                raise SyntaxNotationError(f"missing {close!r} in {text!r}")
            node: Node = Opt(inner) if tok == "[" else inner
        elif tok == "...":
            if not items:
                raise SyntaxNotationError(f"'...' after nothing in {text!r}")
            items[-1] = Rep(items[-1])
            i += 1
            continue
        elif tok.startswith("<"):
            key, _, kind = tok[1:-1].partition(":")
            node = Val(key, many=kind == "list")
        elif tok.startswith("+"):
            node = Kw(tok[1:], flag=True)
        elif tok.startswith("_"):
            node = Part(tok[1:])
        else:
            node = Kw(tok)
        i += 1
        # [ x... ]: a repetition inside the brackets is closed there
        items.append(node)
    if len(items) == 1:
        return items[0], i
    return Seq(tuple(items)), i


def walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Seq):
        for n in node.items:
            yield from walk(n)
    elif isinstance(node, Alt):
        for n in node.options:
            yield from walk(n)
    elif isinstance(node, Opt | Rep):
        yield from walk(node.item)


def flag_key(word: str) -> str:
    return word.replace("-", "_")


# ------------------------------------------------------------------ Lark


def rule_name(name: str) -> str:
    """The grammar rule of a command: ``c_`` and its words (``-`` -> ``_``)."""
    return "c_" + name.replace("-", "_").replace(" ", "_")  # names: [a-z0-9 -] (checked)


def _lark(syntax: str, args: dict[str, OpArg], used_args: dict[str, None],
          flags: dict[str, str]) -> str:
    """A syntax line as a Lark expansion, token by token (no tree: a one-shot vpnsh makes
    this text at each start); the arguments and flags it names go to ``used_args``/``flags``."""
    out = []
    for tok in _TOKEN.findall(syntax):
        if tok == "[":
            out.append("(")
        elif tok == "]":
            out.append(")?")
        elif tok == "...":
            out.append("+")
        elif tok in ("(", ")", "|"):
            out.append(tok)
        elif tok.startswith("<"):
            key, _, kind = tok[1:-1].partition(":")
            if key not in args:
                raise SyntaxNotationError(f"<{key}> is not an OpArg (in {syntax!r})")
            used_args[key] = None
            out.append(f'(a_{key} | "[" a_{key}+ "]")' if kind == "list" else f"a_{key}")
        elif tok.startswith("+"):
            flags[flag_key(tok[1:])] = tok[1:]
            out.append(f"f_{flag_key(tok[1:])}")
        elif tok.startswith("_"):
            out.append(tok)
        else:
            out.append(f'"{tok}"')
    return " ".join(out).replace(" +", "+").replace(" )", ")").replace("( ", "(")


_NONE_OR_MORE = re.compile(r"\((\w+)\+\)\?")
_ONE_OPTIONAL = re.compile(r"\((\w+)\)\?")


def _arg_rule(key: str, arg: OpArg) -> str:
    if arg.choices:
        return f"!a_{key}: " + " | ".join(f'"{c}"' for c in arg.choices)
    return f"a_{key}: {arg.terminal}"


def lark_text(commands: Sequence[OpCommand], args: dict[str, OpArg]) -> str:
    """The operational commands as Lark rules: ``op_command`` and a rule per command, per
    part, per argument and per flag.  Rules of the same name must be one rule: an argument
    key has one kind, a part one syntax."""
    out = ["?op_command: " + "\n           | ".join(rule_name(c.name) for c in commands)]
    parts: dict[str, str] = {}
    used_args: dict[str, None] = {}
    flags: dict[str, str] = {}
    for c in commands:
        words = [f'"{w}"' for w in c.words.split()]
        if c.also:
            words[0] = "(" + " | ".join([words[0], *(f'"{w}"' for w in c.also)]) + ")"
        if c.syntax.strip():
            words.append(_lark(c.syntax, args, used_args, flags))
        out.append(f"{rule_name(c.name)}: {' '.join(words)}")
        for name, syntax in c.parts.items():
            text = _lark(syntax, args, used_args, flags)
            if parts.setdefault(name, text) != text:
                raise SyntaxNotationError(f"part _{name} has two syntaxes ({c.name})")
    out += [f"_{name}: {text}" for name, text in parts.items()]
    out += [_arg_rule(key, args[key]) for key in used_args]
    out += [f'f_{key}: "{word}"' for key, word in flags.items()]
    text = "\n".join(out) + "\n"
    return _ONE_OPTIONAL.sub(r"\1?", _NONE_OR_MORE.sub(r"\1*", text))  # (x+)? -> x*, (x)? -> x?


# ------------------------------------------------------------------ where a line stands

# A position is a node of a command's syntax, reached by the words so far; the words
# that may come next and their help follow from it.  Thompson's construction: each
# command becomes a small automaton over its words.


class _State:
    __slots__ = ("node", "command", "help", "next", "out")

    def __init__(self, node: Kw | Val | None, command: OpCommand, help: str | None) -> None:
        self.node = node  # None: a joint (epsilon moves only)
        self.command = command
        self.help = help  # help of this keyword here
        self.next: list[int] = []  # epsilon moves
        self.out = -1  # the state after matching node


class _Machine:
    def __init__(self) -> None:
        self.states: list[_State] = []
        self.starts: list[int] = []
        self.finals: set[int] = set()  # where a command may end (its last word or value matched)

    def new(self, command: OpCommand, node: Kw | Val | None = None, help: str | None = None) -> int:
        self.states.append(_State(node, command, help))
        return len(self.states) - 1

    def atom(self, command: OpCommand, node: Kw | Val, help: str | None) -> tuple[int, list[int]]:
        s = self.new(command, node, help)
        j = self.new(command)
        self.states[s].out = j
        return s, [j]

    def command(self, c: OpCommand, word_help: Callable[[tuple[str, ...]], str | None]) -> None:
        words = c.words.split()
        entry = -1
        exits: list[int] = []
        for i, word in enumerate(words):
            help_text = word_help(tuple(words[: i + 1]))
            e, x = self.atom(c, Kw(word), help_text)
            if i == 0:
                entry = self.new(c)
                self.states[entry].next.append(e)
                for other in c.also:
                    e2, x2 = self.atom(c, Kw(other), help_text)
                    self.states[entry].next.append(e2)
                    x = x + x2
            else:
                for j in exits:
                    self.states[j].next.append(e)
            exits = x
        if c.tree is not None:
            e, x = self.build(c.tree, c)
            for j in exits:
                self.states[j].next.append(e)
            exits = x
        self.starts.append(entry)
        self.finals.update(exits)

    def build(self, node: Node, c: OpCommand) -> tuple[int, list[int]]:
        """(entry state, exits to join to what follows) of ``node`` in command ``c``."""
        if isinstance(node, Kw):
            return self.atom(c, node, c.keyword_help(node.word))
        if isinstance(node, Val):
            if node.many:  # <key> | [ <key>... ]
                plain = Val(node.key)
                return self.build(Alt((plain, Seq((Kw("["), Rep(plain), Kw("]"))))), c)
            return self.atom(c, node, None)
        if isinstance(node, Part):
            return self.build(c.part_trees[node.name], c)
        if isinstance(node, Seq):
            entry, exits = self.build(node.items[0], c)
            for item in node.items[1:]:
                e, x = self.build(item, c)
                for j in exits:
                    self.states[j].next.append(e)
                exits = x
            return entry, exits
        if isinstance(node, Alt):
            fork = self.new(c)
            exits = []
            for option in node.options:
                e, x = self.build(option, c)
                self.states[fork].next.append(e)
                exits += x
            return fork, exits
        if isinstance(node, Opt):
            fork = self.new(c)
            e, x = self.build(node.item, c)
            self.states[fork].next.append(e)
            return fork, [fork, *x]
        if isinstance(node, Rep):
            e, x = self.build(node.item, c)
            for j in x:
                self.states[j].next.append(e)
            return e, x
        raise TypeError(node)

    def closure(self, states: Iterable[int]) -> list[int]:
        seen: dict[int, None] = {}
        stack = list(states)[::-1]
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen[s] = None
            stack += self.states[s].next[::-1]
        return list(seen)


def machine(commands: Sequence[OpCommand],
            word_help: Callable[[tuple[str, ...]], str | None]) -> _Machine:
    """The automaton of ``commands``; ``word_help`` gives the help of their leading words."""
    m = _Machine()
    for c in commands:
        m.command(c, word_help)
    return m


class Slot:
    """A value that may come next: its argument and the help of this place."""

    __slots__ = ("key", "arg", "help")

    def __init__(self, key: str, arg: OpArg, help: str) -> None:
        self.key, self.arg, self.help = key, arg, help


class Position:
    """Where the words so far leave a line among the operational commands."""

    def __init__(self, m: _Machine, words: Sequence[str]) -> None:
        current = m.closure(m.starts)
        for word in words:
            moved = []
            for s in current:
                st = m.states[s]
                if st.node is not None and _matches(st, word):
                    moved.append(st.out)
            current = m.closure(moved)
        self._m = m
        self.states = current

    def keyword_help(self, word: str) -> str | None:
        """The help of keyword ``word`` here, or None when no command has it here."""
        for s in self.states:
            st = self._m.states[s]
            if isinstance(st.node, Kw) and st.node.word == word:
                return st.help if st.help is not None else word
            if isinstance(st.node, Val) and word in st.command.arg(st.node.key).choices:
                return st.command.arg(st.node.key).choices[word] or word
        return None

    def slots(self) -> list[Slot]:
        """The free values that may come next (enumerated choices are keywords)."""
        found: list[Slot] = []
        for s in self.states:
            st = self._m.states[s]
            if isinstance(st.node, Val):
                arg = st.command.arg(st.node.key)
                if not arg.choices:
                    help_text = st.command.value_help(st.node.key)
                    found.append(Slot(st.node.key, arg, help_text))
        return found


def _matches(st: _State, word: str) -> bool:
    node = st.node
    if isinstance(node, Kw):
        return node.word == word
    assert isinstance(node, Val)
    arg = st.command.arg(node.key)
    if arg.choices:
        return word in arg.choices
    if arg.terminal == "NUMBER":
        return word.isdigit()
    return word not in ("[", "]", "|")

