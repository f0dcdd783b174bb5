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

    def finish(self, ok: bool, details: list[str] | None = None) -> None:
        self.completed = time.time()
        self.status = "FIN"
        self.result = "OK" if ok else "FAIL"
        self.details = list(details or [])


class JobLog:
    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, JOBS_FILE)
        self.last_id = 0
        self.jobs: list[Job] = []
        self._load()

    def start(self, type_: str, description: str = "") -> Job:
        self.last_id += 1
        job = Job(self.last_id, type_, time.time(), description=description)
        self.jobs.append(job)
        del self.jobs[:-KEEP]
        return job

    def done(self, job: Job, ok: bool, details: list[str] | None = None) -> None:
        job.finish(ok, details)
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
            self.jobs = [Job(**j) for j in data.get("jobs", [])]
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
