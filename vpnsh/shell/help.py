"""Help text of configure mode's command words and of pipes.

Operational commands' help is declared with the commands (:mod:`vpnsh.shell.op_table`)
and found where a word stands in them (:func:`vpnsh.shell.op_table.position`); config
path keywords take theirs from the schema (vpnsh.config).  ``KEYWORD_HELP`` is keyed by
the keyword, ``CONTEXT_HELP`` by the words of the command so far plus the keyword, so that
a word used in two places can say the right thing in each.
"""

from __future__ import annotations

from collections.abc import Sequence

KEYWORD_HELP: dict[str, str] = {
    # configure mode
    "set": "Set a parameter in the candidate configuration",
    "show": "Show the candidate configuration",
    "exit": "Exit from this level",
    "quit": "Exit from this level",
    "delete": "Delete specified configuration",
    "edit": "Edit configuration",
    "up": "Go up one level of hierarchy",
    "top": "Go to top level of hierarchy",
    "rename": "Rename specified configuration entry",
    "move": "Move specified entry",
    "commit": "Commit configuration",
    "validate": "Validate the candidate configuration",
    "revert": "Revert the candidate configuration",
    "save": "Save configuration to a named snapshot",
    "load": "Load configuration from a named snapshot",
    "run": "Run an operational-mode command",
    "full": "Validate the full candidate configuration",
    "to": "New name",
    "from": "Snapshot to load from",
    "force": "Commit even if there are warnings",
    "description": "Description of this commit",
    "bottom": "Move to the bottom",
    "before": "Move before an entry",
    "after": "Move after an entry",
    "partial": "Only the changes of the given administrators",
    "admin": "Administrator name(s)",
    # config versions (issue 13)
    "version": "Load a committed config version",
    "last-saved": "Load the last saved configuration",
    "from-xpath": "Xpath of the part to load from",
    "to-xpath": "Xpath of the part to load into",
    "mode": "merge or replace",
    "merge": "Merge into the candidate",
    "replace": "Replace the part in the candidate",
    # pipes
    "match": "Show only lines that match a regular expression",
    "except": "Show all lines except those that match a regular expression",
}

CONTEXT_HELP: dict[tuple[str, ...], str] = {
    ("move", "top"): "Move to the top",
    ("commit", "description"): "Description of this commit",
    ("save", "config"): "Save the candidate configuration",
    ("load", "config"): "Load a saved configuration",
    ("revert", "config"): "Discard candidate changes, back to running",
    ("commit", "partial"): "Commit only the changes of the given administrators",
    ("validate", "partial"): "Validate only the changes of the given administrators",
    ("load", "config", "partial"): "Load part of a configuration (xpath)",
    ("revert", "config", "partial"): "Revert only the changes of the given administrators",
}

# Value slots of configure mode and pipes: the keyword before a value -> its help line.
VALUE_HELP: dict[str, str] = {
    "to": "Name",
    "from": "Name",
    "before": "Entry name",
    "after": "Entry name",
    "description": "Commit description",
    "match": "Regular expression",
    "except": "Regular expression",
    "admin": "Administrator name",
    "version": "Version number (show jobs, config history)",
    "from-xpath": "Xpath (/config/devices/entry[@name='localhost.localdomain']/network/...)",
    "to-xpath": "Xpath (/config/devices/entry[@name='localhost.localdomain']/network/...)",
}

PIPE_HELP = "Pipe through a command"
ENTER_HELP = "Finish input"


def keyword_help(words_before: Sequence[str], keyword: str, mode: str = "operational") -> str:
    """Help for ``keyword`` after ``words_before`` (the words of the command so far)."""
    words = tuple(words_before)
    if mode == "operational":
        from vpnsh.shell.op_table import position

        found = position(words).keyword_help(keyword)
        if found is not None:
            return found
    for start in range(len(words) + 1):
        text = CONTEXT_HELP.get(words[start:] + (keyword,))
        if text:
            return text
    if words and (words[0], keyword) in CONTEXT_HELP:  # "move ... top"
        return CONTEXT_HELP[(words[0], keyword)]
    return KEYWORD_HELP.get(keyword, keyword)


def value_help(previous_word: str | None) -> str:
    return VALUE_HELP.get(previous_word or "", "Value")
