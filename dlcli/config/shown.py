"""A value as an error message shows it: its repr, cut short.

reprlib, not repr: a YAML alias bomb is a small file whose full repr is gigabytes, and a
message is one line.
"""

from __future__ import annotations

import reprlib
from typing import Any

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 4, 30, 10, 80, 80


def shown(value: Any) -> str:
    """``repr(value)`` of at most 60 characters (nested and long values cut with ...)."""
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
