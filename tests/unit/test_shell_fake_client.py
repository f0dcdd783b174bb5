"""A test double of vpnsh.control.client.Client for the shell's unit tests.

It answers the config ops of docs/control-protocol.md from an in-memory
candidate built with the real (pure) vpnsh.config.tree functions, records
every request, and can be told to fail an op with a given kind.
"""

from __future__ import annotations

import json
from typing import Any

from vpnsh.config import formats, tree
from vpnsh.config.factory import factory_config
from vpnsh.control.protocol import ControlError


class FakeClient:
    def __init__(self, hostname: str = "fw1") -> None:
        self.hostname = hostname
        self.candidate: dict[str, Any] = factory_config()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, tuple[str, str]] = {}  # op -> (message, kind)
        self.results: dict[str, Any] = {}  # op -> canned result
        self.jobs = 0

    def fail(self, op: str, message: str, kind: str) -> None:
        self.failures[op] = (message, kind)

    def ops(self) -> list[str]:
        return [op for op, _ in self.requests]

    def request(self, op: str, **args: Any) -> Any:
        self.requests.append((op, args))
        if op in self.failures:
            message, kind = self.failures[op]
            raise ControlError(message, kind)
        if op in self.results:
            return self.results[op]
        try:
            return self._answer(op, args)
        except tree.ConfigError as exc:
            raise ControlError(str(exc), "syntax") from None

    def _answer(self, op: str, args: dict[str, Any]) -> Any:
        if op == "system.info":
            return {"hostname": self.hostname, "uptime": "0 days, 0:00:01"}
        if op == "config.set":
            tree.set_path(self.candidate, args["tokens"], encrypt=lambda p: "-AQ==fake")
            return {}
        if op == "config.delete":
            tree.delete_path(self.candidate, args["tokens"])
            return {}
        if op == "config.rename":
            tree.rename_entry(self.candidate, args["tokens"], args["new"])
            return {}
        if op == "config.move":
            tree.move_entry(self.candidate, args["tokens"], args["where"], args.get("ref"))
            return {}
        if op == "config.show":
            text = formats.render(self.candidate, args.get("format", "default"),
                                  tuple(args.get("path", [])))
            return {"text": text}
        if op == "config.commit":
            self.jobs += 1
            return {"job": self.jobs, "lines": [
                f"Commit job {self.jobs} is in progress. Use Ctrl+C to return to command prompt",
                "...........98%..............100%",
                "Configuration committed successfully",
            ]}
        if op == "jobs.show":
            return {"jobs": [{"id": 1, "type": "Commit", "status": "FIN", "result": "OK",
                              "enqueued": 0, "completed": 0}]}
        if op == "engine.op":
            return {"op": args["name"], "args": args["args"], "flows": [], "sas": [],
                    "ikev1_p1": [], "ikev1_p2": [], "ikev2": [], "ikev2_children": []}
        raise ControlError(f"unknown op {op!r}", "server")

    def tree_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.candidate))
