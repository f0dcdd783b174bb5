"""Plain PAN-OS text for the system-side commands: system info, jobs, commit."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

COMMIT_PROGRESS = "...........98%..............100%"
COMMIT_OK = "Configuration committed successfully"
VALIDATION_ERROR = "Validation Error:"


# daemon key -> PAN-OS line name, in PAN-OS's order; keys not listed follow as they come
SYSTEM_INFO_KEYS = (
    ("hostname", "hostname"),
    ("uptime", "uptime"),
    ("model", "model"),
    ("version", "sw-version"),
    ("operational_mode", "operational-mode"),
    ("dataplane", "vpn-dataplane"),
    ("pid", "pid"),
    ("state_dir", "state-dir"),
    ("socket", "socket"),
)
SYSTEM_INFO_HIDDEN = ("uptime_seconds",)


def system_info(info: Mapping[str, Any]) -> str:
    """``show system info``: ``name: value`` lines as PAN-OS prints them (``hostname: fw1``,
    ``uptime: 0 days, 1:02:03``, ``sw-version: ...``); only the keys the daemon gave."""
    info = dict(info)
    if "version" in info:  # the daemon's full answer: PAN-OS's mode line (netmiko waits for it)
        info.setdefault("operational_mode", "normal")
    lines = [f"{label}: {info[key]}" for key, label in SYSTEM_INFO_KEYS if key in info]
    known = {k for k, _ in SYSTEM_INFO_KEYS} | set(SYSTEM_INFO_HIDDEN)
    lines += [f"{key}: {value}" for key, value in info.items() if key not in known]
    return "".join(f"{line}\n" for line in lines) or "\n"


def debug_ike(state: Mapping[str, Any]) -> str:
    """``show debug ike``: the IKE debug settings (``debug ike ...``)."""
    lines = [f"sw.ikedaemon.debug.global: {state.get('global', 'normal')}"]
    for kind in ("gateways", "tunnels"):
        for name, level in dict(state.get(kind) or {}).items():
            lines.append(f"sw.ikedaemon.debug.{kind[:-1]}.{name}: {level}")
    lines.append(f"sw.ikedaemon.debug.pcap: {'on' if state.get('pcap') else 'off'}")
    if state.get("pcap") and state.get("pcap_file"):
        lines.append(f"pcap file: {state['pcap_file']} ({state.get('pcap_packets', 0)} packets)")
    if state.get("wireshark_keys"):
        lines.append(f"wireshark keys: {state.get('wireshark_dir')} (ikev2_decryption_table, esp_sa)")
        if state.get("keys_supported") is False:
            lines.append("(this engine does not write keys to the tables yet)")
    if state.get("engine_supported") is False:
        lines.append("(this engine does not act on the debug levels yet)")
    if state.get("pcap") and state.get("pcap_supported") is False:
        lines.append("(this engine does not write IKE packets to the pcap yet)")
    return "\n".join(lines) + "\n"


def commit_started(job_id: int | str) -> str:
    return f"Commit job {job_id} is in progress. Use Ctrl+C to return to command prompt\n"


def commit_succeeded() -> str:
    return f"{COMMIT_PROGRESS}\n{COMMIT_OK}\n"


def validation_error(problems: Iterable[str] | str) -> str:
    """``Validation Error:`` then one ``a -> b -> c msg`` line per problem."""
    lines = problems.splitlines() if isinstance(problems, str) else list(problems)
    if lines and lines[0].strip().startswith(VALIDATION_ERROR):
        rest = lines[0].strip()[len(VALIDATION_ERROR):].strip()
        lines = ([rest] if rest else []) + lines[1:]
    body = [line.rstrip() for line in lines if line.strip()]
    return "\n".join([VALIDATION_ERROR, *body]) + "\n"


def _clock(epoch: float | None, fmt: str) -> str:
    return time.strftime(fmt, time.localtime(epoch)) if epoch else ""


JOB_HEAD = (f"{'Enqueued':<22}{'Dequeued':<11}{'ID':>6}  {'Type':<12}{'Status':<8}"
            f"{'Result':<8}{'Completed'}")


def jobs(rows: Sequence[Mapping[str, Any]]) -> str:
    """``show jobs all``: newest first, as PAN-OS lists them."""
    lines = [JOB_HEAD, "-" * len(JOB_HEAD) + "-" * 10]
    for job in sorted(rows, key=lambda j: j.get("id", 0), reverse=True):
        enq = job.get("enqueued")
        lines.append(
            f"{_clock(enq, '%Y/%m/%d %H:%M:%S'):<22}{_clock(enq, '%H:%M:%S'):<11}"
            f"{job.get('id', ''):>6}  {job.get('type', ''):<12}{job.get('status', ''):<8}"
            f"{job.get('result', ''):<8}{_clock(job.get('completed'), '%H:%M:%S')}"
        )
    return "\n".join(lines) + "\n"
