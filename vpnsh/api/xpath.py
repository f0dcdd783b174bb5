"""PAN-OS config xpaths, as the XML API clients write them, and where they point in vpnsh.

Accepted: absolute location paths of child steps, each ``tag`` or ``tag[@name='N']``
(single or double quotes), a final ``@name`` (``.../entry/@name``: names only), and unions of
such paths joined by ``|``.  Anything else is a malformed xpath (code 6).

Where they point (``D`` = ``/config/devices/entry[@name='localhost.localdomain']``):

* ``D/network/...``                         -> ``network ...`` of the config tree
* ``D/vsys/entry[@name='vsys1']/X/...``     -> ``X ...`` (zone, rulebase, and whatever else of
  the schema's top level is not ``network``: vpnsh is one vsys)
* ``D/vsys/entry[@name='vsys1']/import/network/interface``: the interfaces vsys1 imports,
  which in vpnsh is every interface (see :mod:`.document`)
* ``/config/shared/X/...``                  -> ``X ...`` as for vsys1 (read only: the shared
  location holds nothing of its own in vpnsh)

``entry[@name='N']`` becomes the entry name ``N``: ``.../ike/gateway/entry[@name='GW1']`` is
``network ike gateway GW1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vpnsh.api.replies import BAD_XPATH, INVALID_OBJECT, ApiError
from vpnsh.config import tree
from vpnsh.config.vpn_schema import ROOT

DEVICE = "localhost.localdomain"
VSYS = "vsys1"
DEVICE_ROOTS = ("network",)  # top-level keywords under the device; the rest are vsys1's

_STEP = re.compile(r"""([A-Za-z0-9_.:-]+)(?:\[@name=(?:'([^']*)'|"([^"]*)")\])?""")
MALFORMED = "Malformed Xpath"


@dataclass(frozen=True)
class Step:
    tag: str
    name: str | None = None  # the [@name='...'] predicate


@dataclass(frozen=True)
class XPath:
    steps: tuple[Step, ...]
    names_only: bool = False  # ended in /@name

    def text(self) -> str:
        out = "".join(f"/{s.tag}" + (f"[@name='{s.name}']" if s.name is not None else "")
                      for s in self.steps)
        return out + ("/@name" if self.names_only else "")


def _split_union(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    quote = ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "|":
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_one(text: str) -> XPath:
    text = text.strip()
    if not text.startswith("/"):
        raise ApiError(BAD_XPATH, MALFORMED)
    pos, names_only = 1, False
    steps: list[Step] = []
    while pos <= len(text):
        if text.startswith("@name", pos) and pos + 5 == len(text) and steps:
            names_only = True
            break
        m = _STEP.match(text, pos)
        if m is None:
            raise ApiError(BAD_XPATH, MALFORMED)
        name = m.group(2) if m.group(2) is not None else m.group(3)
        steps.append(Step(m.group(1), name))
        pos = m.end()
        if pos == len(text):
            break
        if text[pos] != "/":
            raise ApiError(BAD_XPATH, MALFORMED)
        pos += 1
        if pos == len(text):  # a trailing slash
            break
    if not steps or steps[0].tag != "config":
        raise ApiError(BAD_XPATH, MALFORMED)
    return XPath(tuple(steps), names_only)


def parse(text: str | None) -> list[XPath]:
    """One xpath or a union of them; ApiError(6) if malformed."""
    if not text:
        raise ApiError(BAD_XPATH, MALFORMED)
    return [parse_one(part) for part in _split_union(text)]


# ---------------------------------------------------------------------------- where it points

TREE = "tree"
IMPORT = "import"  # vsys1's import list (virtual: every interface)
CONFIG = "config"  # the whole config, or above where vpnsh's tree starts


@dataclass(frozen=True)
class Target:
    kind: str
    tokens: tuple[str, ...] = ()


def _entry_ok(step: Step, tag: str, name: str) -> bool:
    return step.tag == tag and step.name in (None, name)


def target(xp: XPath) -> Target:
    """Where a write goes.  ApiError(12) for a path vpnsh does not have or a wildcard entry."""
    s = xp.steps
    bad = ApiError(INVALID_OBJECT, f"{xp.text()} is not a location vpnsh has")
    if len(s) < 2:
        return Target(CONFIG)
    if s[1].tag == "shared":
        raise ApiError(INVALID_OBJECT, "vpnsh has one vsys: write to vsys1, not shared")
    if s[1].tag != "devices":
        raise bad
    if len(s) < 3 or not _entry_ok(s[2], "entry", DEVICE):
        if len(s) < 3:
            return Target(CONFIG)
        raise bad
    rest = s[3:]
    if rest and rest[0].tag == "vsys":
        if len(rest) < 2:
            return Target(CONFIG)
        if not _entry_ok(rest[1], "entry", VSYS):
            raise bad
        rest = rest[2:]
        if rest and rest[0].tag == "import":
            return Target(IMPORT)
        if rest and rest[0].tag in DEVICE_ROOTS:
            raise bad
    elif rest and rest[0].tag not in DEVICE_ROOTS:
        raise bad
    if not rest:
        return Target(CONFIG)
    tokens: list[str] = []
    for step in rest:
        if step.tag == "entry":
            if step.name is None:
                raise ApiError(INVALID_OBJECT, f"{xp.text()}: name the entry ([@name='...'])")
            tokens.append(step.name)
        elif step.name is not None:
            raise bad
        else:
            tokens.append(step.tag)
    try:
        tree.node_at(tokens)
    except tree.ConfigError as exc:
        raise ApiError(INVALID_OBJECT, f"{' -> '.join(exc.path)} unexpected here") from None
    if not tokens or tokens[0] not in {c.name for c in ROOT.children}:
        raise bad
    return Target(TREE, tuple(tokens))
