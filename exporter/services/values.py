"""Loosely typed API values made fit for a label: the text of a field, and a raw status as text.

Shared by the spec reader (a state table's keys) and the interpreter (an answer's values), so that a
raw status is written the same way on both sides.
"""

from __future__ import annotations

import unicodedata
from typing import Any

__all__ = ["MESSAGE_LIMIT", "raw_status", "text"]

MESSAGE_LIMIT = 256


def text(value: Any) -> str:
    """A string field fit for a label value: None -> "", numbers as text, other types -> "", characters
    that cannot be encoded or shown (lone surrogates, control and format characters) removed, at most
    256 characters."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        return ""
    if value.isascii() and value.isprintable():
        return value[:MESSAGE_LIMIT]
    value = value.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate from JSON becomes "?"
    return "".join(ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cf"))[:MESSAGE_LIMIT]


def raw_status(value: Any) -> str:
    """The raw status as a label value: '2', '-1', 'RUNNING', 'null' for an explicit null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return text(value).strip()
