"""Commit and validate jobs: incrementing ids and a short persisted log.

Ids start at 1 on a fresh state dir and keep counting across restarts, as
PAN-OS job ids do.  ``show jobs`` reads the log.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from vpnsh.control import roles

log = logging.getLogger("vpnshd.jobs")

JOBS_FILE = "jobs.json"
KEEP = 200  # jobs kept in the log


@dataclass
class Job:
    id: int
    type: str  # "Commit" | "Validate"
    enqueued: float
    completed: float = 0.0
    status: str = "ACT"  # ACT while running, FIN when done
    result: str = "PEND"  # OK | FAIL once done
    description: str = ""
    details: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    user: str = ""  # the admin who started it (PAN-OS's job field ``user``)

    def finish(self, ok: bool, details: list[str] | None = None,
               warnings: list[str] | None = None) -> None:
        self.completed = time.time()
        self.status = "FIN"
        self.result = "OK" if ok else "FAIL"
        self.details = list(details or [])
        self.warnings = list(warnings or [])


class JobLog:
    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, JOBS_FILE)
        self.last_id = 0
        self.jobs: list[Job] = []
        self._load()

    def start(self, type_: str, description: str = "", user: str | None = None) -> Job:
        """A new job; ``user`` defaults to the admin of the request being served.  The id is
        on disk at once, so ids never repeat or skip, even when the daemon stops before the
        job is done."""
        self.last_id += 1
        if user is None:
            user = roles.current_name()
        job = Job(self.last_id, type_, time.time(), description=description, user=user)
        self.jobs.append(job)
        del self.jobs[:-KEEP]
        self._save()
        return job

    def done(self, job: Job, ok: bool, details: list[str] | None = None,
             warnings: list[str] | None = None) -> None:
        job.finish(ok, details, warnings)
        self._save()

    def get(self, job_id: int) -> Job | None:
        return next((j for j in self.jobs if j.id == job_id), None)

    def as_data(self) -> list[dict[str, Any]]:
        return [asdict(j) for j in self.jobs]

    def _load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            self.last_id = int(data.get("last_id", 0))
            known = set(Job.__dataclass_fields__)
            self.jobs = [Job(**{k: v for k, v in j.items() if k in known})
                         for j in data.get("jobs", [])]
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError) as exc:
            log.warning("job log %s unreadable (%s); job ids continue from %d", self.path, exc, self.last_id)

    def _save(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"last_id": self.last_id, "jobs": self.as_data()}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


# ---------------------------------------------------------------------------- system log

SYSTEM_KEEP = 1000
SYSTEM_FIELDS = ("subtype", "severity", "eventid", "object")


class SystemLog:
    """Recent system events (``show log system``): commits here, VPN events from the engine.

    An event is ``{"time", "subtype", "eventid", "object", "severity", "description"}``.
    """

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def event(self, eventid: str, description: str, *, subtype: str = "general",
              severity: str = "informational", obj: str = "") -> None:
        self.events.append({"time": time.time(), "subtype": subtype, "eventid": eventid,
                            "object": obj, "severity": severity, "description": description})
        del self.events[:-SYSTEM_KEEP]


def filter_events(events: list[dict[str, Any]], words: list[str]) -> list[dict[str, Any]]:
    """Keep the events matching a PAN-OS style filter: ``( subtype eq vpn )``,
    ``subtype equal vpn``, ``severity eq high``; other words must appear in the description."""
    tokens = [t for w in words for t in str(w).replace("(", " ").replace(")", " ").split()
              if t.lower() != "and"]
    fields: dict[str, str] = {}
    text: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t in SYSTEM_FIELDS and i + 2 < len(tokens) and tokens[i + 1] in ("eq", "equal"):
            fields[t] = tokens[i + 2]
            i += 3
            continue
        text.append(t.lower())
        i += 1
    return [
        e for e in events
        if all(str(e.get(k, "")) == v for k, v in fields.items())
        and all(w in str(e.get("description", "")).lower() for w in text)
    ]


def render_events(events: list[dict[str, Any]]) -> str:
    head = f"{'Time':<20}{'Severity':<14}{'Subtype':<9}{'Object':<17}{'EventID':<25}Description"
    lines = [head, "=" * len(head)]
    for e in sorted(events, key=lambda e: e.get("time", 0), reverse=True):
        when = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(float(e.get("time", 0))))
        lines.append(f"{when:<20}{str(e.get('severity', '')):<14}{str(e.get('subtype', '')):<9}"
                     f"{str(e.get('object', '')):<17}{str(e.get('eventid', '')):<25}{e.get('description', '')}")
    return "\n".join(lines) + "\n"
