"""What this kernel's IPsec can do: ESP states, XFRM policies, XFRM interfaces.

Each capability is probed for real (not guessed from /proc or module lists, which
containers hide): the probe installs a throw-away ESP state, a policy and an ``xfrm``
link, then removes them. It works in a scratch network namespace when it can make one
(so the host's tables are never touched, and kernel features are per kernel, not per
namespace), else in the namespace it is given, on TEST-NET-1 addresses that carry no
traffic.

    caps = probe_kernel()
    if not caps.esp:
        print(caps.esp_reason)   # "this kernel has no ESP (CONFIG_INET_ESP): ..."
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pyroute2.netlink.exceptions import NetlinkError

from . import xfrm_netlink as xn

R = TypeVar("R")

_PROBE_SRC, _PROBE_DST = "192.0.2.254", "192.0.2.253"
_PROBE_SPI = 0xC0FFEE01
_PROBE_REQID = 0xFFFFF0
_scratch_ids = itertools.count(1)


@dataclass(frozen=True)
class KernelCapabilities:
    esp: bool
    esp_reason: str  # "" when available
    policy: bool
    policy_reason: str
    xfrmi: bool
    xfrmi_reason: str

    def notes(self) -> list[str]:
        """One line per missing capability, for ``DataPlaneInfo.notes`` and the log."""
        return [r for ok, r in ((self.esp, self.esp_reason), (self.policy, self.policy_reason),
                                (self.xfrmi, self.xfrmi_reason)) if not ok]


ESP_MISSING = ("this kernel has no ESP (CONFIG_INET_ESP): XFRM_MSG_NEWSA for ESP fails "
               "with 'Requested type not found'; use --dataplane userspace")
XFRMI_MISSING = ("this kernel has no XFRM interfaces (CONFIG_XFRM_INTERFACE): "
                 "route-based tunnels (tunnel.N) cannot be carried by the kernel; "
                 "only policy-based (proxy-id) traffic is")


def _esp_reason(exc: BaseException) -> str:
    if isinstance(exc, NetlinkError):
        if exc.code == errno.EPROTONOSUPPORT:
            return ESP_MISSING
        if exc.code == errno.ENOSYS:
            return f"ESP is present but an algorithm is missing: {xn.error_text(exc)}"
        return f"cannot install an ESP state: {xn.error_text(exc)}"
    return f"cannot install an ESP state: {exc}"


def _probe_esp(ch: xn.XfrmChannel) -> str:
    sa = {
        "sel": {"family": socket.AF_INET},
        "id": {"daddr": xn.addr_bytes(_PROBE_DST), "spi": _PROBE_SPI, "proto": xn.IPPROTO_ESP},
        "saddr": xn.addr_bytes(_PROBE_SRC), "lft": xn.XfrmLifetimeCfg.infinite(),
        "family": socket.AF_INET, "mode": xn.XFRM_MODE_TUNNEL, "reqid": _PROBE_REQID,
    }
    attrs = [("XFRMA_ALG_CRYPT", {"alg_name": "cbc(aes)", "alg_key_len": 128,
                                  "alg_key": bytes(16)}),
             ("XFRMA_ALG_AUTH_TRUNC", {"alg_name": "hmac(sha256)", "alg_key_len": 256,
                                       "alg_trunc_len": 128, "alg_key": bytes(32)})]
    try:
        ch.request(xn.build(xn.xfrm_usersa_info, sa, attrs), xn.XFRM_MSG_NEWSA)
    except Exception as exc:  # noqa: BLE001 - the reason is the result
        return _esp_reason(exc)
    sa_id = {"daddr": xn.addr_bytes(_PROBE_DST), "spi": _PROBE_SPI,
             "family": socket.AF_INET, "proto": xn.IPPROTO_ESP}
    with contextlib.suppress(Exception):
        ch.request(xn.build(xn.xfrm_usersa_id, sa_id,
                            [("XFRMA_SRCADDR", xn.addr_bytes(_PROBE_SRC))]), xn.XFRM_MSG_DELSA)
    return ""


def _probe_policy(ch: xn.XfrmChannel) -> str:
    sel = {"saddr": xn.addr_bytes(_PROBE_SRC), "daddr": xn.addr_bytes(_PROBE_DST),
           "prefixlen_s": 32, "prefixlen_d": 32, "family": socket.AF_INET}
    tmpl = {"id": {"daddr": xn.addr_bytes(_PROBE_DST), "proto": xn.IPPROTO_ESP},
            "family": socket.AF_INET, "saddr": xn.addr_bytes(_PROBE_SRC),
            "reqid": _PROBE_REQID, "mode": xn.XFRM_MODE_TUNNEL,
            "aalgos": 0xFFFFFFFF, "ealgos": 0xFFFFFFFF, "calgos": 0xFFFFFFFF}
    pol = {"sel": sel, "lft": xn.XfrmLifetimeCfg.infinite(), "dir": xn.XFRM_POLICY_OUT,
           "priority": 0xFFFFFF00}
    try:
        ch.request(xn.build(xn.xfrm_userpolicy_info, pol, [("XFRMA_TMPL", [tmpl])]),
                   xn.XFRM_MSG_UPDPOLICY)
    except NetlinkError as exc:
        return f"cannot install an XFRM policy: {xn.error_text(exc)}"
    except OSError as exc:
        return f"cannot install an XFRM policy: {exc}"
    with contextlib.suppress(Exception):
        ch.request(xn.build(xn.xfrm_userpolicy_id, {"sel": sel, "dir": xn.XFRM_POLICY_OUT}),
                   xn.XFRM_MSG_DELPOLICY)
    return ""


def in_thread(fn: Callable[[], R], timeout: float = 30.0) -> R:
    """Run ``fn`` in a helper thread (pyroute2's sync API cannot run inside a running loop)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=work, name="vpnsh-xfrm-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"netlink operation did not finish in {timeout:.0f}s")
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return,unused-ignore]


def _probe_xfrmi(netns: str | None) -> str:
    from pyroute2 import IPRoute

    name = f"vpnshprb{os.getpid() % 10000}"

    def work() -> str:
        kwargs = {"netns": netns} if netns else {}
        with IPRoute(**kwargs) as ipr:
            try:
                ipr.link("add", ifname=name, kind="xfrm", xfrm_if_id=0xFFFFF0)
            except NetlinkError as exc:
                if exc.code in (errno.EOPNOTSUPP, errno.ENOENT):
                    return f"{XFRMI_MISSING} (creating an xfrm link: {xn.error_text(exc)})"
                return f"cannot create an xfrm link: {xn.error_text(exc)}"
            with contextlib.suppress(Exception):
                ipr.link("del", ifname=name)
            return ""

    try:
        return in_thread(work)
    except Exception as exc:  # noqa: BLE001
        return f"cannot create an xfrm link: {exc}"


@contextlib.contextmanager
def _scratch_namespace() -> Any:
    """A fresh namespace name (removed on exit), or None when one cannot be made."""
    from pyroute2 import netns as pr_netns

    name = f"vpnsh-probe-{os.getpid()}-{next(_scratch_ids)}"
    try:
        pr_netns.create(name)
    except Exception:  # noqa: BLE001 - not root, no /run/netns: probe in place
        yield None
        return
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            pr_netns.remove(name)


def probe_kernel_uncached(netns: str | None = None) -> KernelCapabilities:
    with _scratch_namespace() as scratch:
        where = scratch or netns
        try:
            with xn.XfrmChannel(where) as ch:
                policy = _probe_policy(ch)
                esp = _probe_esp(ch)
        except OSError as exc:
            policy = esp = f"no XFRM netlink (NETLINK_XFRM socket: {exc.strerror or exc})"
        xfrmi = _probe_xfrmi(where)
    return KernelCapabilities(not esp, esp, not policy, policy, not xfrmi, xfrmi)


@functools.lru_cache(maxsize=8)
def probe_kernel(netns: str | None = None) -> KernelCapabilities:
    """The kernel's IPsec capabilities (probed once per process and namespace).

    The probe runs in a child process: making its scratch namespace forks, and a
    forked copy of a daemon that uses asyncio signal handlers can wake the parent's
    loop with a signal that was never sent to it.
    """
    cmd = [sys.executable, "-m", "vpnsh.engine.dataplane.kernel_probe", "--json"]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
        return KernelCapabilities(**json.loads(res.stdout))
    except (OSError, subprocess.SubprocessError, ValueError, TypeError) as exc:
        reason = f"the kernel probe failed: {exc}"
        return KernelCapabilities(False, reason, False, reason, False, reason)


def main() -> int:
    caps = probe_kernel_uncached()
    if "--json" in sys.argv[1:]:
        print(json.dumps(dataclasses.asdict(caps)))
        return 0
    for name, ok, reason in (("ESP states", caps.esp, caps.esp_reason),
                             ("XFRM policies", caps.policy, caps.policy_reason),
                             ("XFRM interfaces", caps.xfrmi, caps.xfrmi_reason)):
        print(f"{name:16} {'yes' if ok else 'no'}{'' if ok else ': ' + reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
