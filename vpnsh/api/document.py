"""vpnsh's config tree as PAN-OS's config XML, and XML elements as ``set`` commands.

Both directions come from the one schema (:mod:`vpnsh.config.vpn_schema`) through
:func:`vpnsh.config.formats.to_element` / :func:`~vpnsh.config.formats.from_element`; this
module only places the tree in PAN-OS's layout::

    <config version=...>
      <devices><entry name="localhost.localdomain">
        <network>...</network>                                   (the tree's ``network``)
        <vsys><entry name="vsys1">
          <zone>...</zone><rulebase>...</rulebase> ...            (the tree's other top nodes)
          <import><network><interface><member>...                (every interface: one vsys)
        </entry></vsys>
      </entry></devices>
      <shared/>
    </config>
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

from vpnsh.api.xpath import DEVICE, DEVICE_ROOTS, VSYS, XPath
from vpnsh.config import formats
from vpnsh.config.schema import Container, Entries, Flag, Leaf, LeafList, Node
from vpnsh.config.tree import node_at
from vpnsh.config.vpn_schema import ROOT

CONFIG_VERSION = "10.1.0"  # the PAN-OS release whose config layout vpnsh follows


def interfaces(tree: dict[str, Any]) -> list[str]:
    """Every interface the config names: ethernet, their subinterfaces, loopback and tunnel units."""
    found: list[str] = []
    for kind, value in tree.get("network", {}).get("interface", {}).items():
        if not isinstance(value, dict):
            continue
        if kind == "ethernet":
            for name, eth in value.items():
                found.append(name)
                found.extend((eth.get("layer3", {}) or {}).get("units", {}) or {})
        else:
            found.extend(value.get("units", {}) or {})
    return found


def config_document(tree: dict[str, Any]) -> ET.Element:
    root = ET.Element("config", version=CONFIG_VERSION)
    device = ET.SubElement(ET.SubElement(root, "devices"), "entry", name=DEVICE)
    vsys = ET.Element("entry", name=VSYS)
    for child in ROOT.children:
        if child.name not in tree:
            continue
        el = formats.to_element(tree[child.name], (child.name,))
        (device if child.name in DEVICE_ROOTS else vsys).append(el)
    names = interfaces(tree)
    if names:
        iface = ET.SubElement(ET.SubElement(ET.SubElement(vsys, "import"), "network"), "interface")
        for name in names:
            ET.SubElement(iface, "member").text = name
    ET.SubElement(device, "vsys").append(vsys)
    ET.SubElement(root, "shared")
    return root


def select(doc: ET.Element, xp: XPath) -> list[ET.Element]:
    """The elements of ``doc`` an xpath names (for ``/@name``: bare ``<entry name>`` copies)."""
    first, *rest = xp.steps
    nodes = [doc] if first.tag == doc.tag and first.name is None else []
    for step in rest:
        nodes = [c for n in nodes for c in n
                 if c.tag == step.tag and (step.name is None or c.get("name") == step.name)]
    if xp.names_only:
        return [ET.Element(n.tag, name=n.get("name", "")) for n in nodes if n.get("name") is not None]
    return nodes


# ---------------------------------------------------------------------------- writes


def parse_element(text: str, tokens: tuple[str, ...], *, wrap: bool) -> Any:
    """The value for ``tokens`` from request XML.  ``wrap``: ``text`` is the node's content
    (``action=set``: its children); else ``text`` is the node itself (``action=edit``).
    Raises ET.ParseError for XML that is not well formed, ConfigError for what the schema refuses.
    """
    el = ET.fromstring(f"<vpnsh-set>{text}</vpnsh-set>" if wrap else text)
    return formats.from_element(el, tokens, encrypt=_keep)


def _keep(text: str) -> str:
    """Secrets go to the daemon as given: ``config.set`` encrypts them there, as for the shell."""
    return text


def set_commands(tokens: tuple[str, ...], value: Any) -> list[list[str]]:
    """The ``set`` commands (tokens) that build ``value`` at ``tokens``."""
    node, is_entry = node_at(tokens) if tokens else (ROOT, False)
    return list(_commands(node, list(tokens), value, is_entry))


def _commands(node: Node, path: list[str], value: Any, entry: bool) -> Iterator[list[str]]:
    if isinstance(node, Flag):
        yield path
    elif isinstance(node, Leaf):
        yield [*path, str(value)]
    elif isinstance(node, LeafList):
        yield [*path, "[", *map(str, value), "]"]
    elif isinstance(node, Entries) and not entry:
        for name, sub in value.items():
            yield from _commands(node, [*path, name], sub, True)
    else:
        assert isinstance(node, Container | Entries)
        if not value and path:
            yield path
        for child in node.children:
            if child.name in value:
                yield from _commands(child, [*path, child.name], value[child.name], False)
