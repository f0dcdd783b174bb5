"""The operational commands are declared once (vpnsh/shell/op_table.py); everything else
about them is made from that table or checked against it here.

Made: the grammar's op part, ``?`` help and TAB, the shell's dispatch, the reference.
Checked: the daemon's dispatch (vpnsh/engine/service.py), the control ops the shell sends,
the admin roles, the XML API's own op commands.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from vpnsh.control import roles
from vpnsh.shell import op_syntax, op_table, opcommands, session
from vpnsh.shell.completion import help_items
from vpnsh.shell.parser import OPERATIONAL, grammar_text, lark_parser, parse

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = op_table.COMMANDS
READER = roles.Admin("reader", roles.SUPERREADER)


def engine_ops() -> set[str]:
    found = set()
    for c in COMMANDS:
        if c.engine:
            found.add(c.engine)
        found |= {v.op for v in c.variants if v.op}
    return found


def test_the_table_is_the_only_place_an_op_command_is_written() -> None:
    """grammar/vpnsh.lark has no operational rule of its own: each op_command alternative is
    a table command, and its rule is the one the table makes."""
    static = (ROOT / "grammar" / "vpnsh.lark").read_text()
    assert not re.search(r"^\??op_command\s*:", static, re.M)
    rules = {r.origin.name for r in lark_parser().rules}
    for c in COMMANDS:
        assert op_syntax.rule_name(c.name) in rules, c.name
    made = op_table.grammar_text()
    alternatives = re.search(r"\?op_command: (.*?)\n(?!\s+\|)", made, re.S)
    assert alternatives is not None
    assert alternatives.group(1).replace("|", " ").split() == \
        [op_syntax.rule_name(c.name) for c in COMMANDS]
    assert grammar_text().endswith(made)
    # the names the shell dispatches on are the table's, one each, in words that make a rule name
    assert len({c.name for c in COMMANDS}) == len(COMMANDS)
    assert all(re.fullmatch(r"[a-z0-9 -]+", c.name) for c in COMMANDS)


@pytest.mark.parametrize("c", COMMANDS, ids=lambda c: c.name)
def test_every_command_parses_to_its_name(c: op_table.OpCommand) -> None:
    line = _shortest_line(c)
    command = parse(line, OPERATIONAL)
    assert command is not None and command.name == c.name, line


def _shortest_line(c: op_table.OpCommand) -> str:
    """The command's words and the shortest filling of its syntax."""
    def fill(node: op_syntax.Node) -> list[str]:
        if isinstance(node, op_syntax.Kw):
            return [node.word]
        if isinstance(node, op_syntax.Val):
            arg = c.arg(node.key)
            return [next(iter(arg.choices))] if arg.choices else \
                ["1" if arg.kind == op_table.NUMBER else "x"]
        if isinstance(node, op_syntax.Part):
            return fill(c.part_trees[node.name])
        if isinstance(node, op_syntax.Seq):
            return [w for n in node.items for w in fill(n)]
        if isinstance(node, op_syntax.Alt):
            return fill(node.options[0])
        if isinstance(node, op_syntax.Opt):
            return []
        assert isinstance(node, op_syntax.Rep)
        return fill(node.item)
    return " ".join([c.words, *(fill(c.tree) if c.tree is not None else [])])


def test_the_daemon_serves_every_engine_op_and_nothing_else() -> None:
    from vpnsh.engine.service import _OPS

    assert set(_OPS) == engine_ops()


def test_every_control_op_of_a_command_is_served(tmp_path: Path) -> None:
    from vpnsh.control.server import Dispatcher
    from vpnsh.engine.configd import ConfigService
    from vpnsh.engine.service import Engine

    service = ConfigService(str(tmp_path), Engine(dataplane="none"), hostname="h")
    served = set(service.ops()) | set(Dispatcher().ops())
    for c in COMMANDS:
        assert set(c.ops) <= served, c.name
        if c.engine:
            assert "engine.op" in served


@pytest.mark.parametrize("c", COMMANDS, ids=lambda c: c.name)
def test_read_only_commands_are_the_ones_a_superreader_may_run(c: op_table.OpCommand) -> None:
    requests = [(op, {}) for op in c.ops]
    requests += [("engine.op", {"name": op}) for op in
                 ([c.engine] if c.engine else []) + [v.op for v in c.variants if v.op]]
    if not requests:  # the shell's own: only configure is beyond a superreader
        assert c.read == (c.name != "configure")
        return
    assert {roles.may_run(READER, op, args) for op, args in requests} == {c.read}, c.name


@pytest.mark.parametrize("c", COMMANDS, ids=lambda c: c.name)
def test_every_command_is_run_by_the_shell_or_rendered(c: op_table.OpCommand) -> None:
    if c.run:
        assert callable(getattr(session.Session, c.run)), c.run
        assert session._OP_HANDLERS[c.name] is getattr(session.Session, c.run)
        return
    assert c.engine and c.render, c.name
    for spec in [c.render, *(v.render for v in c.variants if v.render)]:
        assert callable(opcommands.renderer(spec)), spec
    found = opcommands.lookup(c.name, {})
    assert found is not None and found.op == c.engine


def test_variants_choose_the_op_and_renderer() -> None:
    from vpnsh.render import host, vpn

    detail = opcommands.lookup("show vpn ike-sa", {"detail": True, "gateway": "G"})
    assert detail is not None and detail.op == "vpn.ike-sa.detail"
    assert detail.render is vpn.show_ike_sa_detail
    every = opcommands.lookup("show interface", {"interface": "all"})
    one = opcommands.lookup("show interface", {"interface": "ethernet1/1"})
    assert every is not None and every.render is host.interface_all
    assert one is not None and one.render is host.interface_detail


def test_every_argument_is_used_and_every_word_has_help() -> None:
    used = {n.key for c in COMMANDS for n in c.nodes() if isinstance(n, op_syntax.Val)}
    assert used == set(op_table.ARGS)
    for c in COMMANDS:
        words = c.words.split()
        for i in range(len(words)):
            assert op_table.word_help(tuple(words[: i + 1])), (c.name, words[: i + 1])
        for n in c.nodes():
            if isinstance(n, op_syntax.Kw) and n.word not in ("[", "]"):
                assert c.keyword_help(n.word), (c.name, n.word)
    # a group's help is not also a command's (one place for each word's help)
    for c in COMMANDS:
        assert tuple(c.words.split()) not in op_table.GROUPS, c.name


def test_question_mark_help_comes_from_the_table() -> None:
    tree = {"network": {"ike": {"gateway": {"GW1": {}}}}}
    items = {i.word: i.help for i in help_items("clear vpn ike-sa ", OPERATIONAL, [], lambda: tree)}
    assert items["gateway"] == op_table.BY_NAME["clear vpn ike-sa"].helps["gateway"]
    items = {i.word: i.help for i in help_items("clear vpn ike-sa gateway ", OPERATIONAL, [],
                                                 lambda: tree)}
    assert items == {"GW1": "GW1", "<value>": op_table.ARGS["gateway"].help}
    # the same word means what its own command says
    assert op_table.position(["test", "vpn", "ike-sa"]).keyword_help("gateway") == \
        "Initiate for given IKE gateway"
    assert op_table.position(["show", "vpn", "gateway"]).keyword_help("gateway") == \
        "show for given IKE gateway"
    assert op_table.position(["show", "vpn"]).keyword_help("gateway") == \
        "show list of IKE gateway configuration"
    # a value is a word like any other: the help after it is that of the next keyword
    where = op_table.position(["test", "security-policy-match", "from", "trust"])
    assert where.keyword_help("to") == "To zone" and where.slots() == []


def test_the_xml_apis_own_op_commands_are_table_commands() -> None:
    """vpnsh/api/handlers.py answers some op commands itself (PAN-OS's XML for them); the
    rest go through the table (opcommands.lookup)."""
    source = (ROOT / "vpnsh" / "api" / "handlers.py").read_text()
    own = re.findall(r'words\[:\d\] == (\[[^\]]*\])', source)
    assert own
    for words in own:
        prefix = " ".join(ast.literal_eval(words))
        assert any(c.name == prefix or c.name.startswith(prefix) for c in COMMANDS), prefix


def test_the_reference_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_command_reference",
                                                  ROOT / "scripts" / "gen_command_reference.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0


def test_a_bad_table_is_refused() -> None:
    with pytest.raises(op_syntax.SyntaxNotationError):
        op_syntax.parse_syntax("[gateway <gateway>")
    bad = op_table.OpCommand("show thing", "<nosuch>", "x", engine="x.show", render="vpn.show_flow")
    with pytest.raises(op_syntax.SyntaxNotationError):
        op_syntax.lark_text((bad,), op_table.ARGS)
    a = op_table.OpCommand("show a", "_p", "a", parts={"p": "x <gateway>"})
    b = op_table.OpCommand("show b", "_p", "b", parts={"p": "y <gateway>"})
    with pytest.raises(op_syntax.SyntaxNotationError):
        op_syntax.lark_text((a, b), op_table.ARGS)
