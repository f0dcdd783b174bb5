"""strongSwan (charon) as a real IKE peer inside a test namespace.

    sw = StrongSwan(site.ns, tmp_path / "left")
    sw.add_connection(Connection("s2s", local_addrs=["198.51.100.1"], ...,
                                 children=[Child("net", ["10.1.0.0/24"], ["10.2.0.0/24"])]))
    sw.start()            # writes the config, starts charon, waits for its vici socket
    sw.load_all()         # swanctl --load-all
    sw.initiate("net")
    sw.wait_for_sa(child="net")
    sw.list_sas()         # -> list[IkeSa]
    sw.stop()

Each instance has its own strongswan.conf (STRONGSWAN_CONF), its own vici socket
in its work dir, an explicit plugin list with kernel-libipsec (this kernel has no
ESP: ESP runs in charon over a TUN device, so connections use `encap = yes`), and
a private /run (charon's pid file is fixed there).  See
/work/shared/notes/strongswan-peer.md for why.

The vici protocol client below talks to charon directly over its Unix socket
(the `vici` Python package is not packaged for Debian 12).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pytest

from tests.helpers.netns import BackgroundProcess, Namespace, netns_missing

CHARON = Path("/usr/lib/ipsec/charon")
PLUGIN_DIR = Path("/usr/lib/ipsec/plugins")
PLUGINS = ("random nonce openssl aes sha1 sha2 md5 hmac gcm xcbc cmac kdf curve25519 pem pkcs1 "
           "x509 pubkey socket-default kernel-libipsec kernel-netlink vici updown")

# The Debian 12 package that ships each plugin the tests load (from `dpkg -L`), so that a
# missing plugin is named with the package to install. scripts/ci_deps.py checks that each
# of these packages is in .ci/run's install list.
_PACKAGE_PLUGINS = {
    "libstrongswan": "aes constraints hmac kdf kernel-netlink md5 nonce pem pkcs1 pkcs8 pubkey "
                     "random revocation sha1 sha2 x509 xcbc",
    "libstrongswan-standard-plugins": "gcm openssl",
    "libstrongswan-extra-plugins": "cmac curve25519",
    "libcharon-extra-plugins": "kernel-libipsec",
    "strongswan-libcharon": "socket-default updown",
    "strongswan-swanctl": "vici",
}
PLUGIN_PACKAGES = {plugin: package for package, plugins in _PACKAGE_PLUGINS.items()
                   for plugin in plugins.split()}
DEFAULT_LOG_LEVELS: dict[str, int] = {
    "default": 1, "ike": 2, "cfg": 2, "knl": 1, "net": 1, "enc": 1, "esp": 1, "chd": 2,
}


def plugin_path(name: str) -> Path:
    return PLUGIN_DIR / f"libstrongswan-{name}.so"


def missing_plugins(plugins: str) -> str | None:
    """One line naming the plugins of a `load =` list that are not on disk and their packages.

    charon starts without a plugin it cannot find and only logs it; the test then waits for a
    protocol error (INVALID_KE_PAYLOAD with no `openssl`). Checked before charon starts.
    """
    absent = [n for n in plugins.split() if not plugin_path(n).exists()]
    if not absent:
        return None
    packages = sorted({PLUGIN_PACKAGES.get(n, "unknown (see `apt-file search`)") for n in absent})
    return (f"strongSwan plugin(s) {', '.join(absent)} missing from {PLUGIN_DIR}: "
            f"apt-get install {' '.join(packages)}")


def strongswan_missing() -> str | None:
    """Why strongSwan cannot run here, or None if it can."""
    if not CHARON.exists():
        return f"strongSwan not installed ({CHARON} missing; apt-get install strongswan-charon)"
    if shutil.which("swanctl") is None:
        return "swanctl missing (apt-get install strongswan-swanctl)"
    plugin = Path("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so")
    if not plugin.exists():
        return "kernel-libipsec plugin missing (apt-get install libcharon-extra-plugins)"
    if shutil.which("unshare") is None:
        return "unshare missing (util-linux)"
    return None


def _interop_missing() -> str | None:
    return netns_missing() or strongswan_missing()


requires_strongswan = pytest.mark.skipif(
    _interop_missing() is not None, reason=str(_interop_missing()))


# --- vici wire protocol --------------------------------------------------------

# packet types
_CMD_REQUEST, _CMD_RESPONSE, _CMD_UNKNOWN = 0, 1, 2
_EVENT_REGISTER, _EVENT_UNREGISTER, _EVENT_CONFIRM, _EVENT_UNKNOWN, _EVENT = 3, 4, 5, 6, 7
# message element types
_SECTION_START, _SECTION_END, _KEY_VALUE, _LIST_START, _LIST_ITEM, _LIST_END = 1, 2, 3, 4, 5, 6

ViciValue = Union[str, list[str], "ViciMessage"]
ViciMessage = dict[str, ViciValue]


class ViciError(RuntimeError):
    """charon refused a command or the vici conversation broke."""


def encode_message(msg: Mapping[str, Any]) -> bytes:
    out = bytearray()

    def name(n: str) -> None:
        b = n.encode()
        out.append(len(b))
        out.extend(b)

    def value(v: object) -> None:
        b = v if isinstance(v, bytes) else str(v).encode()
        out.extend(struct.pack("!H", len(b)))
        out.extend(b)

    def walk(m: Mapping[str, Any]) -> None:
        for k, v in m.items():
            if isinstance(v, Mapping):
                out.append(_SECTION_START)
                name(k)
                walk(v)
                out.append(_SECTION_END)
            elif isinstance(v, list | tuple):
                out.append(_LIST_START)
                name(k)
                for item in v:
                    out.append(_LIST_ITEM)
                    value(item)
                out.append(_LIST_END)
            else:
                out.append(_KEY_VALUE)
                name(k)
                value(v)

    walk(msg)
    return bytes(out)


def decode_message(data: bytes) -> ViciMessage:
    root: ViciMessage = {}
    stack: list[ViciMessage] = [root]
    current_list: list[str] | None = None
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise ViciError("truncated vici message")
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    def name() -> str:
        return take(take(1)[0]).decode()

    def value() -> str:
        (n,) = struct.unpack("!H", take(2))
        return take(n).decode(errors="replace")

    while pos < len(data):
        kind = take(1)[0]
        if kind == _SECTION_START:
            section: ViciMessage = {}
            stack[-1][name()] = section
            stack.append(section)
        elif kind == _SECTION_END:
            if len(stack) == 1:
                raise ViciError("unbalanced section end")
            stack.pop()
        elif kind == _KEY_VALUE:
            key = name()
            stack[-1][key] = value()
        elif kind == _LIST_START:
            current_list = []
            stack[-1][name()] = current_list
        elif kind == _LIST_ITEM:
            if current_list is None:
                raise ViciError("list item outside a list")
            current_list.append(value())
        elif kind == _LIST_END:
            current_list = None
        else:
            raise ViciError(f"unknown vici element {kind}")
    return root


class ViciSession:
    """A connection to one charon's vici socket."""

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> ViciSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, ptype: int, name: str | None = None, msg: Mapping[str, Any] | None = None
              ) -> None:
        body = bytearray([ptype])
        if name is not None:
            b = name.encode()
            body.append(len(b))
            body.extend(b)
        if msg is not None:
            body.extend(encode_message(msg))
        self.sock.sendall(struct.pack("!I", len(body)) + bytes(body))

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ViciError("vici socket closed")
            buf.extend(chunk)
        return bytes(buf)

    def _recv(self) -> tuple[int, str | None, bytes]:
        (length,) = struct.unpack("!I", self._recv_exact(4))
        body = self._recv_exact(length)
        ptype = body[0]
        if ptype == _EVENT:
            n = body[1]
            return ptype, body[2:2 + n].decode(), body[2 + n:]
        return ptype, None, body[1:]

    def request(self, command: str, msg: Mapping[str, Any] | None = None,
                stream_event: str | None = None) -> tuple[ViciMessage, list[ViciMessage]]:
        """Send a command; return its response and any `stream_event` events before it."""
        events: list[ViciMessage] = []
        if stream_event:
            self._register(stream_event, _EVENT_REGISTER)
        try:
            self._send(_CMD_REQUEST, command, msg or {})
            while True:
                ptype, ev_name, payload = self._recv()
                if ptype == _EVENT:
                    if ev_name == stream_event:
                        events.append(decode_message(payload))
                    continue
                if ptype == _CMD_UNKNOWN:
                    raise ViciError(f"charon does not know the vici command {command!r}")
                if ptype != _CMD_RESPONSE:
                    raise ViciError(f"unexpected vici packet type {ptype}")
                return decode_message(payload), events
        finally:
            if stream_event:
                self._register(stream_event, _EVENT_UNREGISTER)

    def request_many(self, command: str, msgs: Sequence[Mapping[str, Any]]) -> list[ViciMessage]:
        """Send every request of `msgs`, then read their answers (charon answers one vici
        connection's requests in order): one round trip for all instead of one each."""
        for msg in msgs:
            self._send(_CMD_REQUEST, command, msg)
        answers: list[ViciMessage] = []
        while len(answers) < len(msgs):
            ptype, _, payload = self._recv()
            if ptype == _EVENT:
                continue
            if ptype != _CMD_RESPONSE:
                raise ViciError(f"{command}: unexpected vici packet type {ptype}")
            answers.append(decode_message(payload))
        return answers

    def command(self, command: str, msg: Mapping[str, Any] | None = None) -> ViciMessage:
        """A command whose response carries `success`; raise ViciError when it says no."""
        resp, _ = self.request(command, msg)
        if resp.get("success", "yes") != "yes":
            raise ViciError(f"{command}: {resp.get('errmsg', 'failed')}")
        return resp

    def _register(self, event: str, ptype: int) -> None:
        self._send(ptype, event)
        while True:
            rtype, _, _ = self._recv()
            if rtype == _EVENT_CONFIRM:
                return
            if rtype == _EVENT_UNKNOWN:
                raise ViciError(f"charon does not know the vici event {event!r}")
            if rtype == _EVENT:
                continue  # a late event of an earlier registration
            raise ViciError(f"unexpected vici packet type {rtype} while (un)registering")

    def subscribe(self, *events: str) -> None:
        for ev in events:
            self._register(ev, _EVENT_REGISTER)

    def next_event(self, timeout: float | None = None) -> tuple[str, ViciMessage]:
        """The next event of a subscription; raises TimeoutError (socket.timeout) at the deadline."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            while True:
                ptype, name, payload = self._recv()
                if ptype == _EVENT and name is not None:
                    return name, decode_message(payload)
        finally:
            self.sock.settimeout(old)


# --- SAs as Python data -----------------------------------------------------------


@dataclass
class ChildSa:
    name: str
    uniqueid: str
    state: str
    raw: ViciMessage

    @property
    def spi_in(self) -> str:
        return str(self.raw.get("spi-in", ""))

    @property
    def spi_out(self) -> str:
        return str(self.raw.get("spi-out", ""))

    @property
    def encap(self) -> bool:
        return self.raw.get("encap") == "yes"

    @property
    def local_ts(self) -> list[str]:
        v = self.raw.get("local-ts", [])
        return list(v) if isinstance(v, list) else []

    @property
    def remote_ts(self) -> list[str]:
        v = self.raw.get("remote-ts", [])
        return list(v) if isinstance(v, list) else []

    def counter(self, key: str) -> int:
        """`bytes-in`, `bytes-out`, `packets-in`, `packets-out`."""
        return int(str(self.raw.get(key, "0")) or 0)


@dataclass
class IkeSa:
    name: str
    uniqueid: str
    version: int
    state: str
    raw: ViciMessage
    children: list[ChildSa] = field(default_factory=list)

    @property
    def initiator(self) -> bool:
        return self.raw.get("initiator") == "yes"

    @property
    def nat_any(self) -> bool:
        return self.raw.get("nat-any") == "yes"

    def child(self, name: str) -> ChildSa | None:
        return next((c for c in self.children if c.name == name), None)


def parse_list_sas(events: Sequence[ViciMessage]) -> list[IkeSa]:
    sas = []
    for ev in events:
        for name, body in ev.items():
            if not isinstance(body, dict):
                continue
            children = []
            child_sas = body.get("child-sas", {})
            if isinstance(child_sas, dict):
                for _key, c in child_sas.items():
                    if isinstance(c, dict):
                        children.append(ChildSa(str(c.get("name", _key)), str(c.get("uniqueid", "")),
                                                str(c.get("state", "")), c))
            sas.append(IkeSa(name, str(body.get("uniqueid", "")), int(str(body.get("version", "2"))),
                             str(body.get("state", "")), body, children))
    return sas


# --- configuration -----------------------------------------------------------------


@dataclass
class Child:
    """A swanctl.conf CHILD_SA (children { name { ... } })."""

    name: str
    local_ts: list[str]
    remote_ts: list[str]
    esp_proposals: list[str] = field(default_factory=lambda: ["aes128gcm16"])
    start_action: str = "none"  # none | trap | start
    mode: str = "tunnel"
    rekey_time: str | None = None
    life_time: str | None = None
    rand_time: str | None = None
    dpd_action: str | None = None
    close_action: str | None = None
    replay_window: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Connection:
    """A swanctl.conf connection (IKE SA config) with its children and PSK."""

    name: str
    local_addrs: list[str]
    remote_addrs: list[str]
    psk: str
    children: list[Child]
    version: int = 2  # 0 = any, 1 = IKEv1, 2 = IKEv2
    proposals: list[str] = field(default_factory=lambda: ["aes128gcm16-prfsha256-ecp256"])
    local_id: str | None = None
    remote_id: str | None = None
    encap: bool = True  # kernel-libipsec needs ESP-in-UDP
    aggressive: bool = False
    local_port: int | None = None
    remote_port: int | None = None
    rekey_time: str | None = None
    reauth_time: str | None = None
    over_time: str | None = None
    rand_time: str | None = None
    dpd_delay: str | None = None
    dpd_timeout: str | None = None
    mobike: bool | None = None
    keyingtries: int | None = None
    fragmentation: str | None = None
    unique: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # certificates (issue 16): auth = pubkey with `certs` (a file in x509/ next to
    # swanctl.conf; CAs in x509ca/, keys in private/, CRLs in x509crl/); no PSK secret then
    auth: str = "psk"
    certs: str | None = None
    send_cert: str | None = None


def _kv(indent: str, key: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "yes" if value else "no"
    elif isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return f"{indent}{key} = {value}\n"


def _quote(secret: str) -> str:
    if '"' in secret or "\\" in secret:
        raise ValueError("PSK with a quote or backslash is not supported by this helper")
    return f'"{secret}"'


def render_swanctl_conf(connections: Sequence[Connection]) -> str:
    out = ["connections {\n"]
    for c in connections:
        out.append(f"  {c.name} {{\n")
        i = "    "
        for key, val in (("version", c.version), ("local_addrs", c.local_addrs),
                         ("remote_addrs", c.remote_addrs), ("local_port", c.local_port),
                         ("remote_port", c.remote_port), ("proposals", c.proposals),
                         ("encap", c.encap), ("aggressive", c.aggressive or None),
                         ("rekey_time", c.rekey_time), ("reauth_time", c.reauth_time),
                         ("over_time", c.over_time), ("rand_time", c.rand_time),
                         ("dpd_delay", c.dpd_delay), ("dpd_timeout", c.dpd_timeout),
                         ("mobike", c.mobike), ("keyingtries", c.keyingtries),
                         ("fragmentation", c.fragmentation), ("unique", c.unique),
                         ("send_cert", c.send_cert)):
            out.append(_kv(i, key, val))
        for key, val in c.extra.items():
            out.append(_kv(i, key, val))
        out.append(f"{i}local {{\n{i}  auth = {c.auth}\n")
        out.append(_kv(i + "  ", "certs", c.certs))
        out.append(_kv(i + "  ", "id", c.local_id))
        out.append(f"{i}}}\n{i}remote {{\n{i}  auth = {c.auth}\n")
        out.append(_kv(i + "  ", "id", c.remote_id))
        out.append(f"{i}}}\n{i}children {{\n")
        for ch in c.children:
            j = i + "    "
            out.append(f"{i}  {ch.name} {{\n")
            for key, val in (("local_ts", ch.local_ts), ("remote_ts", ch.remote_ts),
                             ("esp_proposals", ch.esp_proposals), ("mode", ch.mode),
                             ("start_action", ch.start_action), ("rekey_time", ch.rekey_time),
                             ("life_time", ch.life_time), ("rand_time", ch.rand_time),
                             ("dpd_action", ch.dpd_action), ("close_action", ch.close_action),
                             ("replay_window", ch.replay_window)):
                out.append(_kv(j, key, val))
            for key, val in ch.extra.items():
                out.append(_kv(j, key, val))
            out.append(f"{i}  }}\n")
        out.append(f"{i}}}\n  }}\n")
    out.append("}\n\nsecrets {\n")
    for n, c in enumerate(connections):
        if c.auth != "psk":
            continue
        # The secret is bound to the ids when any is set, else it is a wildcard.
        out.append(f"  ike-{n} {{\n")
        for k, ident in enumerate(x for x in (c.local_id, c.remote_id) if x):
            out.append(f"    id-{k} = {ident}\n")
        out.append(f"    secret = {_quote(c.psk)}\n  }}\n")
    out.append("}\n")
    return "".join(out)


def render_strongswan_conf(*, vici_socket: str, log_path: Path, log_levels: Mapping[str, int],
                           aggressive_psk: bool, charon_options: Mapping[str, object],
                           plugins: str = PLUGINS) -> str:
    levels = "".join(f"        {k} = {v}\n" for k, v in log_levels.items())
    opts = "".join(_kv("  ", k, v) for k, v in charon_options.items())
    agg = "  i_dont_care_about_security_and_use_aggressive_mode_psk = yes\n" if aggressive_psk else ""
    return f"""charon {{
  load_modular = no
  load = {plugins}
{agg}{opts}  plugins {{
    vici {{
      socket = unix://{vici_socket}
    }}
  }}
  filelog {{
    vt {{
      path = {log_path}
      time_format = %H:%M:%S
      ike_name = yes
      flush_line = yes
      append = yes
{levels}    }}
  }}
  syslog {{
    daemon {{
      default = -1
    }}
  }}
}}
swanctl {{
  socket = unix://{vici_socket}
}}
"""


# --- the peer -----------------------------------------------------------------------


class StrongSwan:
    """One charon in namespace `ns`, configured and driven from Python."""

    def __init__(self, ns: Namespace, workdir: Path, *, log_levels: Mapping[str, int] | None = None,
                 aggressive_psk: bool = False, charon_options: Mapping[str, object] | None = None,
                 connections: Sequence[Connection] = (), plugins: str = PLUGINS) -> None:
        self.ns = ns
        self.plugins = plugins
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf_path = self.workdir / "strongswan.conf"
        self.swanctl_conf_path = self.workdir / "swanctl.conf"
        self.log_path = self.workdir / "charon.log"
        self.stdout_path = self.workdir / "charon.stdout"
        sock = self.workdir / "charon.vici"
        if len(str(sock)) > 100:  # sun_path is 108 bytes
            sock = Path(tempfile.mkdtemp(prefix="vt-vici-")) / "charon.vici"
        self.vici_path = sock
        self.log_levels = dict(DEFAULT_LOG_LEVELS if log_levels is None else log_levels)
        self.aggressive_psk = aggressive_psk
        self.charon_options = dict(charon_options or {})
        self.connections: list[Connection] = list(connections)
        self.process: BackgroundProcess | None = None
        self._session: ViciSession | None = None

    # configuration
    def add_connection(self, conn: Connection) -> Connection:
        self.connections.append(conn)
        return conn

    def write_config(self) -> None:
        self.conf_path.write_text(render_strongswan_conf(
            vici_socket=str(self.vici_path), log_path=self.log_path, log_levels=self.log_levels,
            aggressive_psk=self.aggressive_psk, charon_options=self.charon_options,
            plugins=self.plugins))
        self.swanctl_conf_path.write_text(render_swanctl_conf(self.connections))
        os.chmod(self.swanctl_conf_path, 0o600)

    @property
    def env(self) -> dict[str, str]:
        return {"STRONGSWAN_CONF": str(self.conf_path)}

    # lifecycle
    def start(self, timeout: float = 20.0) -> None:
        """Write the config, start charon with a private /run, wait for vici to answer."""
        absent = missing_plugins(self.plugins)
        if absent is not None:
            raise ViciError(absent)
        self.write_config()
        with contextlib.suppress(FileNotFoundError):
            self.vici_path.unlink()
        script = ("mount -t tmpfs none /run && "
                  "{ [ -L /var/run ] || mount -t tmpfs none /var/run; } && "
                  f"exec {CHARON}")
        self.process = self.ns.spawn(["unshare", "-m", "sh", "-c", script],
                                     log_path=self.stdout_path, env=self.env)
        deadline = time.monotonic() + timeout
        while True:
            if not self.process.running():
                raise ViciError(f"charon exited with {self.process.popen.returncode}: "
                                f"{self.process.output()[-2000:]}{self.log_tail()}")
            try:
                self._session = ViciSession(self.vici_path)
                self._session.request("version")
                return
            except (OSError, ViciError):
                if self._session is not None:
                    self._session.close()
                    self._session = None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"charon's vici socket {self.vici_path} did not answer "
                                       f"within {timeout}s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self.process is not None:
            self.process.stop()
            self.process = None

    def __enter__(self) -> StrongSwan:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """charon's pid (unshare and sh exec into it, so it is the spawned process)."""
        if self.process is None:
            raise ViciError("charon is not running")
        return self.process.pid

    @property
    def vici(self) -> ViciSession:
        if self._session is None:
            raise ViciError("charon is not running")
        return self._session

    def session(self) -> ViciSession:
        """A new, separate vici connection (for event subscriptions)."""
        return ViciSession(self.vici_path)

    # swanctl and vici commands
    def swanctl(self, *args: str, check: bool = True, timeout: float = 60.0
                ) -> subprocess.CompletedProcess[str]:
        # the command comes first, then its options (swanctl's own rule)
        argv = ["swanctl", *args[:1], "--uri", f"unix://{self.vici_path}", *args[1:]]
        res = subprocess.run(argv,
                             capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, **self.env})
        if check and res.returncode != 0:
            raise ViciError(f"swanctl {' '.join(args)} -> {res.returncode}: "
                            f"{(res.stderr or res.stdout).strip()[-2000:]}")
        return res

    def load_all(self) -> None:
        """(Re)write swanctl.conf and load its connections and secrets."""
        self.write_config()
        self.swanctl("--load-all", "--noprompt", "--file", str(self.swanctl_conf_path))

    def initiate(self, child: str | None = None, ike: str | None = None,
                 timeout: float = 15.0) -> None:
        """Start a CHILD_SA (and its IKE SA); returns once it is up, raises ViciError if not."""
        msg: dict[str, Any] = {"timeout": int(timeout * 1000), "init-limits": "no"}
        if child:
            msg["child"] = child
        if ike:
            msg["ike"] = ike
        self.vici.command("initiate", msg)

    def terminate(self, ike: str | None = None, child: str | None = None,
                  timeout: float = 10.0, force: bool = False) -> None:
        msg: dict[str, Any] = {"timeout": int(timeout * 1000)}
        if ike:
            msg["ike"] = ike
        if child:
            msg["child"] = child
        if force:
            msg["force"] = "yes"
        self.vici.command("terminate", msg)

    def rekey(self, ike: str | None = None, child: str | None = None) -> None:
        msg: dict[str, Any] = {}
        if ike:
            msg["ike"] = ike
        if child:
            msg["child"] = child
        self.vici.command("rekey", msg)

    def list_sas(self, ike: str | None = None) -> list[IkeSa]:
        msg = {"ike": ike} if ike else {}
        _, events = self.vici.request("list-sas", msg, stream_event="list-sa")
        return parse_list_sas(events)

    def wait_for_sa(self, ike: str | None = None, child: str | None = None,
                    state: str | None = None, timeout: float = 15.0) -> IkeSa:
        """Poll until an IKE SA (named `ike`, or any) is ESTABLISHED and, when `child` is
        given, has that CHILD_SA in `state` (INSTALLED by default)."""
        want_child = state or "INSTALLED"
        deadline = time.monotonic() + timeout
        last: list[IkeSa] = []
        while True:
            last = self.list_sas()
            for sa in last:
                if ike and sa.name != ike:
                    continue
                if child is None:
                    if sa.state == (state or "ESTABLISHED"):
                        return sa
                    continue
                if sa.state == "ESTABLISHED" and any(
                        c.name == child and c.state == want_child for c in sa.children):
                    return sa
            if time.monotonic() > deadline:
                seen = [(s.name, s.state, [(c.name, c.state) for c in s.children]) for s in last]
                raise TimeoutError(f"no SA ike={ike} child={child} within {timeout}s; "
                                   f"have {seen}{self.log_tail()}")
            time.sleep(0.1)

    def wait_for_no_sa(self, ike: str | None = None, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while any(ike is None or sa.name == ike for sa in self.list_sas()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"IKE SA {ike or '(any)'} still present after {timeout}s")
            time.sleep(0.1)

    # logs
    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_text()
        if not text:
            return ""
        return f"\n--- {self.log_path} (last {lines} lines) ---\n" + "\n".join(
            text.splitlines()[-lines:])

    def events(self, *names: str) -> Iterator[tuple[str, ViciMessage]]:
        """Yield events (e.g. `ike-updown`, `child-updown`, `ike-rekey`) on a fresh session."""
        with self.session() as s:
            s.subscribe(*names)
            while True:
                yield s.next_event()


def psk_site_pair(left_addr: str, right_addr: str, left_net: str, right_net: str, *,
                  psk: str = "vt-test-psk-0123456789", version: int = 2,
                  proposals: Sequence[str] = ("aes128gcm16-prfsha256-ecp256",),
                  esp_proposals: Sequence[str] = ("aes128gcm16",), name: str = "s2s",
                  child: str = "net", aggressive: bool = False,
                  left_id: str | None = None, right_id: str | None = None,
                  ) -> tuple[Connection, Connection]:
    """Mirror-image connections for two gateways (left initiates, neither auto-starts)."""

    def make(la: str, ra: str, ln: str, rn: str, lid: str | None, rid: str | None) -> Connection:
        return Connection(name, [la], [ra], psk,
                          [Child(child, [ln], [rn], list(esp_proposals))],
                          version=version, proposals=list(proposals), aggressive=aggressive,
                          local_id=lid, remote_id=rid)

    return (make(left_addr, right_addr, left_net, right_net, left_id, right_id),
            make(right_addr, left_addr, right_net, left_net, right_id, left_id))
