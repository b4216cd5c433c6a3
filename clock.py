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


def offset_s() -> float:
    path = os.environ.get(CLOCK_FILE_ENV)
    if not path:
        return 0.0
    try:
        with open(path) as handle:
            return float(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0.0


def now() -> int:
    return int(time.time() + offset_s())
