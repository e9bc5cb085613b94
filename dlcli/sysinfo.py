"""What the machine has: free memory, read at the moment of asking; and the BLAS threads
this process lets itself use."""

from __future__ import annotations

import os
from typing import Any


def available_memory() -> int:
    """Bytes of memory the machine has free now (physical pages available)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this platform: do not refuse
        return 1 << 62


def limit_blas_threads(threads: int) -> Any:
    """BLAS limited to ``threads`` threads in this whole process (threadpoolctl) until the
    returned limit's ``restore_original_limits()``, or the end of its ``with``."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")
