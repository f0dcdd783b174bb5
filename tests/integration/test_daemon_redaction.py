"""No secret in clear in the daemon's logs: request redaction and the log filter."""

from __future__ import annotations

import logging

from vpnsh.engine.configd import redact_request, redact_tokens, uptime_text
from vpnsh.engine.daemon import SecretFilter


def test_redact_tokens_masks_clear_keys_only() -> None:
    tokens = ["network", "ike", "gateway", "G", "authentication", "pre-shared-key", "key", "s3cret"]
    assert redact_tokens(tokens)[-1] == "******"
    assert redact_tokens([*tokens[:-1], "-AQ==abc"])[-1] == "-AQ==abc"
    assert "s3cret" not in redact_request("config.set", {"tokens": tokens})
    assert redact_request("system.info", {}) == "system.info"


def test_log_filter_masks_any_clear_key() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "set %s", ("... key hunter2 more",), None)
    assert SecretFilter().filter(record)
    assert "hunter2" not in record.getMessage() and "key ******" in record.getMessage()
    kept = logging.LogRecord("x", logging.INFO, __file__, 1, "key -AQ==zz", None, None)
    SecretFilter().filter(kept)
    assert kept.getMessage() == "key -AQ==zz"


def test_uptime_text_is_panos_style() -> None:
    assert uptime_text(3 * 86400 + 2 * 3600 + 4 * 60 + 33) == "3 days, 2:04:33"
