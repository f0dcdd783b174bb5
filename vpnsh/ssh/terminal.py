"""A PAN-OS-like terminal on an SSH channel: line editing, TAB, ``?``, history, the pager.

Deliberately plain, so that automation reading the channel (netmiko's and
scrapli's PAN-OS drivers, ``expect`` scripts) sees exactly what PAN-OS sends:
the prompt, the echo of what was typed, ``\\r\\n``, the output, the next prompt.
No cursor addressing, no colours, no redraws except after ``?`` help.

Input arrives as text chunks through :meth:`Terminal.feed` (from the SSH
channel's reader task); :meth:`Terminal.readline` edits one line from it.
While a command runs, Ctrl-C calls ``on_interrupt`` instead of being queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from vpnsh.shell.parser import inside_quotes

CTRL_C = "\x03"
CTRL_D = "\x04"
CTRL_U = "\x15"
CTRL_W = "\x17"
BACKSPACES = ("\x7f", "\x08")
HISTORY_SIZE = 500

Complete = Callable[[str], Awaitable[list[str]]]  # line -> candidate words for the partial word
Help = Callable[[str], Awaitable[str]]  # line -> the ``?`` text


class Terminal:
    def __init__(
        self,
        write: Callable[[str], None],
        *,
        pty: bool,
        complete: Complete | None = None,
        help_text: Help | None = None,
    ) -> None:
        self._write = write
        self.pty = pty  # a terminal: echo, \r\n, editing keys
        self.complete = complete
        self.help_text = help_text
        self.keys: asyncio.Queue[str | None] = asyncio.Queue()
        self.busy = False  # a command is running: Ctrl-C interrupts it
        self.on_interrupt: Callable[[], None] | None = None
        self.history: list[str] = []
        self.width = 80
        self.height = 24
        self._after_cr = False

    # ------------------------------------------------------------------ output

    def write(self, text: str) -> None:
        if not text:
            return
        if self.pty:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        self._write(text)

    def _echo(self, text: str) -> None:
        if self.pty:
            self._write(text)

    # ------------------------------------------------------------------ input

    def feed(self, data: str | None) -> None:
        """Input from the client; None is end of input."""
        if data is None:
            self.keys.put_nowait(None)
            return
        for ch in data:
            if ch == CTRL_C and self.busy:
                if self.on_interrupt is not None:
                    self.on_interrupt()
                continue
            self.keys.put_nowait(ch)

    async def _key(self) -> str | None:
        return await self.keys.get()

    async def readline(self, prompt: str) -> str | None:
        """One edited line (without its end), or None at end of input / Ctrl-D on an empty line."""
        self.write(prompt)
        line = ""
        hist = len(self.history)
        while True:
            ch = await self._key()
            if ch is None:
                return line or None
            if ch == "\n" and self._after_cr:  # \r\n is one end of line
                self._after_cr = False
                continue
            self._after_cr = ch == "\r"
            if ch in ("\r", "\n"):
                self._echo("\r\n")
                if line.strip() and (not self.history or self.history[-1] != line):
                    self.history = [*self.history, line][-HISTORY_SIZE:]
                return line
            if not self.pty:
                line += ch
                continue
            if ch in BACKSPACES:
                if line:
                    line = line[:-1]
                    self._echo("\b \b")
            elif ch == CTRL_C:
                self._echo("^C\r\n")
                line = ""
                self.write(prompt)
            elif ch == CTRL_D:
                if not line:
                    self._echo("\r\n")
                    return None
            elif ch == CTRL_U:
                self._echo("\b \b" * len(line))
                line = ""
            elif ch == CTRL_W:
                cut = len(line.rstrip()) - len(line.rstrip().split(" ")[-1]) if line.strip() else 0
                self._echo("\b \b" * (len(line) - cut))
                line = line[:cut]
            elif ch == "\t":
                line = await self._tab(prompt, line)
            elif ch == "?" and not inside_quotes(line) and self.help_text is not None:
                text = await self.help_text(line)
                self.write(f"?\n{text}")
                self.write(prompt + line)
            elif ch == "\x1b":
                seq = await self._escape()
                if seq in ("[A", "OA", "[B", "OB") and self.history:
                    hist = max(0, hist - 1) if seq in ("[A", "OA") else min(len(self.history), hist + 1)
                    new = self.history[hist] if hist < len(self.history) else ""
                    self._echo("\b \b" * len(line) + new)
                    line = new
            elif ch.isprintable():
                line += ch
                self._echo(ch)

    async def _escape(self) -> str:
        """The rest of an escape sequence (arrows: ``[A`` ...); other keys are ignored."""
        first = await self._key()
        if first not in ("[", "O"):
            return ""
        seq = first
        while True:
            ch = await self._key()
            if ch is None:
                return seq
            seq += ch
            if ch.isalpha() or ch == "~" or len(seq) > 8:
                return seq

    async def _tab(self, prompt: str, line: str) -> str:
        if self.complete is None:
            return line
        partial = "" if not line or line[-1].isspace() else line.split()[-1]
        words = await self.complete(line)
        if not words:
            return line
        if len(words) == 1:
            add = words[0][len(partial):] + " "
        else:
            common = _common_prefix(words)
            add = common[len(partial):]
            if not add:  # nothing more to add: list them
                self.write("\n" + "  ".join(words) + "\n" + prompt + line)
                return line
        self._echo(add)
        return line + add

    # ------------------------------------------------------------------ pager

    async def page(self, text: str) -> None:
        """Write ``text`` a screen at a time: space next page, Enter next line, q stop."""
        lines = text.split("\n")
        rows = max(2, self.height - 1)
        shown = 0
        while shown < len(lines):
            step = rows if shown == 0 else self._step
            chunk = lines[shown:shown + step]
            shown += len(chunk)
            last = shown >= len(lines)
            self.write("\n".join(chunk) + ("" if last else "\n"))
            if last:
                return
            self._write(f"lines {shown - len(chunk) + 1}-{shown} ")
            ch = await self._key()
            self._write("\r" + " " * 24 + "\r")
            if ch is None or ch in ("q", "Q", CTRL_C):
                return
            self._step = 1 if ch in ("\r", "\n") else rows
            self._after_cr = ch == "\r"

    _step = 24


def _common_prefix(words: list[str]) -> str:
    first, last = min(words), max(words)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]
