"""The one-shot matcher (vpnsh/shell/op_match.py) reads an operational line exactly as the
Lark parser does, or declines it; and a one-shot ``vpnsh -c 'show vpn ike-sa'`` loads
neither Lark nor the config schema.

Each line below goes through both: the matcher's Command must equal the Lark parser's
(and ``op_match.parse``, the shell's entry, must give what ``parser.parse`` gives, errors
included).  The lines: every string of the unit tests (their op commands and everything
else), forms generated from op_table's syntax with tricky values in every slot, random
walks through the Lark automaton itself, and mistakes made from valid lines.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lark import Token
from lark.exceptions import LarkError

from vpnsh.control import protocol
from vpnsh.shell import op_match, op_syntax, op_table, parser
from vpnsh.shell.command import OPERATIONAL, Command, CommandError
from vpnsh.shell.op_table import NAME, NUMBER, WORD

ROOT = Path(__file__).resolve().parents[2]

# values that trip a hand-made lexer: keywords of either mode, numbers, addresses, quotes
SAMPLES = {
    NAME: ["GW1", "t-1:PID", "10.0.0.1", "7", "007", "x/y", '"a b"', '"say \\"hi\\""', '""',
           "detail", "all", "to", "from", "set", "match", "on", "gateway", "[", "]", "-"],
    WORD: ["10.0.0.1", "host.example", "7", "a:b", "2001:db8::1", "all", "from", "host",
           '"quoted"', "[", "]"],
    NUMBER: ["5", "007", "0", "x", "-1", "1.5", "5x", '"5"'],
}
BASE = {NAME: "GW1", WORD: "10.0.0.1", NUMBER: "5"}
REGEXES = ["foo", "^[a-z]+:", '"a b"', '"x|y"', "a\\b", "match", "[", "]"]
MUST_MATCH = [
    "show vpn ike-sa", "show vpn ipsec-sa", "show vpn flow", "show vpn ike-sa gateway GW1",
    "show vpn ike-sa detail gateway GW1", "show vpn flow tunnel-id 4", "show system info",
    "show counter global filter delta yes severity drop", "ping host 10.0.0.1 count 3",
    "show vpn ike-sa | match GW1 | except down", 'show vpn flow | match "tunnel [0-9]"',
    "test vpn ike-sa gateway GW1", "clear vpn ipsec-sa tunnel T1", "show jobs id 3",
    "configure", "exit", "quit", "set cli pager off", "show log system subtype equal x",
    "request certificate generate certificate-name c name cn ip [ 10.0.0.1 10.0.0.2 ]",
    "show interface all", "show vpn ike-sa gateway detail", "show arp all",
]


def lark_result(line: str) -> Command | str | None:
    try:
        return parser.parse(line, OPERATIONAL)
    except CommandError as exc:
        return exc.message


def shell_result(line: str) -> Command | str | None:
    try:
        return op_match.parse(line, OPERATIONAL)
    except CommandError as exc:
        return exc.message


def check(line: str) -> bool:
    """The matcher agrees with Lark or declines; True when it matched."""
    fast = op_match.match(line)
    expected = lark_result(line)
    if fast is not None:
        assert fast == expected, f"{line!r}: matcher {fast} != Lark {expected}"
    assert shell_result(line) == expected, line
    return fast is not None


# ------------------------------------------------------------------ lines


def unit_test_strings() -> list[str]:
    """Every one-line string constant of the unit tests (commands and everything else)."""
    found: dict[str, None] = {}
    for path in sorted((ROOT / "tests" / "unit").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and "\n" not in node.value and len(node.value) < 200:
                found[node.value] = None
    return list(found)


def expansions(c: op_table.OpCommand, node: op_syntax.Node) -> list[list[tuple[str, str]]]:
    """Each way through ``node`` as slots: ("kw", word) or ("val", key); a repetition once
    or twice, a list value alone or in brackets."""
    if isinstance(node, op_syntax.Kw):
        return [[("kw", node.word)]]
    if isinstance(node, op_syntax.Val):
        one = [("val", node.key)]
        if node.many:
            return [one, [("kw", "["), *one, ("kw", "]")], [("kw", "["), *one, *one, ("kw", "]")]]
        return [one]
    if isinstance(node, op_syntax.Part):
        return expansions(c, c.part_trees[node.name])
    if isinstance(node, op_syntax.Seq):
        ways: list[list[tuple[str, str]]] = [[]]
        for item in node.items:
            ways = [w + x for w in ways for x in expansions(c, item)][:400]
        return ways
    if isinstance(node, op_syntax.Alt):
        return [w for o in node.options for w in expansions(c, o)]
    if isinstance(node, op_syntax.Opt):
        return [[], *expansions(c, node.item)]
    assert isinstance(node, op_syntax.Rep)
    once = expansions(c, node.item)
    return once + [a + b for a, b in itertools.product(once, once)][:300]


def slot_values(c: op_table.OpCommand, key: str) -> list[str]:
    arg = c.arg(key)
    if arg.choices:
        return [*arg.choices, "bogus", "on", "yes"]
    return SAMPLES[arg.kind]


def base_value(c: op_table.OpCommand, key: str) -> str:
    arg = c.arg(key)
    return next(iter(arg.choices)) if arg.choices else BASE[arg.kind]


def generated_lines() -> Iterator[tuple[str, bool]]:
    """(line, whether it is the plain form) for every command: each way through its syntax
    with plain values, then with every sample value in each slot of its first ways."""
    for c in op_table.COMMANDS:
        ways = expansions(c, c.tree) if c.tree is not None else [[]]
        for n, way in enumerate(ways):
            for first in (c.words.split()[0], *c.also):
                head = [first, *c.words.split()[1:]]
                words = [w if k == "kw" else base_value(c, w) for k, w in way]
                yield " ".join(head + words), True
                if n >= 30 or first != c.words.split()[0]:
                    continue
                for i, (kind, key) in enumerate(way):
                    if kind == "val":
                        for value in slot_values(c, key):
                            yield " ".join(head + words[:i] + [value] + words[i + 1:]), False
                for regex in REGEXES:
                    yield " ".join([*head, *words, "|", "match", regex]), False


def lark_walks(count: int, seed: int = 17) -> Iterator[str]:
    """Random lines the Lark automaton accepts, made token by token from its own choices
    (not from op_table): keywords as they are, free values from the samples."""
    rnd = random.Random(seed)
    kw = parser.keyword_terminals()
    values = {"WORD": SAMPLES[NAME] + SAMPLES[WORD], "NUMBER": ["5", "007", "12"],
              "STRING": ['"a b"', '"q\\"x"'], "REGEX": REGEXES}
    for _ in range(count):
        ip = parser.lark_parser().parse_interactive("", start=parser.start_rule(OPERATIONAL))
        words: list[str] = []
        while True:
            accepts = sorted(ip.accepts())
            if "$END" in accepts and (len(words) > 14 or rnd.random() < 0.3):
                break
            choices = [t for t in accepts if t != "$END"]
            if not choices:
                break
            term = rnd.choice(choices)
            text = kw[term] if term in kw else rnd.choice(values.get(term, ["x"]))
            try:
                ip.feed_token(Token(term, text))
            except LarkError:
                break
            words.append(text)
        yield " ".join(words)


def mistakes(line: str) -> Iterator[str]:
    words = line.split()
    for i in range(len(words)):
        yield " ".join(words[:i] + words[i + 1:])  # a word left out
        yield " ".join(words[:i] + ["x"] + words[i:])  # one too many
        yield " ".join(words[:i] + [words[i].upper()] + words[i + 1:])
        yield " ".join(words[:i] + [words[i] + "s"] + words[i + 1:])  # a misspelled word
        if i + 1 < len(words):
            yield " ".join(words[:i] + [words[i] + words[i + 1]] + words[i + 2:])  # glued
            yield " ".join(words[:i] + [words[i + 1], words[i]] + words[i + 2:])  # swapped
    yield line + " detail"
    yield line.replace(" ", "\t", 1)
    yield line.replace(" ", "\u00a0", 1)
    yield line + ' "unterminated'


# ------------------------------------------------------------------ the tests


@pytest.mark.parametrize("line", MUST_MATCH)
def test_everyday_lines_never_load_lark(line: str) -> None:
    assert check(line), f"the matcher declined {line!r}"


def test_every_command_is_matched_in_its_plain_forms() -> None:
    """Each way through each command's syntax, with plain values: matched, as Lark reads it."""
    plain = [line for line, is_plain in generated_lines() if is_plain]
    declined = [line for line in plain if not check(line)]
    assert not declined, declined[:10]
    assert {c.name for c in op_table.COMMANDS} == \
        {m.name for m in map(op_match.match, plain) if m is not None}


def test_generated_values_agree_or_are_declined() -> None:
    lines = [line for line, is_plain in generated_lines() if not is_plain]
    matched = sum(check(line) for line in lines)
    assert len(lines) > 2000 and matched > len(lines) // 4


def test_the_lines_of_the_other_tests_agree_or_are_declined() -> None:
    lines = unit_test_strings()
    matched = sum(check(line) for line in lines)
    assert len(lines) > 1000 and matched > 50


def test_random_lark_lines_agree_or_are_declined() -> None:
    lines = list(dict.fromkeys(lark_walks(3000)))
    matched = sum(check(line) for line in lines)
    assert matched > len(lines) // 4


def test_every_keyword_in_every_value_slot_agrees_or_is_declined() -> None:
    """A value spelled as any keyword of the grammar, in each free value slot of each
    command's first ways (Lark's contextual lexer may read it as the keyword)."""
    keywords = sorted(set(parser.keyword_terminals().values()) - {"[", "]", "|"})
    matched = 0
    for c in op_table.COMMANDS:
        ways = expansions(c, c.tree) if c.tree is not None else []
        for way in ways[:6]:
            words = [w if k == "kw" else base_value(c, w) for k, w in way]
            for i, (kind, key) in enumerate(way):
                if kind == "val" and not c.arg(key).choices:
                    for word in keywords:
                        line = " ".join([c.words, *words[:i], word, *words[i + 1:]])
                        matched += check(line)
    assert matched > 1000


def test_mistakes_agree_or_are_declined() -> None:
    """A wrong line is never read as some other command: the matcher declines it and the
    error is Lark's (naming the unknown first word, or Invalid syntax)."""
    for line in MUST_MATCH + [line for line, is_plain in generated_lines() if is_plain][::7]:
        for wrong in mistakes(line):
            check(wrong)
    assert shell_result("shw vpn ike-sa") == "Unknown command: shw"
    assert shell_result("show vpn ike-sa gatway GW1") == "Invalid syntax."
    assert shell_result("   ") is None and shell_result("") is None


def test_what_it_declines() -> None:
    """Lines Lark reads but the matcher leaves to it (its lexer decides them)."""
    for line in ("show log system to", "show vpn ike-sa gatewayGW1", "show session all filter a all",
                 "show vpn ike-sa gateway G\u00e9",
                 "show vpn ike-sa |match x"):
        assert op_match.match(line) is None, line
        assert isinstance(lark_result(line), Command), line


def test_the_keywords_it_declines_as_values_are_all_of_larks() -> None:
    assert set(parser.keyword_terminals().values()) <= op_match._keywords()


# ------------------------------------------------------------------ what a one-shot loads

ONE_SHOT = """
import json, sys
from vpnsh.shell.main import main
status = main(["--socket", sys.argv[1], "-c", sys.argv[2]])
heavy = ("lark", "orjson", "vpnsh.shell.parser", "vpnsh.config.schema", "vpnsh.shell.editpath",
         "vpnsh.config")
print(json.dumps({"status": status, "loaded": [m for m in heavy if m in sys.modules]}))
"""


class StubDaemon:
    """A control socket that answers every request with ``{}`` and records the ops."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ops: list[tuple[str, Any]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                while True:
                    header = conn.recv(protocol.HEADER.size, socket.MSG_WAITALL)
                    if len(header) < protocol.HEADER.size:
                        break
                    body = conn.recv(protocol.frame_length(header), socket.MSG_WAITALL)
                    message = protocol.decode_body(body)
                    self.ops.append((message["op"], message.get("args", {}).get("name")))
                    conn.sendall(protocol.encode(protocol.ok(message["id"], {})))

    def close(self) -> None:
        self.sock.close()


def one_shot(tmp_path: Path, command: str) -> tuple[dict[str, Any], StubDaemon]:
    daemon = StubDaemon(tmp_path / "ctl.sock")
    try:
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
        res = subprocess.run([sys.executable, "-c", ONE_SHOT, str(daemon.path), command],
                             capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout.splitlines()[-1]), daemon
    finally:
        daemon.close()


def test_a_one_shot_show_loads_neither_lark_nor_the_schema_nor_orjson(tmp_path: Path) -> None:
    result, daemon = one_shot(tmp_path, "show vpn ike-sa")
    assert result == {"status": 0, "loaded": []}
    assert ("engine.op", "vpn.ike-sa.show") in daemon.ops


def test_a_line_the_matcher_declines_is_parsed_by_lark(tmp_path: Path) -> None:
    result, daemon = one_shot(tmp_path, "show log system to")  # "to" may be a keyword: Lark decides
    assert result["status"] == 0 and "lark" in result["loaded"]
    assert ("log.system", None) in daemon.ops
