"""PAN-OS XML API replies: ``<response status="success|error" code="N">``.

Codes as in PAN-OS's "XML API Error Codes" (docs/xml-api.md has the table vpnsh uses).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

# error codes
BAD_REQUEST = 400
FORBIDDEN = 403
UNKNOWN_COMMAND = 1
INTERNAL = 2
BAD_XPATH = 6
OBJECT_NOT_PRESENT = 7
REFERENCE_COUNT = 10
INVALID_OBJECT = 12
OPERATION_FAILED = 13
LOCKED = OPERATION_FAILED  # another admin's config/commit lock refused the write or commit
INVALID_COMMAND = 17
MALFORMED_COMMAND = 18
# success codes
SUCCESS = 19
COMMAND_SUCCEEDED = 20

NO_SUCH_NODE = "No such node"
INVALID_CREDENTIALS = "Invalid credentials."


class ApiError(Exception):
    """A request PAN-OS would refuse: the code, the message, and the HTTP status."""

    def __init__(self, code: int, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


def to_text(el: ET.Element) -> str:
    return ET.tostring(el, encoding="unicode")


def success(*children: ET.Element, code: int | None = None, result_attrs: dict[str, str] | None = None,
            msg: str | None = None, bare: Iterable[ET.Element] = ()) -> str:
    """``<response status="success" [code]>`` with ``<result>`` holding ``children``
    (no ``<result>`` when there are none and no ``result_attrs``), or a ``<msg>``."""
    resp = ET.Element("response", status="success")
    if code is not None:
        resp.set("code", str(code))
    if msg is not None:
        ET.SubElement(resp, "msg").text = msg
    if children or result_attrs is not None:
        result = ET.SubElement(resp, "result", result_attrs or {})
        result.extend(children)
    resp.extend(bare)
    return to_text(resp)


def error(code: int, message: str) -> str:
    """``<response status="error" code="N"><msg><line>message</line></msg></response>``.

    Each line of ``message`` is one ``<line>`` (PAN-OS lists validation errors so); pan-python
    reads ``./msg/line``, pan-os-python matches the text by prefix (``No such node``).
    """
    resp = ET.Element("response", status="error", code=str(code))
    if code == FORBIDDEN:  # as PAN-OS answers keygen with bad credentials
        ET.SubElement(ET.SubElement(resp, "result"), "msg").text = message
        return to_text(resp)
    msg = ET.SubElement(resp, "msg")
    for line in message.splitlines() or [""]:
        ET.SubElement(msg, "line").text = line
    return to_text(resp)


def text_element(tag: str, text: str | int | None, **attrs: str) -> ET.Element:
    el = ET.Element(tag, attrs)
    if text is not None:
        el.text = str(text)
    return el
