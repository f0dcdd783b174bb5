"""A command reference of every ``set`` path, generated from the schema (for docs/)."""

from __future__ import annotations

from collections.abc import Iterator

from .schema import Container, Entries, Enum, Flag, Leaf, LeafList, Node, hint_of
from .vpn_schema import ROOT


def _value(node: Leaf | LeafList) -> str:
    text = "|".join(node.type.values) if isinstance(node.type, Enum) else hint_of(node.type)
    return f"[ {text} ... ]" if isinstance(node, LeafList) else text


def set_paths(node: Node = ROOT, prefix: str = "set") -> Iterator[tuple[str, str]]:
    """(``set ...`` syntax, help and default) for every leaf and flag, in schema order.

    Children of a choice container (``lifetime``, ``peer-address``) exclude one another.
    """
    if isinstance(node, Flag):
        yield f"{prefix} {node.name}", node.describe()
    elif isinstance(node, Leaf | LeafList):
        default = node.default
        if isinstance(default, tuple):
            default = " ".join(default)
        note = f" (default {default})" if default is not None else ""
        yield f"{prefix} {node.name} {_value(node)}", node.describe() + note
    elif isinstance(node, Container | Entries):
        if isinstance(node, Entries):
            prefix = f"{prefix} {node.name} {hint_of(node.key)}"
        elif node is not ROOT:
            prefix = f"{prefix} {node.name}"
        for child in node.children:
            yield from set_paths(child, prefix)


def markdown() -> str:
    """The whole reference as a Markdown table."""
    lines = ["| command | meaning |", "| --- | --- |"]
    lines += [f"| `{syntax.replace('|', chr(92) + '|')}` | {help.replace('|', '/')} |"
              for syntax, help in set_paths()]
    return "\n".join(lines) + "\n"
