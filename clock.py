"""The extension's clock.

Production uses the system clock. Time-accelerated tests run simnode in simulated
time; they point `FEEPILOT_CLOCK_FILE` at a file holding the simulated "now" minus
the real one (seconds), so cooldowns, forwarding windows and the change log all
move with the simulated node. Unset (the default), the file is never read.
"""

from __future__ import annotations

import os
import time

CLOCK_FILE_ENV = "FEEPILOT_CLOCK_FILE"


_last_offset = 0.0


def offset_s() -> float:
    global _last_offset
    path = os.environ.get(CLOCK_FILE_ENV)
    if not path:
        return 0.0
    try:
        with open(path) as handle:
            _last_offset = float(handle.read().strip())
    except (OSError, ValueError):
        pass  # being rewritten: the last offset read still holds
    return _last_offset


def now() -> int:
    return int(time.time() + offset_s())
