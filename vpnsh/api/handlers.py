"""The request types of the PAN-OS XML API, on top of :class:`vpnsh.api.control.ControlPort`.

``Api.handle(params, header_key)`` takes the decoded query/form parameters and answers
``(http_status, content_type, body)``.  Every reply is PAN-OS's ``<response>`` XML but the
configuration export (the config document itself).  Nothing here edits or reads the config
except through the control ops the shell uses; a write that fails half-way is undone (the
node it targeted is put back as it was), so an error changes nothing.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import vpnsh
from vpnsh.api import document, replies
from vpnsh.api import xpath as xpaths
from vpnsh.api.control import ControlPort
from vpnsh.api.keys import KeyStore
from vpnsh.api.replies import ApiError, text_element
from vpnsh.config import tree, validate
from vpnsh.control.protocol import VALIDATION, ControlError

log = logging.getLogger("vpnshd.api")

XML = "application/xml; charset=utf-8"
MODEL = "vpnsh"  # not "Panorama" nor "M-...": clients treat the device as a firewall
FAMILY = "vpnsh"
SERIAL_FILE = "serial"
COMMIT_OK = "Configuration committed successfully"


def _quote(word: str) -> str:
    return f'"{word}"' if (not word or any(c.isspace() for c in word)) else word


def cmd_words(el: ET.Element) -> list[str]:
    """An op command's XML as CLI words: elements are keywords, an element's text its value
    (``<show><jobs><id>5</id></jobs></show>`` -> ``show jobs id 5``), as pan-python and
    pan-os-python build the XML from the words."""
    words = [el.tag]
    children = list(el)
    if children:
        for child in children:
            words.extend(cmd_words(child))
    elif el.text and el.text.strip():
        words.append(_quote(el.text.strip()))
    return words


def data_element(tag: str, value: Any) -> ET.Element:
    """Operational data (docs/operational-data.md) as XML: keys are elements (``_`` -> ``-``),
    lists are ``<entry>`` elements, booleans ``yes``/``no``."""
    el = ET.Element(tag)
    if isinstance(value, dict):
        for key, sub in value.items():
            el.append(data_element(str(key).replace("_", "-"), sub))
    elif isinstance(value, list | tuple):
        for item in value:
            el.append(data_element("entry", item))
    elif isinstance(value, bool):
        el.text = "yes" if value else "no"
    elif value is not None:
        el.text = str(value)
    return el


def _when(ts: float, date: bool = True) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S" if date else "%H:%M:%S", time.localtime(ts))


def job_element(job: Mapping[str, Any], user: str) -> ET.Element:
    """A job as ``show jobs id N`` answers it: every field pan-os-python reads (id, user, tenq,
    tfin, status, result, details/line, warnings) and pango's progress."""
    done = job.get("status") == "FIN"
    el = ET.Element("job")
    enq = float(job.get("enqueued") or 0)
    fields: list[tuple[str, Any]] = [
        ("tenq", _when(enq)), ("tdeq", _when(enq, date=False)), ("id", job.get("id")),
        ("user", job.get("user") or user), ("type", job.get("type", "Commit")),
        ("status", "FIN" if done else "ACT"), ("queued", "NO"), ("stoppable", "no"),
        ("result", job.get("result", "PEND") if done else "PEND"),
        ("tfin", _when(float(job.get("completed") or enq), date=False) if done else "Still Active"),
        ("description", job.get("description") or None), ("positionInQ", 0),
        ("progress", 100 if done else 0),
    ]
    for tag, value in fields:
        el.append(text_element(tag, value))
    details = ET.SubElement(el, "details")
    lines = [str(line) for line in job.get("details") or []]
    if done and job.get("result") == "OK" and job.get("type") == "Commit" and COMMIT_OK not in lines:
        lines.append(COMMIT_OK)  # as PAN-OS ends a successful commit's details
    for line in lines:
        ET.SubElement(details, "line").text = str(line)
    warnings = ET.SubElement(el, "warnings")
    for line in job.get("warnings") or []:
        ET.SubElement(warnings, "line").text = str(line)
    return el


def enqueued(kind: str, job_id: int) -> str:
    msg = ET.Element("msg")
    ET.SubElement(msg, "line").text = f"{kind} job enqueued with jobid {job_id}"
    return replies.success(msg, text_element("job", job_id), code=replies.SUCCESS)


class Api:
    def __init__(self, control: ControlPort, keys: KeyStore, *, state_dir: str, hostname: str) -> None:
        self.control = control
        self.keys = keys
        self.state_dir = state_dir
        self.hostname = hostname
        self.lock = asyncio.Lock()  # one API write at a time (each is several control ops)

    async def handle(self, params: Mapping[str, str], header_key: str | None = None) -> tuple[int, str, str]:
        try:
            return 200, XML, await self._handle(params, header_key)
        except _Export as export:
            return 200, XML, export.body
        except ApiError as exc:
            return exc.http_status, XML, replies.error(exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - answer, keep serving
            log.exception("API request type=%s failed", params.get("type"))
            return 200, XML, replies.error(replies.INTERNAL, f"internal error: {exc}")

    async def _handle(self, params: Mapping[str, str], header_key: str | None) -> str:
        kind = params.get("type", "")
        if kind == "keygen":
            return await self._keygen(params)
        user = self.keys.user_of(params.get("key") or header_key or "")
        if user is None:
            raise ApiError(replies.FORBIDDEN, replies.INVALID_CREDENTIALS, 403)
        if kind == "config":
            return await self._config(params, user)
        if kind == "op":
            return await self._op(params.get("cmd", ""), user)
        if kind == "commit":
            return await self._commit(params, user)
        if kind == "export":
            if params.get("category") != "configuration":
                raise ApiError(replies.BAD_REQUEST, "export: only category=configuration is available", 400)
            raise _Export(await self._export())
        if kind == "version":
            info = await self._system(user)
            keep = ("sw-version", "multi-vsys", "model", "serial", "vpnsh-version")
            return replies.success(*(text_element(k, info[k]) for k in keep))
        raise ApiError(replies.BAD_REQUEST, f"Illegal value for parameter \"type\" [{kind}].", 400)

    # ------------------------------------------------------------------ keygen

    async def _keygen(self, params: Mapping[str, str]) -> str:
        # scrypt takes tens of milliseconds: off the event loop, which serves the VPN too
        key = await asyncio.to_thread(self.keys.keygen, params.get("user", ""), params.get("password", ""))
        if key is None:
            log.info("API keygen refused for user %r", params.get("user", ""))
            raise ApiError(replies.FORBIDDEN, replies.INVALID_CREDENTIALS, 403)
        log.info("API key made for %s", params.get("user"))
        return replies.success(text_element("key", key))

    # ------------------------------------------------------------------ type=config

    async def _config(self, params: Mapping[str, str], user: str) -> str:
        action = params.get("action", "")
        xps = xpaths.parse(params.get("xpath"))
        if action in ("get", "show"):
            return await self._read(xps, running=(action == "show"), user=user)
        if len(xps) != 1 or xps[0].names_only:
            raise ApiError(replies.BAD_XPATH, xpaths.MALFORMED)
        xp = xps[0]
        target = xpaths.target(xp)
        async with self.lock:
            if action == "set":
                return await self._set(xp, target, params.get("element"), user)
            if action == "edit":
                return await self._edit(xp, target, params.get("element"), user)
            if action == "delete":
                return await self._delete(target, user)
            if action == "rename":
                return await self._rename(target, params.get("newname", ""), user)
            if action == "move":
                return await self._move(target, params.get("where", ""), params.get("dst"), user)
        raise ApiError(replies.BAD_REQUEST, f"Illegal value for parameter \"action\" [{action}].", 400)

    async def _read(self, xps: list[xpaths.XPath], *, running: bool, user: str) -> str:
        doc = document.config_document(await self.control.tree("running" if running else "candidate", user))
        found = [el for xp in xps for el in document.select(doc, xp)]
        if not found and running:
            raise ApiError(replies.OBJECT_NOT_PRESENT, replies.NO_SUCH_NODE)
        count = str(len(found))
        return replies.success(*found, code=replies.SUCCESS,
                               result_attrs={"total-count": count, "count": count})

    @staticmethod
    def _tree_target(target: xpaths.Target) -> tuple[str, ...]:
        if target.kind != xpaths.TREE:
            raise ApiError(replies.INVALID_OBJECT, "edit a node below devices/entry/network or "
                           "vsys/entry: vpnsh does not replace its whole config through the API")
        return target.tokens

    def _element(self, text: str | None, tokens: tuple[str, ...], *, wrap: bool) -> Any:
        if not text:
            raise ApiError(replies.BAD_REQUEST, "Missing parameter \"element\".", 400)
        try:
            return document.parse_element(text, tokens, wrap=wrap)
        except ET.ParseError as exc:
            raise ApiError(replies.MALFORMED_COMMAND, f"Malformed element: {exc}") from None
        except tree.ConfigError as exc:
            raise ApiError(replies.INVALID_OBJECT, _invalid(exc)) from None

    async def _set(self, xp: xpaths.XPath, target: xpaths.Target, element: str | None, user: str) -> str:
        if target.kind == xpaths.IMPORT:
            return self._import(element)
        tokens = self._tree_target(target)
        value = self._element(element, tokens, wrap=True)
        await self._apply(tokens, document.set_commands(tokens, value), user, replace=False)
        return replies.success(code=replies.COMMAND_SUCCEEDED, msg="command succeeded")

    async def _edit(self, xp: xpaths.XPath, target: xpaths.Target, element: str | None, user: str) -> str:
        if target.kind == xpaths.IMPORT:
            return self._import(element)
        tokens = self._tree_target(target)
        if element:
            try:
                root = ET.fromstring(element)
            except ET.ParseError as exc:
                raise ApiError(replies.MALFORMED_COMMAND, f"Malformed element: {exc}") from None
            last = xp.steps[-1]
            if root.tag != last.tag or (last.name is not None and root.get("name") != last.name):
                raise ApiError(replies.INVALID_OBJECT, f"edit: the element must be <{last.tag}"
                               + (f" name=\"{last.name}\"" if last.name is not None else "")
                               + f">, the node the xpath names, not <{root.tag}>")
        value = self._element(element, tokens, wrap=False)
        await self._apply(tokens, document.set_commands(tokens, value), user, replace=True)
        return replies.success(code=replies.COMMAND_SUCCEEDED, msg="command succeeded")

    def _import(self, element: str | None) -> str:
        """vsys1's interface import list: every interface is in vsys1 already (one vsys), so a
        set or edit there changes nothing; the element must still be well formed."""
        try:
            ET.fromstring(f"<x>{element or ''}</x>")
        except ET.ParseError as exc:
            raise ApiError(replies.MALFORMED_COMMAND, f"Malformed element: {exc}") from None
        return replies.success(code=replies.COMMAND_SUCCEEDED, msg="command succeeded")

    async def _apply(self, tokens: tuple[str, ...], commands: list[list[str]], user: str, *,
                     replace: bool) -> None:
        """Run the set commands (after deleting the node with ``replace``); on any failure put
        the node back as it was and raise code 12 with the shell's message."""
        before = await self.control.value("candidate", list(tokens), user)
        try:
            if replace and before is not None:
                await self.control.delete(list(tokens), user)
            for command in commands:
                await self.control.set(command, user)
        except ControlError as exc:
            refusal = await self._refusal(exc, user, replies.INVALID_OBJECT)
            if refusal.code != replies.LOCKED:  # under a lock nothing was changed
                await self._restore(tokens, before, user)
            raise refusal from None

    async def _refusal(self, exc: ControlError, user: str, code: int, *,
                       commit: bool = False) -> ApiError:
        """The API error for a write (or commit) the daemon refused: under another admin's
        config lock (or, for a commit, commit lock) it is PAN-OS's lock refusal with the
        daemon's words, as the shell shows them; else ``code`` with the daemon's message."""
        kinds = ("commit", "config") if commit else ("config",)
        for kind in kinds:
            if await self.control.lock_holder(kind, user) is not None:
                return ApiError(replies.LOCKED, exc.message)
        return ApiError(code, exc.message)

    async def _restore(self, tokens: tuple[str, ...], before: Any, user: str) -> None:
        try:
            await self.control.delete(list(tokens), user)
            if before is not None:
                for command in document.set_commands(tokens, before):
                    await self.control.set(command, user)
        except ControlError:
            log.exception("could not restore %s after a failed API write", " ".join(tokens))

    async def _delete(self, target: xpaths.Target, user: str) -> str:
        if target.kind == xpaths.IMPORT:
            return replies.success(code=replies.COMMAND_SUCCEEDED, msg="command succeeded")
        tokens = self._tree_target(target)
        if await self.control.value("candidate", list(tokens), user) is None:
            return replies.success(code=replies.OBJECT_NOT_PRESENT, msg="Object doesn't exist")
        await self._check_unreferenced(tokens, user)
        try:
            await self.control.delete(list(tokens), user)
        except ControlError as exc:
            raise await self._refusal(exc, user, replies.INVALID_OBJECT) from None
        return replies.success(code=replies.COMMAND_SUCCEEDED, msg="command succeeded")

    async def _check_unreferenced(self, tokens: tuple[str, ...], user: str) -> None:
        """Refuse (code 10, nothing changed) the delete of a node something else in the
        candidate still names: ``GW1 cannot be deleted because of references from:`` and one
        line per referring path, as PAN-OS answers (the shell leaves that to commit)."""
        candidate = await self.control.tree("candidate", user)
        after = copy.deepcopy(candidate)
        try:
            tree.delete_path(after, list(tokens))
        except (tree.ConfigError, ValueError, KeyError):
            return  # the daemon's delete answers it
        lost = validate.references_lost(candidate, after)
        if lost:
            lines = [" -> ".join(p.path) for p in lost]
            raise ApiError(replies.REFERENCE_COUNT,
                           "\n".join([f"{tokens[-1]} cannot be deleted because of references from:",
                                      *dict.fromkeys(lines)]))

    async def _rename(self, target: xpaths.Target, new: str, user: str) -> str:
        tokens = self._tree_target(target)
        if not new:
            raise ApiError(replies.BAD_REQUEST, "Missing parameter \"newname\".", 400)
        if await self.control.value("candidate", list(tokens), user) is None:
            raise ApiError(replies.OBJECT_NOT_PRESENT, replies.NO_SUCH_NODE)
        try:
            await self.control.rename(list(tokens), new, user)
        except ControlError as exc:
            raise await self._refusal(exc, user, replies.INVALID_OBJECT) from None
        return replies.success(code=replies.COMMAND_SUCCEEDED, msg="command succeeded")

    async def _move(self, target: xpaths.Target, where: str, dst: str | None, user: str) -> str:
        tokens = self._tree_target(target)
        if await self.control.value("candidate", list(tokens), user) is None:
            raise ApiError(replies.OBJECT_NOT_PRESENT, replies.NO_SUCH_NODE)
        try:
            await self.control.move(list(tokens), where, dst, user)
        except ControlError as exc:
            raise await self._refusal(exc, user, replies.INVALID_OBJECT) from None
        return replies.success(code=replies.COMMAND_SUCCEEDED, msg="command succeeded")

    # ------------------------------------------------------------------ type=op

    async def _op(self, cmd: str, user: str) -> str:
        try:
            root = ET.fromstring(cmd)
        except ET.ParseError:
            raise ApiError(replies.MALFORMED_COMMAND, "Malformed command") from None
        words = cmd_words(root)
        if words[:3] == ["show", "system", "info"] and len(words) == 3:
            info = await self._system(user)
            return replies.success(_system_element(info))
        if words[:2] == ["show", "jobs"]:
            return await self._show_jobs(words[2:], user)
        if words == ["validate", "full"]:
            return await self._validate(user)
        return await self._vpn_op(" ".join(words), user)

    async def _show_jobs(self, rest: list[str], user: str) -> str:
        if len(rest) == 2 and rest[0] == "id":
            try:
                job_id = int(rest[1].strip('"'))
            except ValueError:
                raise ApiError(replies.INVALID_COMMAND, f"show jobs id {rest[1]}: not a job id") from None
            try:
                jobs = await self.control.jobs(job_id, user)
            except ControlError as exc:
                raise ApiError(replies.INVALID_COMMAND, exc.message) from None
        elif rest in (["all"], ["processed"], []):
            jobs = await self.control.jobs(None, user)
        elif rest == ["pending"]:
            jobs = [j for j in await self.control.jobs(None, user) if j.get("status") != "FIN"]
        else:
            raise ApiError(replies.INVALID_COMMAND, f"show jobs {' '.join(rest)} is unexpected")
        return replies.success(*(job_element(j, user) for j in jobs))

    async def _validate(self, user: str) -> str:
        before = await self._last_job(user)
        try:
            result = await self.control.validate(user)
        except ControlError as exc:
            job = await self._new_job("Validate", before, user)
            if exc.kind == VALIDATION and job is not None:
                return enqueued("Validate", job)
            raise ApiError(replies.OPERATION_FAILED, exc.message) from None
        return enqueued("Validate", int(result["job"]))

    async def _vpn_op(self, line: str, user: str) -> str:
        from vpnsh.shell import opcommands
        from vpnsh.shell.parser import OPERATIONAL, CommandError, parse

        try:
            command = parse(line, OPERATIONAL)
        except CommandError:
            command = None
        vpn = opcommands.lookup(command.name, command.args) if command is not None else None
        if command is None or vpn is None:
            raise ApiError(replies.INVALID_COMMAND, f"{line} is unexpected")
        try:
            result = await self.control.engine(vpn.op, opcommands.engine_args(command.args), user)
        except ControlError as exc:
            raise ApiError(replies.OPERATION_FAILED, exc.message) from None
        body = data_element("result", result)
        resp = ET.Element("response", status="success")
        resp.append(body)
        return replies.to_text(resp)

    async def _system(self, user: str) -> dict[str, str]:
        info = await self.control.system_info(user)
        now = time.time()
        return {
            "hostname": str(info.get("hostname") or self.hostname),
            "ip-address": "unknown", "public-ip-address": "unknown", "netmask": "unknown",
            "default-gateway": "unknown", "is-dhcp": "no", "mac-address": "unknown",
            "time": time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(now)),
            "uptime": str(info.get("uptime", "")),
            "devicename": str(info.get("hostname") or self.hostname),
            "family": FAMILY, "model": MODEL, "serial": self.serial(),
            "vm-license": "none", "vm-mode": "none",
            "sw-version": document.CONFIG_VERSION,
            "app-version": "0-0", "av-version": "0", "threat-version": "0",
            "platform-family": FAMILY, "vpn-disable-mode": "off", "multi-vsys": "off",
            "operational-mode": str(info.get("operational_mode", "normal")),
            "vpnsh-version": vpnsh.__version__,
            "vpn-dataplane": str(info.get("dataplane", "")),
        }

    def serial(self) -> str:
        """A 15-digit number made on first use and kept in ``STATE_DIR/api/serial``."""
        path = Path(self.state_dir) / "api" / SERIAL_FILE
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            pass
        serial = "9" + "".join(secrets.choice("0123456789") for _ in range(14))
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(SERIAL_FILE + ".tmp")
        tmp.write_text(serial + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return serial

    # ------------------------------------------------------------------ type=commit

    async def _last_job(self, user: str) -> int:
        return max((int(j.get("id", 0)) for j in await self.control.jobs(None, user)), default=0)

    async def _new_job(self, kind: str, after: int, user: str) -> int | None:
        ids = [int(j["id"]) for j in await self.control.jobs(None, user)
               if int(j.get("id", 0)) > after and j.get("type") == kind]
        return max(ids) if ids else None

    async def _commit(self, params: Mapping[str, str], user: str) -> str:
        try:
            root = ET.fromstring(params.get("cmd") or "<commit></commit>")
        except ET.ParseError:
            raise ApiError(replies.MALFORMED_COMMAND, "Malformed command") from None
        if root.tag != "commit":
            raise ApiError(replies.INVALID_COMMAND, f"{root.tag} is unexpected")
        admins = _partial_admins(root, params.get("action"))
        force = root.find("force") is not None
        description = (root.findtext("description") or root.findtext("force/description") or "").strip()
        async with self.lock:
            before = await self._last_job(user)
            try:
                result = await self.control.commit(description, force, user, admins)
            except ControlError as exc:
                job = await self._new_job("Commit", before, user)
                if exc.kind == VALIDATION and job is not None:
                    return enqueued("Commit", job)  # the job says FAIL and why
                raise await self._refusal(exc, user, replies.OPERATION_FAILED, commit=True) from None
        if result.get("job") is None:
            return replies.success(code=replies.SUCCESS, msg="There are no changes to commit.")
        return enqueued("Commit", int(result["job"]))

    # ------------------------------------------------------------------ export

    async def _export(self) -> str:
        doc = document.config_document(await self.control.tree("running"))
        ET.indent(doc)
        return ET.tostring(doc, encoding="unicode") + "\n"


class _Export(Exception):  # noqa: N818 - a reply that is not a <response>
    def __init__(self, body: str) -> None:
        super().__init__("export")
        self.body = body


def _partial_admins(root: ET.Element, action: str | None) -> list[str] | None:
    """The admins of ``<commit><partial><admin><member>A</member>...</admin></partial>``
    (pan-os-python's ``commit(admins=[...])``, panxapi's ``--partial``), None for a full commit.
    Partial scopes vpnsh has no notion of (``device-and-network`` and the like excluded) are
    refused rather than ignored: they would commit more than asked."""
    partial = root.find("partial")
    if partial is None:
        if action == "partial":
            raise ApiError(replies.INVALID_COMMAND, "commit partial needs <partial><admin>")
        return None
    other = [child.tag for child in partial if child.tag != "admin"]
    if other:
        raise ApiError(replies.INVALID_COMMAND,
                       f"commit partial {other[0]} is unexpected: vpnsh commits partially by "
                       "admin only")
    names = [(m.text or "").strip() for m in partial.findall("admin/member")]
    if not names or not all(names):
        raise ApiError(replies.INVALID_COMMAND, "commit partial admin needs <member> names")
    return names


def _system_element(info: Mapping[str, str]) -> ET.Element:
    system = ET.Element("system")
    for key, value in info.items():
        system.append(text_element(key, value))
    return system


def _invalid(exc: tree.ConfigError) -> str:
    """A schema refusal as PAN-OS words it: ``gateway -> GW1 -> bogus unexpected here``, or the
    path and what is wrong with the value."""
    where = " -> ".join(exc.path)
    if exc.kind == "syntax" and "unexpected" in exc.message:
        return f"{where} unexpected here"
    return f"{where} {exc.message}" if where else exc.message

