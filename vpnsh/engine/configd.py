"""The config service: candidate, running config, commit, and the ops that reach them.

One candidate lives in the daemon, shared by every client; it is kept in
``<state_dir>/candidate.json`` (written shortly after each change and at
shutdown) so it outlives the shell session and a daemon restart.  Running
config and its numbered history belong to :class:`vpnsh.config.store.ConfigStore`.

Commit: validate the whole candidate; on any problem fail with kind
``validation`` and touch nothing.  Else diff, store atomically, apply ethernet
addresses, hand the engine the running tree and the diff, and answer with the
job id and PAN-OS's commit lines.

The running tree handed to ``engine.apply`` is shared with the service (and,
until the next edit, with the candidate): the engine must not modify it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import marshal
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import vpnsh
from vpnsh.config import diff as config_diff
from vpnsh.config import formats, tree, validate
from vpnsh.config.factory import factory_config
from vpnsh.config.secrets import SecretBox
from vpnsh.config.store import ConfigStore, write_atomic
from vpnsh.control.protocol import SERVER, SYNTAX, VALIDATION, ControlError
from vpnsh.engine.firewall.manager import FirewallError
from vpnsh.engine.joblog import JobLog, SystemLog, filter_events, render_events
from vpnsh.engine.netif import AddressApplier
from vpnsh.engine.service import Engine, EngineError

log = logging.getLogger("vpnshd.config")

CANDIDATE_FILE = "candidate.json"  # as ConfigStore.save_candidate writes it
RUNNING_FILE = "running.json"
FLUSH_DELAY = 0.2  # seconds between a change and the candidate reaching disk
FORMATS = ("default", "set", "xml", "json")
SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
LOG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
LOG_READ_LINES = 2000
WIRESHARK_DIR = "wireshark"  # debug ike wireshark-keys on: key tables for Wireshark (engine/wireshark_keys.py)
DEBUG_PCAP = "ikemgr.pcap"  # debug ike pcap on: IKE datagrams, written by the engine (engine/ike_pcap.py)
SECRET_KEYWORDS = ("key",)  # the token after one of these is a secret
MASK = "******"

COMMIT_LINES = (
    "Commit job {job} is in progress. Use Ctrl+C to return to command prompt",
    "...........98%..............100%",
)
COMMIT_OK = "Configuration committed successfully"


def redact_tokens(tokens: Sequence[str]) -> list[str]:
    """Tokens with every secret value masked (encrypted ones are left as they are)."""
    out = list(map(str, tokens))
    for i in range(1, len(out)):
        if out[i - 1] in SECRET_KEYWORDS and not out[i].startswith("-AQ=="):
            out[i] = MASK
    return out


def secrets_in(tokens: Sequence[str]) -> list[str]:
    return [t for t, r in zip(map(str, tokens), redact_tokens(tokens), strict=True) if r == MASK and t != MASK]


def redact_request(op: str, args: dict[str, Any]) -> str:
    """A log line for a request, with no secret in clear."""
    tokens = args.get("tokens")
    if isinstance(tokens, list):
        return f"{op} {' '.join(redact_tokens(tokens))}"
    return op


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, MASK)
    return text


def uptime_text(seconds: float) -> str:
    """PAN-OS style: ``3 days, 2:04:33``."""
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    return f"{days} days, {hours}:{minutes:02d}:{s:02d}"


def _tokens(tokens: Any) -> list[str]:
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise ControlError("'tokens' must be a list of strings", SERVER)
    return tokens


def _config_error(exc: Exception, secrets: Sequence[str] = ()) -> ControlError:
    """A config library error as a protocol error.

    ``ConfigError`` of kind ``syntax`` (unknown keyword, incomplete path) -> ``syntax``
    (the shell prints ``Invalid syntax.``); a bad value or a missing entry -> ``server``
    (the shell prints ``Server error : <message>``, as PAN-OS does for semantic errors).
    """
    kind = SYNTAX if getattr(exc, "kind", "syntax") == "syntax" else SERVER
    return ControlError(_scrub(str(exc), secrets), kind)


def _copy(tree_: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a config tree (dicts, lists, str, int only).

    marshal is the fastest C round trip for plain data (~25 ms for a
    1,000-tunnel tree, against ~40 ms for JSON and ~10x that for deepcopy);
    it only ever reads bytes this function just wrote.
    """
    copied: dict[str, Any] = marshal.loads(marshal.dumps(tree_))
    return copied


class ConfigStateError(Exception):
    """The state dir holds something the service cannot start from."""


class ConfigService:
    """The ops of the config service, as plain methods (see :meth:`ops`)."""

    def __init__(
        self,
        state_dir: str,
        engine: Engine,
        *,
        hostname: str,
        addresses: AddressApplier | None = None,
        socket_path: str = "",
        dataplane: str = "",
        log_dir: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.engine = engine
        self.hostname = hostname
        self.addresses = addresses
        self.socket_path = socket_path
        self.dataplane = dataplane
        self.started = time.time()
        self.store = ConfigStore(state_dir)
        self.box = SecretBox(state_dir)
        self.jobs = JobLog(state_dir)
        self.system_log = SystemLog()
        self.log_dir = log_dir
        self._candidate_path = os.path.join(state_dir, CANDIDATE_FILE)
        self._flush_handle: asyncio.TimerHandle | None = None
        self._flush_delay = FLUSH_DELAY
        self._dirty = False

        if not os.path.exists(os.path.join(state_dir, RUNNING_FILE)):
            self.store.commit(factory_config(), "factory default")
            log.info("fresh state dir: running config is the factory default")
        try:
            self.running: dict[str, Any] = self.store.running()
        except (OSError, ValueError) as exc:
            raise ConfigStateError(
                f"the running config {os.path.join(state_dir, RUNNING_FILE)} is unreadable ({exc}); "
                f"restore it from {os.path.join(state_dir, 'history')}/N.json (its \"config\" member) "
                "or move it away to start from the factory config"
            ) from None
        # The candidate is the running tree itself (shared, never edited in place)
        # until the first edit after a commit or revert copies it: commit and
        # revert then cost no copy of a large tree.
        self.candidate: dict[str, Any] = self._load_candidate()
        self._shared = self.candidate is self.running
        initial = config_diff.diff({}, self.running)
        firewall = getattr(self.engine, "firewall", None)
        if firewall is not None:
            try:
                firewall.apply(self.running)
            except Exception:  # noqa: BLE001 - serve anyway: the shell can show and fix the config
                log.exception("the firewall could not apply the stored running config")
        try:
            self.engine.apply(self.running, initial)
        except Exception:  # noqa: BLE001 - serve anyway: the shell can show and fix the config
            log.exception("the engine could not apply the stored running config")

    def ops(self) -> dict[str, Callable[..., Any]]:
        return {
            "config.set": self.set,
            "config.delete": self.delete,
            "config.rename": self.rename,
            "config.move": self.move,
            "config.show": self.show,
            "config.diff": self.diff,
            "config.status": self.status,
            "config.validate": self.validate,
            "config.commit": self.commit,
            "config.revert": self.revert,
            "config.save": self.save,
            "config.load": self.load,
            "config.history": self.history,
            "system.info": self.system_info,
            "jobs.show": self.jobs_show,
            "log.system": self.log_system,
            "log.read": self.log_read,
            "engine.op": self.engine_op,
            "debug.ike": self.debug_ike,
            "debug.show": self.debug_show,
        }

    # ------------------------------------------------------------------ candidate edits

    def _edit(self, fn: Callable[..., Any], *args: Any, secrets: Sequence[str] = (), **kw: Any) -> dict[str, Any]:
        try:
            if self._shared:
                self.candidate, self._shared = _copy(self.running), False
            result = fn(self.candidate, *args, **kw)
        except (tree.ConfigError, ValueError, KeyError) as exc:
            raise _config_error(exc, secrets) from None
        if isinstance(result, dict):  # a library that returns a new tree rather than editing
            self.candidate = result
        self._touch()
        return {}

    def set(self, tokens: list[str]) -> dict[str, Any]:
        tokens = _tokens(tokens)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("set %s", " ".join(redact_tokens(tokens)))
        return self._edit(tree.set_path, tokens, encrypt=self.box.encrypt, secrets=secrets_in(tokens))

    def delete(self, tokens: list[str]) -> dict[str, Any]:
        return self._edit(tree.delete_path, _tokens(tokens))

    def rename(self, tokens: list[str], new: str) -> dict[str, Any]:
        return self._edit(tree.rename_entry, _tokens(tokens), str(new))

    def move(self, tokens: list[str], where: str, ref: str | None = None) -> dict[str, Any]:
        if where not in ("top", "bottom", "before", "after"):
            raise ControlError(f"move: where must be top, bottom, before or after, not {where!r}", SYNTAX)
        if where in ("before", "after") and not ref:
            raise ControlError(f"move {where} needs the name of another entry", SYNTAX)
        return self._edit(tree.move_entry, _tokens(tokens), where, ref)

    def revert(self) -> dict[str, Any]:
        self.candidate, self._shared = self.running, True
        self._forget_candidate_file()
        return {"lines": ["Candidate configuration reverted to running configuration"]}

    # ------------------------------------------------------------------ views

    def _tree(self, which: str) -> dict[str, Any]:
        if which == "candidate":
            return self.candidate
        if which == "running":
            return self.running
        raise ControlError(f"which must be candidate or running, not {which!r}", SYNTAX)

    @staticmethod
    def _format(fmt: str) -> str:
        if fmt not in FORMATS:
            raise ControlError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}", SYNTAX)
        return fmt

    def show(self, which: str = "candidate", path: list[str] | None = None, format: str = "default") -> dict[str, Any]:
        fmt = self._format(format)
        try:
            text = formats.render(self._tree(which), fmt, tuple(_tokens(path or [])))
        except (tree.ConfigError, ValueError, KeyError) as exc:
            raise _config_error(exc) from None
        return {"text": text}

    def diff(self, format: str = "set") -> dict[str, Any]:
        fmt = self._format(format)
        return {"text": config_diff.text_diff(self.running, self.candidate, fmt)}

    def status(self) -> dict[str, Any]:
        return {"changed": self._changed(), "commits": len(self.store.history())}

    def history(self) -> dict[str, Any]:
        return {"history": _jsonable(self.store.history())}

    # ------------------------------------------------------------------ validate / commit

    def _problems(self) -> list[str]:
        # running was valid when committed: subtrees equal to it skip the per-value checks
        return [str(p) for p in validate.validate(self.candidate, running=self.running)]

    def validate(self) -> dict[str, Any]:
        job = self.jobs.start("Validate")
        problems = self._problems()
        self.jobs.done(job, not problems, problems)
        if problems:
            raise ControlError("\n".join(["Validation Error:", *problems]), VALIDATION)
        return {"job": job.id, "lines": [f"Validate job enqueued with jobid {job.id}", "Configuration is valid"]}

    def commit(self, description: str = "", force: bool = False) -> dict[str, Any]:
        t0 = time.perf_counter()
        if not force and not self._changed():
            return {"job": None, "lines": ["There are no changes to commit."]}
        job = self.jobs.start("Commit", description)
        problems = self._problems()
        if problems:
            self.jobs.done(job, False, problems)
            self.system_log.event("commit", f"Commit job {job.id} failed: {len(problems)} validation error(s)",
                                  severity="medium")
            log.info("commit job %d failed validation with %d problem(s)", job.id, len(problems))
            raise ControlError("\n".join(["Validation Error:", *problems]), VALIDATION)
        firewall = getattr(self.engine, "firewall", None)
        if firewall is not None:
            # zones and rules go into the kernel first: refused, the commit fails whole
            try:
                firewall.apply(self.candidate)
            except FirewallError as exc:
                self.jobs.done(job, False, [str(exc)])
                self.system_log.event("commit", f"Commit job {job.id} failed: {exc}",
                                      severity="medium")
                raise ControlError(f"Commit failed: {exc}", VALIDATION) from None
        t1 = time.perf_counter()
        changes = config_diff.diff(self.running, self.candidate)
        t2 = time.perf_counter()
        self.store.commit(self.candidate, description)
        t3 = time.perf_counter()
        self.running, self._shared = self.candidate, True
        self._forget_candidate_file()
        warnings: list[str] = []
        if self.addresses is not None:
            try:
                warnings += self.addresses.apply(self.running)
            except Exception as exc:  # noqa: BLE001 - config is committed; say what failed
                log.exception("applying interface addresses failed")
                warnings.append(f"Warning: interface addresses not applied: {exc}")
        t4 = time.perf_counter()
        try:
            self.engine.apply(self.running, changes)
        except Exception as exc:  # noqa: BLE001
            log.exception("engine.apply failed for commit job %d", job.id)
            warnings.append(f"Warning: the engine could not apply every change: {exc}")
        t5 = time.perf_counter()
        self.jobs.done(job, True, warnings)
        self.system_log.event("commit", f"Commit job {job.id} succeeded" + (f": {description}" if description else ""))
        log.info(
            "commit job %d ok: validate %.0f ms, diff %.0f ms, store %.0f ms, netif %.0f ms, engine %.0f ms",
            job.id, *(1000 * x for x in (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)),
        )
        lines = [COMMIT_LINES[0].format(job=job.id), COMMIT_LINES[1], *warnings, COMMIT_OK]
        return {"job": job.id, "lines": lines, "warnings": warnings}

    # ------------------------------------------------------------------ snapshots

    @staticmethod
    def _snapshot_name(name: str) -> str:
        if not isinstance(name, str) or not SNAPSHOT_NAME.fullmatch(name):
            raise ControlError(
                f"invalid snapshot name {name!r}: use letters, digits, '.', '_' and '-'", SYNTAX
            )
        return name

    def save(self, name: str) -> dict[str, Any]:
        self.store.save_named(self._snapshot_name(name), self.candidate)
        return {"lines": [f"Config saved to {name}"]}

    def load(self, name: str | None = None, text: str | None = None, format: str = "json") -> dict[str, Any]:
        """Replace the candidate: from a snapshot saved with ``save``, or from text."""
        if (name is None) == (text is None):
            raise ControlError("config.load takes either a name or a text", SERVER)
        if name is not None:
            try:
                loaded = self.store.load_named(self._snapshot_name(name))
            except FileNotFoundError:
                raise ControlError(f"{name} does not exist", SERVER) from None
            source = name
        else:
            try:
                loaded = formats.parse(str(text), self._format(format), encrypt=self.box.encrypt)
            except (tree.ConfigError, ValueError, KeyError) as exc:
                raise _config_error(exc) from None
            source = f"{format} text"
        self.candidate, self._shared = loaded, False
        self._touch()
        return {"lines": [f"Config loaded from {source}"]}

    # ------------------------------------------------------------------ system, jobs, engine

    def system_info(self) -> dict[str, Any]:
        up = time.time() - self.started
        return {
            "hostname": self.hostname,
            "version": vpnsh.__version__,
            "operational_mode": "normal",
            "uptime": uptime_text(up),
            "uptime_seconds": int(up),
            "pid": os.getpid(),
            "dataplane": self.dataplane,
            "state_dir": self.state_dir,
            "socket": self.socket_path,
        }

    def jobs_show(self, id: int | None = None) -> dict[str, Any]:
        if id is not None:
            job = self.jobs.get(int(id))
            if job is None:
                raise ControlError(f"job {id} not found", SERVER)
            return {"jobs": [j for j in self.jobs.as_data() if j["id"] == job.id]}
        return {"jobs": self.jobs.as_data()}

    def log_system(self, filter: list[str] | None = None) -> dict[str, Any]:
        """``show log system [filter]``: commit events and the engine's VPN events."""
        events = list(self.system_log.events)
        with contextlib.suppress(Exception):
            events += list(getattr(self.engine, "system_events", list)())
        events = filter_events(events, [str(w) for w in (filter or [])])
        return {"text": render_events(events), "events": events}

    def log_read(self, file: str, lines: int = LOG_READ_LINES) -> dict[str, Any]:
        """``less mp-log FILE``: the last lines of a log file in the log dir."""
        if not isinstance(file, str) or not LOG_NAME.fullmatch(file):
            raise ControlError(f"invalid log file name {file!r}", SYNTAX)
        if not self.log_dir:
            raise ControlError("this daemon has no log dir", SERVER)
        path = os.path.join(self.log_dir, file)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                tail = collections.deque(f, maxlen=max(1, int(lines)))
        except FileNotFoundError:
            raise ControlError(f"{file}: no such log file", SERVER) from None
        return {"text": "".join(tail)}

    # ------------------------------------------------------------------ debug settings

    def _debug_state(self) -> dict[str, Any]:
        state = getattr(self, "_debug", None)
        if state is None:
            state = self._debug = {
                "global": "normal", "gateways": {}, "tunnels": {}, "pcap": False,
                "pcap_file": os.path.join(self.log_dir, DEBUG_PCAP) if self.log_dir else None,
                "wireshark_keys": False,
                "wireshark_dir": os.path.join(self.log_dir, WIRESHARK_DIR) if self.log_dir else None,
            }
        return state

    def debug_ike(self, scope: str, level: str | None = None, name: str | None = None,
                  pcap: bool | None = None, keys: bool | None = None) -> dict[str, Any]:
        """``debug ike global|gateway GW|tunnel T on debug|dump`` / ``off``; ``debug ike pcap on|off``.

        Kept here and handed to the engine's ``set_debug(settings)`` when it has one
        (level ``normal`` is off).  Result: the settings (as ``debug.show``)."""
        state = self._debug_state()
        if scope == "pcap":
            self._set_pcap(bool(pcap))
            state["pcap"] = bool(pcap)
        elif scope == "wireshark-keys":
            self._set_key_tables(bool(keys))
            state["wireshark_keys"] = bool(keys)
        elif scope == "global":
            state["global"] = level or "normal"
        elif scope in ("gateway", "tunnel") and name:
            bucket = state[scope + "s"]
            if level and level != "normal":
                bucket[name] = level
            else:
                bucket.pop(name, None)
        else:
            raise ControlError(f"bad debug scope {scope!r}", SYNTAX)
        setter = getattr(self.engine, "set_debug", None)
        if setter is not None:
            try:
                setter(json.loads(json.dumps(state)))
            except Exception as exc:  # noqa: BLE001 - the setting stays; say why it does not act
                log.exception("engine.set_debug failed")
                raise ControlError(f"debug setting not applied: {exc}", SERVER) from None
        log.info("debug ike %s %s", scope, level if scope != "pcap" else ("on" if pcap else "off"))
        return self.debug_show()

    def _set_pcap(self, on: bool) -> None:
        """Open (truncate) or close ``LOG_DIR/ikemgr.pcap`` and hand the writer to the engine's
        ``set_ike_pcap(writer | None)``; the engine calls ``writer.write(data, src, dst)`` for
        each IKE datagram it sends or receives (vpnsh/engine/ike_pcap.py)."""
        from vpnsh.engine.ike_pcap import IkePcap

        old: IkePcap | None = getattr(self, "_pcap", None)
        if on and old is not None:
            return
        setter = getattr(self.engine, "set_ike_pcap", None)
        if on:
            path = self._debug_state()["pcap_file"]
            if not path:
                raise ControlError("this daemon has no log dir for ikemgr.pcap", SERVER)
            try:
                pcap = IkePcap(path)
            except OSError as exc:
                raise ControlError(f"cannot write {path}: {exc.strerror}", SERVER) from None
            self._pcap: IkePcap | None = pcap
            if setter is not None:
                setter(pcap)
        else:
            if setter is not None:
                setter(None)
            if old is not None:
                old.close()
            self._pcap = None

    def _set_key_tables(self, on: bool) -> None:
        """``debug ike wireshark-keys on``: ``LOG_DIR/wireshark/{ikev2_decryption_table,esp_sa}``
        (vpnsh/engine/wireshark_keys.py) handed to the engine's ``set_key_tables(tables | None)``;
        the engine appends each new IKE and CHILD SA's keys.  Off: the engine stops; the files stay
        (delete them: they hold keys)."""
        from vpnsh.engine.wireshark_keys import KeyTables

        setter = getattr(self.engine, "set_key_tables", None)
        if on:
            path = self._debug_state()["wireshark_dir"]
            if not path:
                raise ControlError("this daemon has no log dir for the key tables", SERVER)
            try:
                tables = KeyTables(path)
            except OSError as exc:
                raise ControlError(f"cannot write {path}: {exc.strerror}", SERVER) from None
            if setter is not None:
                setter(tables)
        elif setter is not None:
            setter(None)

    def debug_show(self) -> dict[str, Any]:
        state = self._debug_state()
        pcap = getattr(self, "_pcap", None)
        return {**json.loads(json.dumps(state)),
                "engine_supported": getattr(self.engine, "set_debug", None) is not None,
                "pcap_supported": getattr(self.engine, "set_ike_pcap", None) is not None,
                "keys_supported": getattr(self.engine, "set_key_tables", None) is not None,
                "pcap_packets": pcap.count if pcap is not None else 0}

    def engine_op(self, name: str, args: dict[str, Any] | None = None) -> Any:
        try:
            return self.engine.op(name, dict(args or {}))
        except EngineError as exc:
            raise ControlError(str(exc), SERVER) from None

    # ------------------------------------------------------------------ candidate persistence

    def _changed(self) -> bool:
        return not self._shared and self.candidate != self.running

    def _load_candidate(self) -> dict[str, Any]:
        try:
            data = self.store.load_candidate()
            if isinstance(data, dict):
                return data
        except (OSError, ValueError) as exc:
            log.warning("candidate file %s unreadable (%s); starting from running", self._candidate_path, exc)
        return self.running

    def _touch(self) -> None:
        self._dirty = True
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_handle = loop.call_later(self._flush_delay, self.flush)

    def _forget_candidate_file(self) -> None:
        """The candidate equals running: no file needed (a missing file means "as running")."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._dirty = False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._candidate_path)

    def flush(self) -> None:
        """Write the candidate to disk if it changed (atomic: temp file, fsync, rename)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._dirty:
            return
        t0 = time.perf_counter()
        # Compact JSON: the C encoder (indented output falls back to pure Python, 10x slower).
        data = json.dumps(self.candidate, separators=(",", ":")).encode()
        write_atomic(Path(self._candidate_path), data)
        self._dirty = False
        # Large candidates: write less often, so a script of many sets is not slowed down.
        self._flush_delay = max(FLUSH_DELAY, 10 * (time.perf_counter() - t0))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: getattr(o, "__dict__", str(o))))
