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
import contextlib
import dataclasses
import inspect
import json
import logging
import marshal
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import vpnsh
from vpnsh.config import cow, formats, redact, tree, validate
from vpnsh.config import diff as config_diff
from vpnsh.config.factory import factory_config
from vpnsh.config.secrets import SecretBox
from vpnsh.config.store import ConfigStore, write_atomic
from vpnsh.config.vpn_schema import GATEWAYS, MAX_ROLLBACK_VERSION
from vpnsh.control import connection, roles
from vpnsh.control.protocol import SERVER, SYNTAX, VALIDATION, ControlError
from vpnsh.engine import gcpolicy, logfiles
from vpnsh.engine.changes import LockError, Locks, Step, replay, xpath_tokens
from vpnsh.engine.firewall.manager import FirewallError
from vpnsh.engine.joblog import JobLog, SystemLog, filter_events, render_events
from vpnsh.engine.netif import AddressApplier
from vpnsh.engine.service import Engine, EngineError
from vpnsh.render import system as system_text

log = logging.getLogger("vpnshd.config")

CANDIDATE_FILE = "candidate.json"  # as ConfigStore.save_candidate writes it
RUNNING_FILE = "running.json"
STEPS_FILE = "candidate-changes.json"  # who changed what in the candidate (secrets encrypted)
FLUSH_DELAY = 0.2  # seconds between a change and the candidate reaching disk
LARGE_COMMIT = 64  # objects a commit touches for its freed memory to be given back at once
COMPACT_IDLE = 30.0  # seconds without a commit before the store writes the running config whole
FORMATS = ("default", "set", "xml", "json")
SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
LOG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
LOG_READ_LINES = 2000
WIRESHARK_DIR = "wireshark"  # debug ike wireshark-keys on: key tables for Wireshark (engine/wireshark_keys.py)
DEBUG_PCAP = "ikemgr.pcap"  # debug ike pcap on: IKE datagrams, written by the engine (engine/ike_pcap.py)
SECRET_MARK = '"-AQ=='  # an encrypted secret as it appears in a JSON dump of a tree



def redact_tokens(tokens: Sequence[str]) -> list[str]:
    """Tokens with every clear secret value masked, as the schema's Secret leaves say."""
    return redact.mask_tokens(tokens)


def secrets_in(tokens: Sequence[str]) -> list[str]:
    return redact.secret_values(tokens)


def redact_request(op: str, args: dict[str, Any]) -> str:
    """A log line for a request, with no secret in clear."""
    tokens = args.get("tokens")
    if isinstance(tokens, list):
        return f"{op} {' '.join(redact_tokens(tokens))}"
    return op


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, redact.MASK)
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
        self._compact_handle: asyncio.TimerHandle | None = None
        self._flush_delay = FLUSH_DELAY
        self._dirty = False
        self.steps: list[Step] = []  # the candidate's edits since running, in order (changes.py)
        self.locks = Locks()
        # running's gateways by peer address, for validation; made at the first commit or
        # validate that needs it, moved along by each commit (_commit_job)
        self._peers: validate.PeerIndex | None = None

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
        self.steps = [] if self._shared else self._load_steps()
        self._check_master_key()
        self._reconcile_host()
        initial = config_diff.diff({}, self.running)
        firewall = getattr(self.engine, "firewall", None)
        if firewall is not None:
            try:
                firewall.apply(self.running)
            except Exception:  # noqa: BLE001 - serve anyway: the shell can show and fix the config
                log.exception("the firewall could not apply the stored running config")
        try:
            for problem in self.engine.apply(self.running, initial) or ():
                log.error("running config: %s: not applied", problem)
        except Exception:  # noqa: BLE001 - serve anyway: the shell can show and fix the config
            log.exception("the engine could not apply the stored running config")

    def _reconcile_host(self) -> None:
        """At start the host is made to match the running config, as a commit would make it:
        after a reboot, a kill -9 (even between removing an old address and adding the new
        one) or someone's ``ip addr del``, the ethernet addresses are back without a commit.
        TUN/XFRM interfaces, routes and kernel policies follow from the engine's first apply."""
        if self.addresses is None:
            return
        try:
            for warning in self.addresses.apply(self.running):
                log.warning("start: %s", warning.removeprefix("Warning: "))
        except Exception:  # noqa: BLE001 - serve anyway: the shell can show and fix the config
            log.exception("start: interface addresses of the running config not applied")

    def _check_master_key(self) -> None:
        """A running config with encrypted secrets and no master key: say so loudly. Those
        gateways stay down with the reason in the log and ``show log system``; no new key is
        made to decrypt them (one is made only when a key is next entered in clear)."""
        if self.box.exists() or SECRET_MARK not in json.dumps(self.running):
            return
        text = (f"the master key {self.box.path} is missing: the encrypted pre-shared keys of the "
                "running config cannot be decrypted; gateways using them stay down until their "
                "keys are entered in clear again and committed")
        log.error("%s", text)
        self.system_log.event("master-key", text, severity="critical")

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
            # bulk edits (issue 17): a whole set-format script in one request
            "config.apply": self.apply_lines,
            "config.history": self.history,
            "system.info": self.system_info,
            "jobs.show": self.jobs_show,
            "log.system": self.log_system,
            "log.read": self.log_read,
            "engine.op": self.engine_op,
            "debug.ike": self.debug_ike,
            "debug.show": self.debug_show,
            # admins, locks and per-admin changes (issue 13)
            "session.hello": self.session_hello,
            "admins.show": self.admins_show,
            "lock.add": self.lock_add,
            "lock.remove": self.lock_remove,
            "lock.show": self.lock_show,
            "config.changes": self.config_changes,
            # config versions (issue 13)
            "config.saved": self.saved_show,
            "config.version": self.version_show,
            "config.load_partial": self.load_partial,
        }

    # ------------------------------------------------------------------ candidate edits

    def _edit(self, fn: Callable[..., Any], *args: Any, secrets: Sequence[str] = (),
              step: Step | None = None, writes: Sequence[Sequence[str]] | None = None,
              **kw: Any) -> dict[str, Any]:
        """Edit the candidate with ``fn(candidate, *args, **kw)``. ``writes``: the tree paths
        ``fn`` writes under (copy on write, see :mod:`vpnsh.config.cow`: only those are copied
        from running); None: it may write anywhere, the candidate gets a deep copy."""
        self._check_lock(edit=True)
        try:
            if writes is None:
                self.candidate = _copy(self.running if self._shared else self.candidate)
            elif self._shared:
                self.candidate = dict(self.running)
            self._shared = False
            for path in writes or ():
                cow.unshare(self.candidate, self.running, path)
            result = fn(self.candidate, *args, **kw)
        except (tree.ConfigError, ValueError, KeyError) as exc:
            raise _config_error(exc, secrets) from None
        if isinstance(result, dict):  # a library that returns a new tree rather than editing
            self.candidate = result
        if step is not None:
            self.steps.append(step)
        self._touch()
        return {}

    def _step(self, verb: str, tokens: list[str], **extra: Any) -> Step:
        """A record of this edit by the asking admin; secrets in it only encrypted."""
        conn = connection.current()
        stored = list(tokens)
        for i, (t, r) in enumerate(zip(tokens, redact_tokens(tokens), strict=True)):
            if r == redact.MASK and t != redact.MASK:
                stored[i] = self.box.encrypt(t)
        action = verb
        if verb == "set":
            action = "edit" if self._exists(self.running, tokens) else "add"
        elif verb in ("rename", "move", "load"):
            action = "edit"
        return Step(connection.admin_name(), conn.id, verb, stored, extra, action=action)

    @staticmethod
    def _exists(tree_: dict[str, Any], tokens: list[str]) -> bool:
        try:
            tree.get_path(tree_, tokens)
        except (tree.ConfigError, ValueError, KeyError):
            return False
        return True

    def _apply_step(self, tree_: dict[str, Any], step: Step) -> Any:
        if step.verb == "set":
            return tree.set_path(tree_, step.tokens, encrypt=self.box.encrypt)
        if step.verb == "delete":
            return tree.delete_path(tree_, step.tokens)
        if step.verb == "rename":
            return tree.rename_entry(tree_, step.tokens, step.extra["new"])
        if step.verb == "move":
            return tree.move_entry(tree_, step.tokens, step.extra["where"], step.extra.get("ref"))
        if step.verb == "load":
            return _copy(step.extra["tree"])
        raise ValueError(f"unknown step {step.verb}")

    def _replayed(self, steps: list[Step]) -> tuple[dict[str, Any], list[Step], list[str]]:
        return replay(_copy(self.running), steps, self._apply_step)

    def _check_lock(self, edit: bool = False, commit: bool = False) -> None:
        admin = connection.admin_name()
        try:
            if commit:
                self.locks.check_commit(admin)
            elif edit:
                self.locks.check_edit(admin)
        except LockError as exc:
            raise ControlError(str(exc), SERVER) from None

    def set(self, tokens: list[str]) -> dict[str, Any]:
        tokens = _tokens(tokens)
        secrets = secrets_in(tokens)
        redact.KNOWN.remember(secrets)  # the log filter scrubs them from any line
        if log.isEnabledFor(logging.DEBUG):
            log.debug("set %s", " ".join(redact_tokens(tokens)))
        self._check_lock(edit=True)
        try:
            changes = tree.set_changes(tokens, encrypt=self.box.encrypt)
        except (tree.ConfigError, ValueError, KeyError) as exc:
            raise _config_error(exc, secrets) from None
        return self._edit(_apply_changes, changes, secrets=secrets, step=self._step("set", tokens),
                          writes=[c.path for c in changes])

    def delete(self, tokens: list[str]) -> dict[str, Any]:
        tokens = _tokens(tokens)
        step = self._step("delete", tokens)
        step.action = "delete"
        return self._edit(tree.delete_path, tokens, step=step, writes=[tokens])

    def rename(self, tokens: list[str], new: str) -> dict[str, Any]:
        tokens = _tokens(tokens)
        return self._edit(tree.rename_entry, tokens, str(new),
                          step=self._step("rename", tokens, new=str(new)))

    def move(self, tokens: list[str], where: str, ref: str | None = None) -> dict[str, Any]:
        if where not in ("top", "bottom", "before", "after"):
            raise ControlError(f"move: where must be top, bottom, before or after, not {where!r}", SYNTAX)
        if where in ("before", "after") and not ref:
            raise ControlError(f"move {where} needs the name of another entry", SYNTAX)
        tokens = _tokens(tokens)
        return self._edit(tree.move_entry, tokens, where, ref,
                          step=self._step("move", tokens, where=where, ref=ref), writes=[tokens[:-1]])

    def revert(self, admins: list[str] | None = None, session: bool = False) -> dict[str, Any]:
        """``revert config``: the whole candidate back to running; with ``admins``
        (``revert config partial admin [ a b ]``) only their changes; with ``session`` only
        the changes made through this control connection (a failed script's)."""
        if admins is None and not session:
            self._check_lock(edit=True)
            self.candidate, self._shared = self.running, True
            self.steps = []
            self._forget_candidate_file()
            return {"lines": ["Candidate configuration reverted to running configuration"]}
        conn = connection.current()
        if session:
            drop = [s for s in self.steps if s.session == conn.id]
        else:
            drop = [s for s in self.steps if s.admin in (admins or [])]
        if drop and not session:
            self._check_lock(edit=True)
        keep = [s for s in self.steps if s not in drop]
        self._set_candidate(keep)
        who = "this session" if session else ", ".join(admins or [])
        return {"reverted": len(drop), "lines": [f"Reverted {len(drop)} change(s) by {who}"]}

    def _set_candidate(self, steps: list[Step]) -> list[str]:
        """The candidate as running plus ``steps``; the steps that no longer apply are dropped
        (their lines returned)."""
        if not steps:
            self.candidate, self._shared, self.steps = self.running, True, []
            self._forget_candidate_file()
            return []
        self.candidate, self.steps, dropped = self._replayed(steps)
        self._shared = False
        self._touch()
        return dropped

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

    def _problems(self, tree_: dict[str, Any] | None = None) -> list[str]:
        """The validation problems of the candidate (or of ``tree_``, a partial commit's)."""
        # running was valid when committed: subtrees equal to it skip the per-value checks
        return [str(p) for p in validate.validate(self.candidate if tree_ is None else tree_,
                                                  running=self.running,
                                                  decryptable=self.box.can_decrypt,
                                                  peers=self._running_peers())]

    def _running_peers(self) -> validate.PeerIndex:
        """The peer index of running's gateways (made now if running has another)."""
        self._peers = validate.peer_index(self.running, self._peers)
        return self._peers

    def validate(self, admins: list[str] | None = None) -> dict[str, Any]:
        """``validate full``: a Validate job; on problems a ``validation`` error whose text
        names the job (``Validate job enqueued with jobid N``) and lists the problems.
        ``admins`` (``validate partial admin [ a b ]``): running plus only their changes."""
        job = self.jobs.start("Validate", user=connection.admin_name(""))
        if admins is None:
            problems = self._problems()
        else:
            mine = [s for s in self.steps if s.admin in admins]
            target = self._replayed(mine)[0] if mine else self.running
            problems = self._problems(target)
        head = system_text.validate_enqueued(job.id)
        if problems:
            self.jobs.done(job, False, [*problems, "Validation failed"])
            raise ControlError(head + system_text.validation_error(problems).rstrip("\n"),
                               VALIDATION)
        self.jobs.done(job, True, ["Configuration is valid"])
        return {"job": job.id, "result": "OK", "lines": [head.rstrip("\n"), "Configuration is valid"]}

    def commit(self, description: str = "", force: bool = False,
               admins: list[str] | None = None) -> dict[str, Any]:
        """A Commit job.  Success: its lines as PAN-OS prints them.  Failure: a ``validation``
        error whose text is the job, its progress, ``Validation Error:`` with the problems and
        ``Commit failed`` (what netmiko's ``commit()`` raises with); the running config is
        untouched and the job is recorded as FAIL with the problems as details.

        ``admins`` (``commit partial admin [ a b ]``): commit running plus only their changes;
        everyone else's stay in the candidate."""
        t0 = time.perf_counter()
        self._check_lock(commit=True)
        admin = connection.admin_name()
        rest: list[Step] = []
        target = self.candidate
        if admins is not None:
            mine = [s for s in self.steps if s.admin in admins]
            rest = [s for s in self.steps if s.admin not in admins]
            target = self._replayed(mine)[0] if mine else self.running
        changed = self._changed() if admins is None else target != self.running
        if not force and not changed:
            return {"job": None, "lines": [system_text.NO_CHANGES]}
        job = self.jobs.start("Commit", description, user=connection.admin_name(""))
        if len(self.steps) < LARGE_COMMIT and all(s.verb != "load" for s in self.steps):
            # a small commit: no full collection in it (a large one, or a load, may well
            # have one, and free the garbage its edits made: a 160,000-line bulk load left
            # ~20 MB of it)
            gcpolicy.hold()
        try:
            return self._commit_job(job, target, rest, admin, description, t0)
        except ControlError:
            raise
        except Exception as exc:  # an internal failure still ends its job, as FAIL
            log.exception("commit job %d failed", job.id)
            self.jobs.done(job, False, [f"internal error: {exc}", system_text.COMMIT_FAILED])
            raise

    def _commit_job(self, job: Any, target: dict[str, Any], rest: list[Step], admin: str,
                    description: str, t0: float) -> dict[str, Any]:
        # validation, the diff and the store's delta ask which entries of running's large
        # dicts the candidate replaced: answered once (nothing edits the trees meanwhile)
        with cow.remembering():
            problems = self._problems(target)
            if problems:
                self.jobs.done(job, False, [*problems, system_text.COMMIT_FAILED])
                self.system_log.event("commit", f"Commit job {job.id} failed: {len(problems)} validation error(s)",
                                      severity="medium")
                log.info("commit job %d failed validation with %d problem(s)", job.id, len(problems))
                raise ControlError(system_text.commit_failed(job.id, problems).rstrip("\n"), VALIDATION)
            firewall = getattr(self.engine, "firewall", None)
            if firewall is not None:
                # zones and rules go into the kernel first: refused, the commit fails whole
                try:
                    firewall.apply(target)
                except FirewallError as exc:
                    self.jobs.done(job, False, [str(exc), system_text.COMMIT_FAILED])
                    self.system_log.event("commit", f"Commit job {job.id} failed: {exc}",
                                          severity="medium")
                    raise ControlError(system_text.commit_failed(job.id, [str(exc)]).rstrip("\n"),
                                       VALIDATION) from None
            t1 = time.perf_counter()
            changes = config_diff.diff(self.running, target)
            t2 = time.perf_counter()
            self.store.commit(target, description, keep=self._history_versions())
            peers = self._running_peers()
            old_gateways, new_gateways = (tree.entries_at(t, GATEWAYS) for t in (self.running, target))
            if new_gateways is not old_gateways:  # the entries validation found moved (remembered)
                peers = peers.follow(new_gateways, cow.moved(old_gateways, new_gateways))
        t3 = time.perf_counter()
        self._compact_later()
        self.running, self._shared, self._peers = target, True, peers
        self._forget_candidate_file()
        self.steps = []
        dropped = self._set_candidate(rest) if rest else []
        self.locks.released_by_commit(admin)
        warnings: list[str] = []
        if self.addresses is not None:
            try:
                warnings += self.addresses.apply(self.running)
            except Exception as exc:  # noqa: BLE001 - config is committed; say what failed
                log.exception("applying interface addresses failed")
                warnings.append(f"Warning: interface addresses not applied: {exc}")
        t4 = time.perf_counter()
        try:
            # per object: a gateway or tunnel that cannot be applied is named, the rest applied
            warnings += [f"Warning: {w}" for w in self.engine.apply(self.running, changes) or ()]
        except Exception as exc:  # noqa: BLE001
            log.exception("engine.apply failed for commit job %d", job.id)
            warnings.append(f"Warning: the engine could not apply every change: {exc}")
        t5 = time.perf_counter()
        warnings += [f"Warning: a change no longer applies and was dropped: {d}" for d in dropped]
        # the new running tree and policies are long-lived; a large commit freed much
        gcpolicy.settle(release=_objects_touched(changes) >= LARGE_COMMIT)
        self.jobs.done(job, True, [system_text.COMMIT_OK], warnings)
        self.system_log.event("commit", f"Commit job {job.id} succeeded" + (f": {description}" if description else ""))
        log.info(
            "commit job %d ok: validate %.0f ms, diff %.0f ms, store %.0f ms, netif %.0f ms, engine %.0f ms",
            job.id, *(1000 * x for x in (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)),
        )
        return {"job": job.id, "result": "OK", "lines": system_text.commit_lines(job.id, warnings),
                "warnings": warnings}

    def _history_versions(self) -> int:
        """``deviceconfig setting management max-rollback-version`` of the candidate (100)."""
        value = tree.effective(self.candidate, MAX_ROLLBACK_VERSION)
        return int(value) if value else 100

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

    def _source(self, name: str | None = None, version: int | None = None,
                last_saved: bool = False) -> tuple[dict[str, Any], str]:
        """A stored config: a saved snapshot, a committed version, the last saved snapshot."""
        if version is not None:
            try:
                return self.store.version(int(version)), f"version {int(version)}"
            except (KeyError, ValueError):
                raise ControlError(f"Version {version} does not exist", SERVER) from None
        if last_saved:
            saved = self.store.saved_dir
            files = sorted(saved.glob("*.json"), key=lambda p: p.stat().st_mtime) \
                if saved.is_dir() else []
            if not files:
                raise ControlError("No saved configuration (save config to NAME first)", SERVER)
            name = files[-1].stem
        if name is None:
            return self.running, "running config"
        try:
            return self.store.load_named(self._snapshot_name(name)), name
        except FileNotFoundError:
            raise ControlError(f"{name} does not exist", SERVER) from None

    def saved_show(self, name: str, format: str = "default") -> dict[str, Any]:
        """``show config saved NAME``: a snapshot saved with ``save config to NAME``."""
        loaded, _ = self._source(name=name)
        return {"text": formats.render(loaded, self._format(format))}

    def version_show(self, n: int, format: str = "default") -> dict[str, Any]:
        """``show config audit version N``: the config commit N made."""
        loaded, _ = self._source(version=n)
        return {"text": formats.render(loaded, self._format(format))}

    def load(self, name: str | None = None, text: str | None = None, format: str = "json",
             version: int | None = None, last_saved: bool = False) -> dict[str, Any]:
        """Replace the candidate: from a snapshot saved with ``save``, a committed version
        (``load config version N``), the last saved snapshot, or from text."""
        if sum((name is not None, text is not None, version is not None, bool(last_saved))) != 1:
            raise ControlError("config.load takes one of name, text, version, last_saved", SERVER)
        if text is None:
            loaded, source = self._source(name, version, last_saved)
            loaded = _copy(loaded)
        else:
            try:
                loaded = formats.parse(str(text), self._format(format), encrypt=self.box.encrypt)
            except (tree.ConfigError, ValueError, KeyError) as exc:
                raise _config_error(exc) from None
            source = f"{format} text"
        self._check_lock(edit=True)
        self.candidate, self._shared = loaded, False
        self.steps.append(self._step("load", [], tree=_copy(loaded)))
        self._touch()
        return {"lines": [f"Config loaded from {source}"]}

    def load_partial(self, from_xpath: str, to_xpath: str, mode: str = "merge",
                     name: str | None = None, version: int | None = None) -> dict[str, Any]:
        """``load config partial [from NAME] from-xpath X to-xpath Y mode merge|replace``: the
        part of a stored config (default: running) at X into the candidate at Y."""
        if mode not in ("merge", "replace"):
            raise ControlError(f"mode must be merge or replace, not {mode!r}", SYNTAX)
        source, label = self._source(name, version)
        try:
            src_path, dst_path = xpath_tokens(from_xpath), xpath_tokens(to_xpath)
            tree.node_at(dst_path)
            tree.node_at(src_path)
        except (ValueError, tree.ConfigError) as exc:
            raise ControlError(f"Server error : {exc}", SERVER) from None
        part = _get_path(source, src_path)
        if part is None:
            raise ControlError(f"Server error : {from_xpath} does not exist in {label}", SERVER)
        self._check_lock(edit=True)
        new = _copy(self.running if self._shared else self.candidate)
        if not dst_path:
            new = _copy(part) if mode == "replace" else _merge(new, _copy(part))
        else:
            parent = new
            for key in dst_path[:-1]:
                parent = parent.setdefault(key, {})
            old = parent.get(dst_path[-1])
            if mode == "merge" and isinstance(old, dict) and isinstance(part, dict):
                parent[dst_path[-1]] = _merge(old, _copy(part))
            else:
                parent[dst_path[-1]] = _copy(part) if isinstance(part, dict) else part
        self.candidate, self._shared = new, False
        self.steps.append(self._step("load", dst_path, tree=_copy(new)))
        self._touch()
        return {"lines": [f"Config loaded from {label} ({mode} {from_xpath} -> {to_xpath})"]}

    # ------------------------------------------------------------------ admins, locks, changes

    def session_hello(self, admin: str, client: str = "CLI", peer: str = "local") -> dict[str, Any]:
        """A client says what it is (shell, script, SSH) and from where, for ``show admins``.

        The connection's admin is the one the socket's credentials (or the SSH login) made it
        (vpnsh.control.roles); a superuser connection may name another admin it acts for
        (attribution of locks and changes: a superuser may do all of it anyway)."""
        if not isinstance(admin, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._@-]{0,63}", admin):
            raise ControlError(f"invalid admin name {admin!r}", SYNTAX)
        conn = connection.current()
        who = roles.current.get()
        if who is None or who.role == roles.SUPERUSER:
            conn.admin = admin
        conn.client, conn.peer, conn.said_hello = str(client)[:8], str(peer)[:64], True
        return {"session": conn.id, "admin": conn.admin}

    def admins_show(self) -> dict[str, Any]:
        """``show admins``: the admins with a control connection (a shell, a script, SSH)."""
        rows = [{"admin": c.admin, "from": c.peer, "client": c.client, "session": c.id,
                 "started": c.started, "last": c.last}
                for c in sorted(connection.OPEN.values(), key=lambda c: c.started) if c.said_hello]
        return {"admins": rows}

    def lock_add(self, kind: str, comment: str = "") -> dict[str, Any]:
        admin = connection.admin_name()
        try:
            self.locks.add(self._lock_kind(kind), admin, str(comment))
        except LockError as exc:
            raise ControlError(str(exc), SERVER) from None
        self.system_log.event("lock", f"{kind} lock taken by {admin}")
        return {"lines": [f"Successfully acquired {kind} lock"]}

    def lock_remove(self, kind: str, admin: str | None = None) -> dict[str, Any]:
        me = connection.admin_name()
        try:
            self.locks.remove(self._lock_kind(kind), me, admin)
        except LockError as exc:
            raise ControlError(str(exc), SERVER) from None
        return {"lines": [f"Successfully released {kind} lock"]}

    def lock_show(self, kind: str) -> dict[str, Any]:
        return {"locks": self.locks.as_data(self._lock_kind(kind))}

    @staticmethod
    def _lock_kind(kind: str) -> str:
        if kind not in ("config", "commit"):
            raise ControlError(f"lock kind must be config or commit, not {kind!r}", SYNTAX)
        return kind

    def config_changes(self, admin: str | None = None) -> dict[str, Any]:
        """``show config list changes``: the candidate's changes, oldest first."""
        rows = [{"admin": s.admin, "action": s.action, "xpath": s.xpath(), "time": s.time,
                 "session": s.session} for s in self.steps if admin in (None, s.admin)]
        return {"changes": rows}

    def apply_lines(self, text: str, first_line: int = 1) -> dict[str, Any]:
        """``set`` and ``delete`` lines (absolute paths, set format as ``show config ...
        format set`` writes it) applied to the candidate as one edit: all or none. The bulk
        path of ``vpnsh -f FILE --bulk``: 170,000 lines in one request take seconds where
        one request a line takes minutes. A bad line is named by number (counted from
        ``first_line``, the script's number of the text's first line) and changes nothing."""
        if not isinstance(text, str):
            raise ControlError("config.apply takes a text", SERVER)
        self._check_lock(edit=True)
        work = _copy(self.running if self._shared else self.candidate)
        count = 0
        encrypt = self.box.encrypt
        for number, line in enumerate(text.splitlines(), int(first_line)):
            words = list(formats.tokenize(line))
            if not words or words[0].startswith("#"):
                continue
            verb, path = words[0], words[1:]
            secrets: list[str] = []
            try:
                if verb == "set":
                    secrets = secrets_in(path)
                    if secrets:
                        redact.KNOWN.remember(secrets)
                    tree.set_path(work, path, encrypt=encrypt)
                elif verb == "delete":
                    tree.delete_path(work, path)
                else:
                    raise ControlError(f"line {number}: '{verb}' is unexpected "
                                       "(only set and delete lines are applied in bulk)", SYNTAX)
            except (tree.ConfigError, ValueError, KeyError) as exc:
                err = _config_error(exc, secrets)
                raise ControlError(f"line {number}: {err.message} (nothing applied)", err.kind) from None
            count += 1
        self.candidate, self._shared = work, False
        # one change record, as `load config` makes: the asking admin's, for commit partial
        self.steps.append(self._step("load", [], tree=_copy(work)))
        self._touch()
        return {"lines": [f"{count} set/delete lines applied to the candidate"], "count": count}

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
                raise ControlError(f"Job {id} not found", SERVER)
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
        try:  # across rotation: the rotated files (FILE.1 ...) lead up to the current one
            tail = logfiles.tail_lines(path, int(lines))
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
            result = self.engine.op(name, dict(args or {}))
        except EngineError as exc:
            raise ControlError(str(exc), SERVER) from None
        if inspect.isawaitable(result):
            return _engine_errors(result)
        return result

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
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.state_dir, STEPS_FILE))

    def _load_steps(self) -> list[Step]:
        """Who changed what in the stored candidate (lost with an unreadable file: the
        candidate itself stays)."""
        try:
            with open(os.path.join(self.state_dir, STEPS_FILE), encoding="utf-8") as f:
                return [Step(**s) for s in json.load(f)]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError) as exc:
            log.warning("candidate change record unreadable (%s); changes are not attributed", exc)
            return []

    def _compact_later(self) -> None:
        """The commits journaled since the last snapshot are written whole once no commit
        came for :data:`COMPACT_IDLE` seconds (and when the daemon stops, :meth:`close`)."""
        if self._compact_handle is not None:
            self._compact_handle.cancel()
            self._compact_handle = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._compact_handle = loop.call_later(COMPACT_IDLE, self._compact)

    def _compact(self) -> None:
        self._compact_handle = None
        if not self.store.pending():
            return
        t0 = time.perf_counter()
        try:
            self.store.compact()
        except OSError as exc:  # the journal still holds every commit: try again later
            log.error("writing the running config whole failed: %s", exc)
            return
        log.info("running config written whole (%d ms)", 1000 * (time.perf_counter() - t0))

    def close(self) -> None:
        """At stop: the candidate to disk, the running config written whole."""
        self.flush()
        if self._compact_handle is not None:
            self._compact_handle.cancel()
        self._compact()

    def flush(self) -> None:
        """Write the candidate to disk if it changed (atomic: temp file, fsync, rename)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._dirty:
            return
        t0 = time.perf_counter()
        self.store.save_candidate(self.candidate, self.running)  # what differs from running
        steps = json.dumps([dataclasses.asdict(s) for s in self.steps], separators=(",", ":"))
        write_atomic(Path(self.state_dir) / STEPS_FILE, steps.encode())
        self._dirty = False
        # Large candidates: write less often, so a script of many sets is not slowed down.
        self._flush_delay = max(FLUSH_DELAY, 10 * (time.perf_counter() - t0))


def _objects_touched(changes: config_diff.ConfigDiff) -> int:
    """Named objects a commit added, changed or removed (a change elsewhere counts one)."""
    return int(changes.other) + sum(len(c.added) + len(c.changed) + len(c.removed)
                                    for c in vars(changes).values()
                                    if isinstance(c, config_diff.Changes))


def _apply_changes(tree_: dict[str, Any], changes: Sequence[tree.Assign]) -> None:
    for change in changes:
        tree.apply(tree_, change)


def _get_path(node: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _merge(base: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """``part`` merged into ``base``: dicts merged key by key, lists joined without repeats,
    anything else from ``part``."""
    for key, value in part.items():
        old = base.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            base[key] = _merge(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            base[key] = old + [v for v in value if v not in old]
        else:
            base[key] = value
    return base


async def _engine_errors(pending: Awaitable[Any]) -> Any:
    """An async engine op's result; its EngineError as the ControlError the shell prints."""
    try:
        return await pending
    except EngineError as exc:
        raise ControlError(str(exc), SERVER) from None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: getattr(o, "__dict__", str(o))))
