"""``vpnsh``: the PAN-OS-style shell of vpnshd.

    vpnsh                          interactive shell (operational mode)
    vpnsh -c configure -c 'set ...' -c commit
    vpnsh -f script.txt            one command a line, as if typed
    vpnsh -f script.txt --bulk     the same, set/delete runs sent in one request each
    echo 'show vpn flow' | vpnsh   commands on stdin when it is not a terminal
    vpnsh lab up|down|status|shell SITE   the two-site lab (vpnsh.lab)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from vpnsh.control import protocol
from vpnsh.shell.script import run_script
from vpnsh.shell.session import Session


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vpnsh",
        description="The vpnsh shell: PAN-OS commands for the vpnshd IPsec gateway.",
        epilog="Subcommand: vpnsh lab up|down|status|shell SITE (the two-site lab).",
    )
    p.add_argument("--socket", metavar="PATH", default=None,
                   help=f"control socket of vpnshd (default ${protocol.SOCKET_ENV}, "
                        f"else {protocol.DEFAULT_SOCKET})")
    p.add_argument("-c", dest="commands", metavar="CMD", action="append", default=[],
                   help="run CMD; repeat for several commands, run in order in one session")
    p.add_argument("-f", dest="file", metavar="FILE",
                   help="run the commands in FILE, one a line ('-' for stdin)")
    p.add_argument("--output", choices=("text", "json"), default="text",
                   help="json: show commands print JSON")
    p.add_argument("--keep-going", action="store_true",
                   help="in a script, run every line even after a failing one (exit 1 if any failed)")
    p.add_argument("--keep-candidate", action="store_true",
                   help="a failing script keeps the candidate changes it made (default: they are "
                        "reverted; other admins' changes are never touched)")
    p.add_argument("--bulk", action="store_true",
                   help="with -f: send each run of configure-mode set/delete lines to the daemon "
                        "in one request, applied all or nothing (large configs in seconds)")
    return p


def run_lab(argv: Sequence[str]) -> int:
    try:
        lab = importlib.import_module("vpnsh.lab")
    except ModuleNotFoundError as exc:
        if exc.name != "vpnsh.lab":
            raise
        print("vpnsh lab: the lab is not part of this installation (no module vpnsh.lab).",
              file=sys.stderr)
        return 2
    return int(lab.main(list(argv)) or 0)


def make_client(socket_path: str | None) -> Any:
    from vpnsh.control.client import Client

    return Client(protocol.socket_path(socket_path))


def _script_lines(args: argparse.Namespace) -> Iterable[str] | None:
    if args.commands and args.file:
        raise SystemExit("vpnsh: use either -c or -f, not both")
    if args.commands:
        return list(args.commands)
    if args.file == "-":
        return sys.stdin
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as f:
                return f.read().splitlines()
        except OSError as exc:
            raise SystemExit(f"vpnsh: cannot read {args.file}: {exc.strerror}") from None
    if not sys.stdin.isatty():
        return sys.stdin
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "lab":
        return run_lab(argv[1:])
    args = build_parser().parse_args(argv)
    client = make_client(args.socket)
    session = Session(client, output_json=args.output == "json")
    with contextlib.suppress(Exception):  # an older daemon, or none yet: the commands will say
        session.hello("CLI", "local")
    lines = _script_lines(args)
    try:
        if lines is not None and args.bulk:
            from vpnsh.shell.bulk import run_bulk_script

            return run_bulk_script(session, lines, sys.stdout, sys.stderr, keep_going=args.keep_going,
                                   keep_candidate=args.keep_candidate)
        if lines is not None:
            return run_script(session, lines, sys.stdout, sys.stderr, keep_going=args.keep_going,
                              keep_candidate=args.keep_candidate)
        from vpnsh.shell.interactive import run_interactive

        return run_interactive(session)
    except KeyboardInterrupt:
        return 130
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            close()


if __name__ == "__main__":
    sys.exit(main())
