"""No secret in clear in the daemon's logs: request redaction and the log filter."""

from __future__ import annotations

import logging

from vpnsh.config.redact import KnownSecrets, mask_tokens, secret_values
from vpnsh.engine.configd import redact_request, redact_tokens, uptime_text
from vpnsh.engine.daemon import SecretFilter
from vpnsh.shell.history import mask_line


def test_redact_tokens_masks_clear_keys_only() -> None:
    tokens = ["network", "ike", "gateway", "G", "authentication", "pre-shared-key", "key", "s3cret"]
    assert redact_tokens(tokens)[-1] == "******"
    assert redact_tokens([*tokens[:-1], "-AQ==abc"])[-1] == "-AQ==abc"
    assert "s3cret" not in redact_request("config.set", {"tokens": tokens})
    assert redact_request("system.info", {}) == "system.info"


def test_log_filter_masks_secrets_a_request_carried_and_nothing_else() -> None:
    known = KnownSecrets()
    known.remember(secret_values(["network", "ike", "gateway", "G", "authentication",
                                  "pre-shared-key", "key", "hunter2"]))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "set %s", ("... key [ hunter2 ] more",), None)
    assert SecretFilter(known).filter(record)
    assert "hunter2" not in record.getMessage() and "[ ****** ]" in record.getMessage()
    for innocent in ("ssh password login for admin: refused", "key -AQ==zz", "secret agent key ring"):
        kept = logging.LogRecord("x", logging.INFO, __file__, 1, innocent, None, None)
        SecretFilter(known).filter(kept)
        assert kept.getMessage() == innocent


def test_masking_follows_the_schema_secret_leaves() -> None:
    gw = ["network", "ike", "gateway"]
    assert mask_tokens([*gw, "key", "comment", "key"]) == [*gw, "key", "comment", "key"]
    assert mask_tokens([*gw, "G", "authentication", "pre-shared-key", "key", "[", "s", "]"])[-3:] == \
        ["******"] * 3
    assert mask_tokens(["key", "s3"], base=[*gw, "G", "authentication", "pre-shared-key"]) == \
        ["key", "******"]
    assert mask_line('set key "a b" ', [*gw, "G", "authentication", "pre-shared-key"]) == "set key ****** "
    assert mask_line("set network ike gateway G comment key") == "set network ike gateway G comment key"


def test_uptime_text_is_panos_style() -> None:
    assert uptime_text(3 * 86400 + 2 * 3600 + 4 * 60 + 33) == "3 days, 2:04:33"
