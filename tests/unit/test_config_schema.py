from collections.abc import Iterator

import pytest

from vpnsh.config.formats import _canonical
from vpnsh.config.schema import Container, Entries, Leaf, LeafList, Node, Ref
from vpnsh.config.tree import node_at
from vpnsh.config.vpn_schema import (
    DH_GROUPS,
    ESP_ENCRYPTION,
    IKE_ENCRYPTION,
    IKE_HASH,
    IKE_PROFILES,
    IPSEC_PROFILES,
    ROOT,
)


def nodes(node: Node = ROOT) -> Iterator[Node]:
    yield node
    if isinstance(node, Container | Entries):
        for child in node.children:
            yield from nodes(child)


def test_every_default_is_accepted_by_its_own_type():
    for node in nodes():
        if isinstance(node, Leaf) and node.default is not None:
            assert node.type.parse(str(node.default)) == node.default, node.name
        if isinstance(node, LeafList) and node.default is not None:
            assert all(node.type.parse(v) == v for v in node.default), node.name
        if isinstance(node, Container) and node.default is not None:
            assert _canonical(node, node.default, (node.name,), None) == node.default


def test_every_ref_points_at_an_entries_node():
    refs = [n for n in nodes() if isinstance(n, Leaf | LeafList) and isinstance(n.type, Ref)]
    assert len(refs) >= 10
    for node in refs:
        for target in node.type.targets:
            assert isinstance(node_at(target)[0], Entries), (node.name, target)


def test_every_node_has_help_and_children_names_are_unique():
    for node in nodes():
        assert node.help, node.name
        if isinstance(node, Container | Entries):
            names = [c.name for c in node.children]
            assert len(names) == len(set(names)), node.name


@pytest.mark.parametrize("path, values", [
    (IKE_PROFILES + ("_", "encryption"), IKE_ENCRYPTION),
    (IKE_PROFILES + ("_", "hash"), IKE_HASH),
    (IKE_PROFILES + ("_", "dh-group"), DH_GROUPS),
    (IPSEC_PROFILES + ("_", "esp", "encryption"), ESP_ENCRYPTION),
    (IPSEC_PROFILES + ("_", "esp", "authentication"),
     ("none", "md5", "sha1", "sha256", "sha384", "sha512")),
    (IPSEC_PROFILES + ("_", "dh-group"), ("no-pfs", *DH_GROUPS)),
])
def test_algorithm_keywords_exactly_as_reference(path, values):
    assert tuple(node_at(path)[0].type.choices()) == tuple(values)


def test_reference_algorithm_lists():
    assert IKE_ENCRYPTION == ("des", "3des", "aes-128-cbc", "aes-192-cbc", "aes-256-cbc",
                              "aes-128-gcm", "aes-256-gcm")
    assert DH_GROUPS == ("group1", "group2", "group5", "group14", "group15", "group16",
                         "group19", "group20", "group21")
    assert ESP_ENCRYPTION == ("des", "3des", "aes-128-cbc", "aes-192-cbc", "aes-256-cbc",
                              "aes-128-ccm", "aes-128-gcm", "aes-256-gcm", "null")


def test_generated_reference_covers_every_leaf_once():
    from vpnsh.config.reference import markdown, set_paths

    paths = [syntax for syntax, _help in set_paths()]
    leaves = [n for n in nodes() if isinstance(n, Leaf | LeafList) or type(n).__name__ == "Flag"]
    assert len(paths) == len(leaves) == len(set(paths))
    assert ("set network interface tunnel units <tunnel.N> mtu <576-9216>" in paths)
    text = markdown()
    assert "protocol version ikev1\\|ikev2\\|ikev2-preferred` | IKE protocol version " \
           "(default ikev1) |" in text
