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
import sys
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_paused = 0
_was_enabled = True
_switch_interval = 0.005


# While heavy work runs, the interpreter hands the GIL over every millisecond
# instead of every 5 ms, so the event loop waits less for each turn.
HEAVY_SWITCH_INTERVAL_S = 0.001


def _without_collector(fn: Callable[..., T], *args: Any) -> T:
    global _paused, _was_enabled, _switch_interval
    with _lock:
        _paused += 1
        if _paused == 1:
            _was_enabled = gc.isenabled()
            _switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_interval, HEAVY_SWITCH_INTERVAL_S))
        gc.disable()
    try:
        return fn(*args)
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0:
                sys.setswitchinterval(_switch_interval)
                if _was_enabled:
                    gc.enable()


async def build_off_loop(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) in a worker thread, without collector pauses."""
    return await asyncio.to_thread(_without_collector, fn, *args)


def keep_long_lived() -> None:
    """Exclude everything alive now (the cached graph) from future collections."""
    gc.freeze()


RELEASE_SLICE = 1000


def release_gradually(*containers: Any) -> None:
    """Empty large lists a slice at a time.

    Freeing a million objects is one long C-level cascade that holds the GIL
    (and so stalls the event loop) however it is threaded; in slices, the
    interpreter can hand the GIL over between them. Dicts are emptied through
    their list values.
    """
    for container in containers:
        if isinstance(container, dict):
            values = list(container.values())
            container.clear()
            release_gradually(*[v for v in values if isinstance(v, list)])
            del values
        elif isinstance(container, list):
            while container:
                del container[-RELEASE_SLICE:]


async def drop_off_loop(holder: list) -> None:
    """Free what `holder` alone holds (e.g. a replaced graph's edge tuple) in a
    worker thread, a slice at a time. The caller keeps no other reference."""
    items = list(holder.pop())
    await asyncio.to_thread(release_gradually, items)
