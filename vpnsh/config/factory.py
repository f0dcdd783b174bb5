"""The factory configuration: PAN-OS's default crypto and monitor profiles (reference 4.1)."""

from __future__ import annotations

import copy

_FACTORY: dict = {
    "network": {
        "ike": {
            "crypto-profiles": {
                "ike-crypto-profiles": {
                    "default": {"encryption": ["aes-128-cbc", "3des"], "hash": ["sha1"],
                                "dh-group": ["group2"], "lifetime": {"hours": 8}},
                    "Suite-B-GCM-128": {"encryption": ["aes-128-cbc"], "hash": ["sha256"],
                                        "dh-group": ["group19"], "lifetime": {"hours": 8}},
                    "Suite-B-GCM-256": {"encryption": ["aes-256-cbc"], "hash": ["sha384"],
                                        "dh-group": ["group20"], "lifetime": {"hours": 8}},
                },
                "ipsec-crypto-profiles": {
                    "default": {"esp": {"encryption": ["aes-128-cbc", "3des"],
                                        "authentication": ["sha1"]},
                                "dh-group": "group2", "lifetime": {"hours": 1}},
                    "Suite-B-GCM-128": {"esp": {"encryption": ["aes-128-gcm"],
                                                "authentication": ["none"]},
                                        "dh-group": "group19", "lifetime": {"hours": 1}},
                    "Suite-B-GCM-256": {"esp": {"encryption": ["aes-256-gcm"],
                                                "authentication": ["none"]},
                                        "dh-group": "group20", "lifetime": {"hours": 1}},
                },
            },
        },
        "profiles": {
            "monitor-profile": {
                "default": {"interval": 3, "threshold": 5, "action": "wait-recover"},
            },
        },
        "virtual-router": {"default": {}},
    },
}


def factory_config() -> dict:
    """A fresh copy of the factory configuration tree."""
    return copy.deepcopy(_FACTORY)
