"""What the machine has: free memory, read at the moment of asking."""

from __future__ import annotations

import os


def available_memory() -> int:
    """Bytes of memory the machine has free now (physical pages available)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this platform: do not refuse
        return 1 << 62
