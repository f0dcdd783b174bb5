"""Plain PAN-OS text for the system-side commands: system info, jobs, commit."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

COMMIT_PROGRESS = "...........98%..............100%"
COMMIT_OK = "Configuration committed successfully"
COMMIT_FAILED = "Commit failed"
VALIDATION_ERROR = "Validation Error:"
NO_CHANGES = "There are no changes to commit."


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


def commit_started(job_id: int | str, kind: str = "Commit") -> str:
    return f"{kind} job {job_id} is in progress. Use Ctrl+C to return to command prompt\n"


def commit_succeeded(warnings: Sequence[str] = ()) -> str:
    return "".join(f"{line}\n" for line in (COMMIT_PROGRESS, *warnings, COMMIT_OK))


def commit_lines(job_id: int | str, warnings: Sequence[str] = ()) -> list[str]:
    """A successful commit, as PAN-OS's CLI prints it (netmiko waits for ``100%`` and then
    looks for ``configuration committed successfully``)."""
    return (commit_started(job_id) + commit_succeeded(warnings)).splitlines()


def commit_failed(job_id: int | str, problems: Sequence[str]) -> str:
    """A failed commit: the job, its progress to 100%, the reasons, ``Commit failed``."""
    return (commit_started(job_id) + f"{COMMIT_PROGRESS}\n" + validation_error(problems)
            + f"{COMMIT_FAILED}\n")


def validate_enqueued(job_id: int | str) -> str:
    return f"Validate job enqueued with jobid {job_id}\n"


def validation_error(problems: Iterable[str] | str) -> str:
    """``Validation Error:`` then one `` a -> b -> c msg`` line per problem (one space in)."""
    lines = problems.splitlines() if isinstance(problems, str) else list(problems)
    if lines and lines[0].strip().startswith(VALIDATION_ERROR):
        rest = lines[0].strip()[len(VALIDATION_ERROR):].strip()
        lines = ([rest] if rest else []) + lines[1:]
    body = [" " + line.strip() for line in lines if line.strip()]
    return "\n".join([VALIDATION_ERROR, *body]) + "\n"


def _clock(epoch: float | None, fmt: str) -> str:
    return time.strftime(fmt, time.localtime(epoch)) if epoch else ""


# ``show jobs all`` (PAN-OS 7.1+, with the commit queue): each column's left (``<``) or
# right (``>``) edge, measured on a real capture (panos-cli-ops.md section 8.4)
JOB_COLUMNS = (("Enqueued", "<", 0), ("Dequeued", "<", 22), ("ID", ">", 43),
               ("PositionInQ", "<", 45), ("Type", ">", 90), ("Status", ">", 121),
               ("Result", ">", 128), ("Completed", "<", 129))
JOB_WIDTH = 138


def _place(values: Sequence[str]) -> str:
    line = ""
    for (_name, align, edge), value in zip(JOB_COLUMNS, values, strict=True):
        start = edge if align == "<" else edge - len(value)
        line = line.ljust(start) + value if value else line
    return line


JOB_HEAD = _place([name for name, _a, _e in JOB_COLUMNS])


def _job_row(job: Mapping[str, Any]) -> str:
    enq = job.get("enqueued")
    done = job.get("completed") if job.get("status") == "FIN" else None
    return _place([_clock(enq, "%Y/%m/%d %H:%M:%S"), _clock(enq, "%H:%M:%S"),
                   str(job.get("id", "")), "", str(job.get("type", "")),
                   str(job.get("status", "")), str(job.get("result", "")),
                   _clock(done, "%H:%M:%S")])


def jobs(rows: Sequence[Mapping[str, Any]]) -> str:
    """``show jobs all``: newest first, as PAN-OS lists them."""
    lines = [JOB_HEAD, "-" * JOB_WIDTH]
    lines += [_job_row(job) for job in sorted(rows, key=lambda j: j.get("id", 0), reverse=True)]
    return "\n".join(lines) + "\n"


def job_detail(job: Mapping[str, Any]) -> str:
    """``show jobs id N``: the job's row, then its warnings and details (a label, its first
    line after it, further lines below)."""
    lines = [JOB_HEAD, "-" * JOB_WIDTH, _job_row(job)]
    for label, key in (("Warnings:", "warnings"), ("Details:", "details")):
        items = [str(x) for x in job.get(key) or []]
        lines.append(label + (items[0] if items else ""))
        lines += items[1:]
    return "\n".join(lines) + "\n"
