"""The generated command reference covers the grammar and the schema."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from vpnsh.shell import opcommands

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gen_command_reference.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gen_command_reference", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_lists_every_command_and_config_path(tmp_path: Path) -> None:
    gen = load_script()
    out = tmp_path / "ref.md"
    assert gen.main(["--output", str(out)]) == 0
    text = out.read_text()
    for name in opcommands.names():
        assert f"| `{name}" in text, name
    for form in ("`show vpn ike-sa detail gateway <value>`", "`set cli config-output-format json`",
                 "`commit force description <value>`", "`move <path> before <value>`",
                 "`run <operational command>`"):
        assert form in text, form
    assert "| `network ike gateway <name> protocol version` | ikev1 | ikev2 | ikev2-preferred" \
        .replace(" | ikev2 | ", " \\| ikev2 \\| ") in text
    assert gen.main(["--output", str(out), "--check"]) == 0
    out.write_text(text + "stale\n")
    assert gen.main(["--output", str(out), "--check"]) == 1
