"""vpnsh.ssh.terminal: the line editor and pager the SSH shell runs on (no network)."""

from __future__ import annotations

import asyncio

from vpnsh.ssh.terminal import Terminal


def make(pty: bool = True, words: list[str] | None = None) -> tuple[Terminal, list[str]]:
    out: list[str] = []

    async def complete(line: str) -> list[str]:
        partial = "" if not line or line.endswith(" ") else line.split()[-1]
        return [w for w in (words or []) if w.startswith(partial)]

    async def help_text(line: str) -> str:
        return f"+ help for [{line}]\n"

    return Terminal(out.append, pty=pty, complete=complete, help_text=help_text), out


def readline(term: Terminal, data: str, prompt: str = "admin@fw> ") -> str | None:
    async def go() -> str | None:
        term.feed(data)
        return await asyncio.wait_for(term.readline(prompt), 5)

    return asyncio.run(go())


def test_echo_and_crlf() -> None:
    term, out = make()
    assert readline(term, "show vpn flow\r\n") == "show vpn flow"
    assert "".join(out) == "admin@fw> show vpn flow\r\n"
    assert readline(term, "exit\r") == "exit"  # the \n of \r\n is not an empty line of its own


def test_backspace_ctrl_u_ctrl_w() -> None:
    term, _ = make()
    assert readline(term, "shox\x7fw\r") == "show"
    assert readline(term, "junk\x15show vpn\r") == "show vpn"
    assert readline(term, "show vpn flwo\x17flow\r") == "show vpn flow"


def test_ctrl_c_drops_the_line_and_reprompts() -> None:
    term, out = make()
    assert readline(term, "configure\x03exit\r") == "exit"
    assert "".join(out) == "admin@fw> configure^C\r\nadmin@fw> exit\r\n"


def test_ctrl_d_on_empty_line_is_end_of_input() -> None:
    term, _ = make()
    assert readline(term, "\x04") is None


def test_history_with_arrows() -> None:
    term, _ = make()
    readline(term, "show vpn ike-sa\r")
    readline(term, "show vpn flow\r")
    assert readline(term, "\x1b[A\x1b[A\r") == "show vpn ike-sa"
    assert readline(term, "\x1b[A\x1b[B\x1b[B\r") == ""


def test_tab_completes_unique_and_common_prefix_and_lists() -> None:
    term, _ = make(words=["ike-sa", "ipsec-sa"])
    assert readline(term, "show vpn ik\t\r") == "show vpn ike-sa "
    term, out = make(words=["ike-sa", "ike-gw"])
    assert readline(term, "show vpn i\t\r") == "show vpn ike-"
    term, out = make(words=["ike-sa", "ipsec-sa"])
    assert readline(term, "show vpn i\t\r") == "show vpn i"
    assert "ike-sa  ipsec-sa" in "".join(out)


def test_question_mark_prints_help_and_keeps_the_line() -> None:
    term, out = make()
    assert readline(term, "show vpn ?flow\r") == "show vpn flow"
    text = "".join(out)
    assert "show vpn ?\r\n+ help for [show vpn ]\r\nadmin@fw> show vpn flow\r\n" in text
    assert readline(term, 'set x "a?b"\r') == 'set x "a?b"'  # inside quotes: a plain character


def test_without_pty_no_echo_and_plain_newlines() -> None:
    term, out = make(pty=False)
    assert readline(term, "show vpn flow\n") == "show vpn flow"
    term.write("a\nb\n")
    assert "".join(out) == "admin@fw> a\nb\n"


def test_ctrl_c_while_busy_interrupts_instead_of_queueing() -> None:
    term, _ = make()
    hits: list[int] = []
    term.on_interrupt = lambda: hits.append(1)
    term.busy = True
    term.feed("\x03")
    assert hits == [1] and term.keys.empty()


def test_pager_pages_lines_and_quits() -> None:
    term, out = make()
    term.height = 5
    text = "".join(f"line {i}\n" for i in range(20))

    async def go() -> None:
        term.feed(" \rq")
        await asyncio.wait_for(term.page(text), 5)

    asyncio.run(go())
    shown = "".join(out).replace("\r" + " " * 24 + "\r", "")
    assert "line 0\r\n" in shown and "line 7\r\n" in shown and "line 8\r\n" in shown
    assert "line 9" not in shown  # q after one more line (Enter)
    assert "lines 1-4 " in shown and "lines 9-9 " in shown
