"""``ping source IP host IP [count N]``: the system ping, run by the daemon.

The daemon runs it in its own network namespace (where the tunnel interfaces and
routes are), so a ping from a LAN address of this gateway to one of the peer's goes
through the tunnel, and a first ping brings the tunnel up (interesting traffic).
The result is data; the shell prints ``output`` as it is, as PAN-OS does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import shutil
from typing import Any

DEFAULT_COUNT = 5
MAX_COUNT = 1000
_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_RTT = re.compile(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")


class PingError(ValueError):
    """The arguments are not a ping this daemon will run."""


def _addresses(source: str | None, host: str) -> tuple[str | None, str]:
    try:
        src = ipaddress.ip_address(source) if source is not None else None
        dst = ipaddress.ip_address(host)
    except ValueError as exc:
        raise PingError(str(exc)) from None
    if src is not None and src.version != dst.version:
        raise PingError(f"source {src} and host {dst} are not of one address family")
    return (None if src is None else str(src)), str(dst)


def ping_argv(source: str | None, host: str, count: int = DEFAULT_COUNT) -> list[str]:
    """The command line for ``ping [source SOURCE] host HOST count COUNT``."""
    src, dst = _addresses(source, host)
    if not 1 <= count <= MAX_COUNT:
        raise PingError(f"count {count} is outside 1..{MAX_COUNT}")
    binary = shutil.which("ping") or "ping"
    # -W 1: a reply later than a second is lost (no -w: with it, ping sends until the
    # deadline when replies are missing, more than `count`)
    return [binary, "-n", "-c", str(count), "-W", "1", *(["-I", src] if src else []), dst]


def traceroute_argv(host: str, source: str | None = None) -> list[str]:
    """``traceroute host HOST [source SOURCE]``: Linux traceroute, numeric, 1 s per probe."""
    src, dst = _addresses(source, host)
    binary = shutil.which("traceroute")
    if binary is None:
        raise PingError("traceroute is not installed on this host (Debian package traceroute)")
    return [binary, "-n", "-w", "1", "-q", "3", "-m", "30", *(["-s", src] if src else []), dst]


async def run_traceroute(host: str, source: str | None = None) -> dict[str, Any]:
    """Run traceroute; {host, source, returncode, output, hops: [[hop, [addr...]]...]}."""
    argv = traceroute_argv(host, source)
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        stdout, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()
        stdout, _ = await proc.communicate()
    output = stdout.decode(errors="replace")
    hops = []
    for line in output.splitlines()[1:]:
        words = line.split()
        if words and words[0].isdigit():
            hops.append([int(words[0]), [w for w in words[1:] if _is_ip(w)]])
    return {"host": host, "source": source, "returncode": proc.returncode, "output": output,
            "hops": hops}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_summary(output: str) -> dict[str, Any]:
    """transmitted, received, loss percent and rtt min/avg/max/mdev (ms) of ping's output."""
    out: dict[str, Any] = {"transmitted": 0, "received": 0, "loss_percent": 100.0, "rtt": None}
    m = _SUMMARY.search(output)
    if m:
        sent, got = int(m.group(1)), int(m.group(2))
        out.update(transmitted=sent, received=got,
                   loss_percent=round(100.0 * (sent - got) / sent, 1) if sent else 100.0)
    m = _RTT.search(output)
    if m:
        out["rtt"] = dict(zip(("min", "avg", "max", "mdev"), (float(g) for g in m.groups()),
                              strict=True))
    return out


async def run_ping(source: str | None, host: str, count: int = DEFAULT_COUNT) -> dict[str, Any]:
    """Run the ping; returns {source, host, count, returncode, output, transmitted, ...}.

    Raises :class:`PingError` for bad arguments; a ping that cannot start at all gives
    returncode -1 and the reason as output.
    """
    argv = ping_argv(source, host, count)
    result: dict[str, Any] = {"source": source, "host": host, "count": count}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
    except OSError as exc:
        return {**result, "returncode": -1, "output": f"ping: {exc.strerror or exc}\n",
                **parse_summary("")}
    try:
        stdout, _ = await asyncio.wait_for(proc.communicate(), timeout=count + 15)
    except TimeoutError:
        proc.kill()
        stdout, _ = await proc.communicate()
    output = stdout.decode(errors="replace")
    return {**result, "returncode": proc.returncode, "output": output, **parse_summary(output)}
