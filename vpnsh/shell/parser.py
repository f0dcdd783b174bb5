"""One command line -> a :class:`Command`, with the grammar in grammar/vpnsh.lark.

Pure: no I/O, no client.  Also lists what may come next at a point in a line
(:func:`next_choices`), which TAB and ``?`` build on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput
from lark.lexer import PatternStr

from vpnsh.shell.command import (  # noqa: F401 - re-exported: the parser's results and errors
    CONFIGURE,
    INVALID_SYNTAX,
    OPERATIONAL,
    UNKNOWN_COMMAND,
    Command,
    CommandError,
    Pipe,
    unquote,
)

_START = {OPERATIONAL: "start_op", CONFIGURE: "start_cfg"}


@lru_cache(maxsize=1)
def grammar_text() -> str:
    """grammar/vpnsh.lark and the operational commands' rules (vpnsh.shell.op_table)."""
    import vpnsh.grammar
    from vpnsh.shell import op_table

    text = vpnsh.grammar.static_text()
    return text + "\n// ---- operational commands, made from vpnsh.shell.op_table\n\n" + \
        op_table.grammar_text()


@lru_cache(maxsize=1)
def lark_parser() -> Lark:
    """The LALR parser of the grammar, loaded from the per-user cache when it is there
    (building it costs ~0.1 s, loading ~10 ms: a one-shot ``vpnsh -c`` feels that)."""
    return Lark(grammar_text(), parser="lalr", lexer="contextual", start=list(_START.values()),
                cache=parser_cache_path() or False)


def parser_cache_path() -> str | None:
    """``$XDG_CACHE_HOME/vpnsh/lark-<lark>-<grammar sha>-py<ver>.pickle`` (default
    ``~/.cache``), or None where no private cache dir can be had: the file is a pickle, so
    only a directory of this user's that nobody else can write is trusted (never /tmp).
    Lark checks the grammar and options hash inside the file too; a stale or broken file
    is rebuilt. ``VPNSH_PARSER_CACHE=0`` turns the cache off."""
    import hashlib
    import os
    import sys

    if os.environ.get("VPNSH_PARSER_CACHE", "1") == "0":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "vpnsh")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.stat(folder)
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        return None
    from lark import __version__ as lark_version

    digest = hashlib.sha256(grammar_text().encode()).hexdigest()[:16]
    return os.path.join(folder, f"lark-{lark_version}-{digest}-py{sys.version_info[0]}"
                                f"{sys.version_info[1]}.pickle")


def start_rule(mode: str) -> str:
    """The grammar's start rule for ``mode``."""
    return _START[mode]


@lru_cache(maxsize=1)
def keyword_terminals() -> dict[str, str]:
    """Terminal name -> its literal keyword, for every fixed-string terminal."""
    return {
        t.name: t.pattern.value
        for t in lark_parser().terminals
        if isinstance(t.pattern, PatternStr)
    }


@lru_cache(maxsize=2)
def first_words(mode: str) -> frozenset[str]:
    """The keywords a command may start with in ``mode``."""
    ip = lark_parser().parse_interactive("", start=_START[mode])
    kw = keyword_terminals()
    return frozenset(kw[t] for t in ip.accepts() if t in kw)


def inside_quotes(text: str) -> bool:
    """True if ``text`` ends inside an open double-quoted string (where ``?`` is text,
    not a request for help)."""
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
    return quoted


# ------------------------------------------------------------------ parsing


def parse(line: str, mode: str) -> Command | None:
    """Parse one line; ``None`` for a blank line.  Raises :class:`CommandError`."""
    words = split_words(line)
    if not words:
        return None
    first = words[0]
    if first not in first_words(mode):
        raise CommandError(UNKNOWN_COMMAND.format(first))
    try:
        tree = lark_parser().parse(line, start=_START[mode])
    except LarkError:
        raise CommandError(INVALID_SYNTAX) from None
    command_tree, *pipe_trees = tree.children
    assert isinstance(command_tree, Tree)
    command = _command(command_tree)
    for p in pipe_trees:
        assert isinstance(p, Tree)
        kind = "match" if p.data == "pipe_match" else "except"
        command.pipes.append(Pipe(kind, _value(p.children[0])))
    return command


def _command(tree: Tree) -> Command:
    rule = str(tree.data)
    command = Command(name=_command_names().get(rule) or rule[2:].replace("_", " "))
    for child in tree.children:
        if not isinstance(child, Tree):
            continue
        data = str(child.data)
        if data.startswith("c_"):
            command.inner = _command(child)
        elif data.startswith("a_"):
            key = data[2:]
            value = _value(child)
            if key in command.args:  # repeated argument (show log system a b c)
                prev = command.args[key]
                command.args[key] = (prev if isinstance(prev, list) else [prev]) + [value]
            else:
                command.args[key] = value
        elif data.startswith("f_"):
            command.args[data[2:]] = True
        elif data.endswith("path"):
            command.args["path"] = [_token_text(t) for t in child.children if isinstance(t, Token)]
    for key in _listed_args().get(command.name, ()):  # <filter>...: a list, even of one
        if key in command.args and not isinstance(command.args[key], list):
            command.args[key] = [command.args[key]]
    return command


@lru_cache(maxsize=1)
def _command_names() -> dict[str, str]:
    """Grammar rule -> name of each operational command ("c_tail_mp_log" -> "tail mp-log")."""
    from vpnsh.shell import op_syntax, op_table

    return {op_syntax.rule_name(c.name): c.name for c in op_table.COMMANDS}


@lru_cache(maxsize=1)
def _listed_args() -> dict[str, tuple[str, ...]]:
    """Command name -> its arguments that repeat on their own (``<filter>...``)."""
    from vpnsh.shell import op_table

    return {c.name: c.listed_args() for c in op_table.COMMANDS if c.listed_args()}


def _token_text(token: Token) -> str:
    return unquote(str(token)) if token.type == "STRING" else str(token)


def _value(tree: Tree | Token) -> Any:
    token = tree.children[0] if isinstance(tree, Tree) else tree
    assert isinstance(token, Token)
    if token.type == "NUMBER":
        return int(token)
    return _token_text(token)


# ------------------------------------------------------------------ words

_WORD_RE = re.compile(r'"(?:\\.|[^"\\])*"?|\[|\]|\||[^\s"\[\]|]+')


def split_words(text: str) -> list[str]:
    """The words of a line as the lexer sees them: quoted strings kept whole, raw."""
    return _WORD_RE.findall(text)


def word_spans(text: str) -> list[tuple[int, int]]:
    """Where each word of :func:`split_words` sits in ``text``: (start, end)."""
    return [m.span() for m in _WORD_RE.finditer(text)]


def split_for_completion(text: str) -> tuple[str, list[str], str]:
    """``(text before the partial word, complete words, partial word)``."""
    words = split_words(text)
    if words and not text[-1:].isspace() and words[-1] not in ("[", "]", "|"):
        partial = words[-1]
        head = text[: len(text) - len(partial)]
        return head, words[:-1], partial
    return text, words, ""


# ------------------------------------------------------------------ what next


@dataclass(frozen=True)
class GrammarChoice:
    """One thing the grammar accepts next.

    kind: ``keyword`` (``word`` is the keyword), ``value`` (a free value: a
    name, number, path word or regex; ``word`` is the terminal name),
    ``pipe`` (``|``), ``enter`` (the command may end here), ``bracket``.
    ``nested`` says whether more must or may follow a keyword.
    """

    kind: str
    word: str
    nested: bool = False


def next_choices(text: str, mode: str) -> list[GrammarChoice] | None:
    """What the grammar accepts after ``text`` (complete words only).

    ``None`` when ``text`` itself does not parse as a prefix of a command.
    """
    try:
        ip = lark_parser().parse_interactive(text, start=_START[mode])
        ip.exhaust_lexer()
        accepted = ip.accepts()
    except (UnexpectedInput, LarkError):
        return None
    kw = keyword_terminals()
    choices: list[GrammarChoice] = []
    for term in sorted(accepted):
        if term == "$END":
            choices.append(GrammarChoice("enter", "<Enter>"))
        elif term == "VBAR":
            choices.append(GrammarChoice("pipe", "|"))
        elif term in ("LBRACKET", "RBRACKET"):
            choices.append(GrammarChoice("bracket", kw[term]))
        elif term in kw:
            word = kw[term]
            choices.append(GrammarChoice("keyword", word, _leads_on(ip, term, word)))
        else:
            choices.append(GrammarChoice("value", term))
    return choices


def _leads_on(ip: Any, term: str, word: str) -> bool:
    probe = ip.copy()
    try:
        probe.feed_token(Token(term, word))
        after = probe.accepts()
    except LarkError:
        return False
    return bool(after - {"$END", "VBAR"})
