"""Running heavy work beside LNbits' event loop.

A worker thread alone is not enough: building the network graph allocates
millions of short-lived objects, and the cyclic garbage collector then stops
every thread — the event loop included — for a few hundred milliseconds at a
time. So the collector pauses while the graph is built, and the finished,
long-lived graph is moved out of its sight (`gc.freeze`) so later collections
stay short.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_paused = 0


def _without_collector(fn: Callable[..., T], *args: Any) -> T:
    global _paused
    with _lock:
        _paused += 1
        was_enabled = gc.isenabled() if _paused == 1 else False
        gc.disable()
    try:
        return fn(*args)
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0 and was_enabled:
                gc.enable()


async def build_off_loop(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) in a worker thread, without collector pauses."""
    return await asyncio.to_thread(_without_collector, fn, *args)


def keep_long_lived() -> None:
    """Exclude everything alive now (the cached graph) from future collections."""
    gc.freeze()
