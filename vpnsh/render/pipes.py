"""``| match REGEX`` and ``| except REGEX`` on rendered text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol


class PipeLike(Protocol):
    @property
    def kind(self) -> str: ...  # "match" | "except"

    @property
    def regex(self) -> str: ...


class PipeError(ValueError):
    """A regular expression that does not compile."""


def apply_pipes(text: str, pipes: Iterable[PipeLike]) -> str:
    """Keep (match) or drop (except) the lines of ``text`` that the regexes find, in order."""
    pipes = list(pipes)
    if not pipes:
        return text
    lines = text.splitlines()
    for pipe in pipes:
        try:
            pattern = re.compile(pipe.regex)
        except re.error as exc:
            raise PipeError(f"bad regular expression '{pipe.regex}': {exc}") from None
        keep = pipe.kind == "match"
        lines = [line for line in lines if bool(pattern.search(line)) == keep]
    return "\n".join(lines) + ("\n" if lines else "")
