"""TAB and ``?``: what may come next at the cursor, with help text.

Two sources: the grammar (keywords of the command surface, via Lark's
interactive parser; their help from the operational commands' table
:mod:`vpnsh.shell.op_table` and, for configure mode, :mod:`vpnsh.shell.help`) and the
schema (config paths, via :func:`vpnsh.config.complete.complete`, which also
knows the names of existing objects).  :func:`help_items` is pure; the
prompt_toolkit :class:`ShellCompleter` and the ``?`` key binding use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from vpnsh.shell import help as help_table
from vpnsh.shell import op_syntax, op_table
from vpnsh.shell.parser import (
    CONFIGURE,
    INVALID_SYNTAX,
    OPERATIONAL,
    UNKNOWN_COMMAND,
    first_words,
    next_choices,
    split_for_completion,
    unquote,
)

TreeSource = Callable[[], dict[str, Any]]

# Config-mode verbs followed by a config path.
PATH_VERBS = ("set", "delete", "edit", "show", "rename", "move")

@dataclass(frozen=True)
class HelpItem:
    """One line of ``?`` output / one TAB candidate.

    ``marker`` is ``>`` for a keyword that opens a nested level, else blank.
    Hints (``<value>``, ``<Enter>``) and ``|`` are shown by ``?`` but never inserted.
    """

    word: str
    help: str
    marker: str = " "

    @property
    def insertable(self) -> bool:
        return not self.word.startswith("<") and self.word != "|"


class EditState(Protocol):
    mode: str
    edit_path: list[str]


def help_items(text: str, mode: str, edit_path: Sequence[str], tree: TreeSource) -> list[HelpItem]:
    """Everything that may come next after ``text`` (filtered by a partial last word)."""
    head, words, partial = split_for_completion(text)
    if mode == CONFIGURE and words and words[0] == "run":
        rest = text[text.index("run") + 3:]
        if rest[:1].isspace():
            return help_items(rest.lstrip(), OPERATIONAL, (), tree)
    if mode == CONFIGURE and words and words[0] in PATH_VERBS and "|" not in words:
        return _path_items(head, words, partial, edit_path, tree)
    return _grammar_items(head, words, partial, mode, tree)


def _grammar_items(
    head: str, words: list[str], partial: str, mode: str, tree: TreeSource
) -> list[HelpItem]:
    choices = next_choices(head, mode)
    if choices is None:
        return []
    keywords: list[HelpItem] = []
    values: list[HelpItem] = []
    tail: list[HelpItem] = []
    context = [w for w in words if w != "|"]
    if "|" in words:
        context = words[len(words) - words[::-1].index("|"):]
    previous = words[-1] if words else None
    # an operational command's value: the names and help its argument declares
    slots = op_table.position(context).slots() if mode == OPERATIONAL and "|" not in words else []
    for c in choices:
        if c.kind == "keyword":
            if c.word.startswith(partial):
                help_text = help_table.keyword_help(context, c.word, mode)
                keywords.append(HelpItem(c.word, help_text, ">" if c.nested else " "))
        elif c.kind == "value":
            if c.word in ("WORD", "STRING"):
                for name in _slot_names(slots, tree):
                    if name.startswith(partial) and all(v.word != name for v in values):
                        values.append(HelpItem(name, name))
            if not any(v.word == "<value>" for v in values):
                hint = slots[0].help if slots else help_table.value_help(previous)
                values.append(HelpItem("<value>", hint))
        elif c.kind == "enter" and not partial:
            tail.append(HelpItem("<Enter>", help_table.ENTER_HELP))
        elif c.kind == "pipe" and not partial:
            tail.append(HelpItem("|", help_table.PIPE_HELP))
    keywords.sort(key=lambda i: i.word)
    tail.sort(key=lambda i: i.word == "|")  # <Enter>, then |
    return keywords + values + tail


def _path_items(
    head: str, words: list[str], partial: str, edit_path: Sequence[str], tree: TreeSource
) -> list[HelpItem]:
    from vpnsh.config.complete import complete

    verb = words[0]
    tokens = [*edit_path, *(unquote(w) for w in words[1:])]
    current = _safe_tree(tree)
    items: list[HelpItem] = []
    for c in complete(current, tokens, partial):
        if c.word == "<Enter>":
            continue
        items.append(HelpItem(c.word, c.help, _marker(tokens, c.word) if not c.is_hint else " "))
    if verb in ("rename", "move"):
        # the path ends at an entry; then come the grammar's own keywords (to, top, ...)
        items = [] if _at_entry(tokens) else [i for i in items if i.word not in ("[", "]")]
        if len(words) > 1:
            for g in _grammar_items(head, words, partial, CONFIGURE, tree):
                if g.word not in ("<value>",) and all(g.word != i.word for i in items):
                    items.append(g)
        return items
    if verb == "set":
        # a bare "set" is incomplete at any edit level: no <Enter> until a path is typed
        if len(words) > 1 and _complete_set(tokens) and not partial:
            items.append(HelpItem("<Enter>", help_table.ENTER_HELP))
    elif not partial:
        items = [i for i in items if not i.word.startswith("<") and i.word not in ("[", "]")]
        items.append(HelpItem("<Enter>", help_table.ENTER_HELP))
        if verb == "show":
            items.append(HelpItem("|", help_table.PIPE_HELP))
    else:
        items = [i for i in items if not i.word.startswith("<")]
    return items


def _complete_set(tokens: Sequence[str]) -> bool:
    from vpnsh.config.tree import ENCRYPTED_PREFIX, ConfigError, walk

    try:
        return bool(walk(tokens, encrypt=lambda _p: ENCRYPTED_PREFIX).complete)
    except ConfigError:
        return False


def _at_entry(tokens: Sequence[str]) -> bool:
    from vpnsh.config.tree import ENCRYPTED_PREFIX, ConfigError, walk

    try:
        st = walk(tokens, encrypt=lambda _p: ENCRYPTED_PREFIX)
    except ConfigError:
        return False
    return st.expect == "keyword" and bool(st.top.entry) and not st.after_value


def _marker(tokens: Sequence[str], word: str) -> str:
    """``>`` when ``word`` after ``tokens`` is a container or a collection of entries."""
    from vpnsh.config.schema import Container, Entries
    from vpnsh.config.tree import ENCRYPTED_PREFIX, ConfigError, walk

    try:
        st = walk(tokens, encrypt=lambda _p: ENCRYPTED_PREFIX)
    except ConfigError:
        return " "
    if st.expect != "keyword":
        return " "
    _, node = st.lookup(word)
    return ">" if isinstance(node, Container | Entries) else " "


def _safe_tree(tree: TreeSource) -> dict[str, Any]:
    try:
        return tree() or {}
    except Exception:  # no daemon: keywords still complete, names do not
        return {}


def _slot_names(slots: Sequence[op_syntax.Slot], tree: TreeSource) -> list[str]:
    """What TAB offers for a value: interfaces (and ``all``), or the names of config entries."""
    names: list[str] = []
    for slot in slots:
        if slot.arg.interfaces:
            from vpnsh.config.ifnames import all_interfaces

            names += ["all", *all_interfaces(_safe_tree(tree))]
        if slot.arg.names:
            names += _names(tree, slot.arg.names)
    return names


def _names(tree: TreeSource, path: Sequence[str]) -> list[str]:
    node: Any = _safe_tree(tree)
    for key in path:
        if not isinstance(node, dict):
            return []
        node = node.get(key, {})
    return list(node) if isinstance(node, dict) else []


def format_help(items: Iterable[HelpItem]) -> str:
    """The ``?`` listing in PAN-OS layout: ``> keyword   help`` lines."""
    items = list(items)
    if not items:
        return ""
    width = max(len(i.word) for i in items) + 3
    return "".join(f"{i.marker} {i.word.ljust(width)}{i.help}".rstrip() + "\n" for i in items)


def question_mark_text(text: str, mode: str, edit_path: Sequence[str], tree: TreeSource) -> str:
    """What ``?`` prints after ``text``: the choices, or the error if there are none."""
    items = help_items(text, mode, edit_path, tree)
    if items:
        return format_help(items)
    _, words, partial = split_for_completion(text)
    first = (words or [partial])[0] if (words or partial) else ""
    if first and first not in first_words(mode) and not (words == [] and partial):
        return UNKNOWN_COMMAND.format(first) + "\n"
    return INVALID_SYNTAX + "\n"


class ShellCompleter(Completer):
    """prompt_toolkit completer for a session: keywords, config paths and object names."""

    def __init__(self, state: EditState, tree: TreeSource) -> None:
        self.state = state
        self.tree = tree

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        _, _, partial = split_for_completion(text)
        for item in help_items(text, self.state.mode, self.state.edit_path, self.tree):
            if item.insertable and item.word.startswith(partial):
                word = _quote_if_needed(item.word)
                yield Completion(word, start_position=-len(partial), display=item.word,
                                 display_meta=item.help if item.help != item.word else "")


def _quote_if_needed(word: str) -> str:
    return f'"{word}"' if any(ch.isspace() for ch in word) else word
