"""The forwarding history Fee Autopilot keeps (issue 15).

Every reader of forwards (the engine's snapshot, as sums per channel and window; the summary
band, the impact of changes, earnings) reads this table, after one incremental sync with the node: LND's `/v1/switch` from
where the last sync stopped, so a cycle after the first asks the node only for what is new, and
the windows we compute survive a node whose forwarding history was pruned
(`DeleteForwardingHistory`, or a node that keeps little).

Where the sync stands is stored (`forwards_sync`): the node it read (another node starts over)
and the span of its history we hold. What is older than `forwards_retention_days` is neither
read nor kept (retention.py prunes it).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Optional, Sequence

from loguru import logger

from . import crud
from .app_settings import APP_DEFAULTS
from .engine.ingest_cln import ForwardPage
from .engine.ingest_lnd import flows_from_sums
from .engine.snapshot import FlowStats

DAY = 86400
NS = 1_000_000_000
# LND writes its forwarding log in batches (every 15 s by default) stamped with the time each
# forward settled, so a forward can appear after a read that already passed its time: each sync
# reads the last 2 minutes again, and the events' ids keep them stored once.
OVERLAP_S = 120

# (start_s, end_s) -> the node's pages of forwarding events in that window, oldest first (LND).
Pager = Callable[[int, int], AsyncIterator[list[dict[str, Any]]]]
# created_index -> Core Lightning's listforwards pages from there on, as rows.
IndexPager = Callable[[int], AsyncIterator[ForwardPage]]
# (now, since) -> bring the table up to `now` (and back to `since`): one of the two syncs below.
Syncer = Callable[[int, int], Awaitable["SyncStats"]]

_lock = asyncio.Lock()  # one sync at a time: a cycle and a page's summary may ask together


@dataclass
class SyncStats:
    """What the last sync asked the node for (runs' summaries and the tests read it)."""

    windows: list[tuple[int, int]]
    requests: int = 0
    read: int = 0
    new: int = 0
    first: bool = False
    # Core Lightning: the created_index it read from, and the failed forwards it stored
    from_index: Optional[int] = None
    failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


last_sync: Optional[SyncStats] = None


def _int(value: Any) -> int:
    return 0 if value is None or value == "" else int(value)


def event_ns(event: Mapping[str, Any]) -> int:
    return _int(event.get("timestamp_ns")) or _int(event.get("timestamp")) * NS


def _htlc(value: Any) -> int:
    return -1 if value is None or value == "" else int(value)


def event_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """A forward as a row of forward_events (crud.FORWARD_KEY is its identity: the same event
    read twice gives the same key). Its time, channels and HTLC ids (unique per channel; -1
    in events of LND before 0.17, which have none) and the outgoing amount."""
    amt_in, amt_out = _int(event.get("amt_in_msat")), _int(event.get("amt_out_msat"))
    return {
        "ts_ns": event_ns(event),
        "chan_out": int(event.get("chan_id_out")),
        "chan_in": int(event.get("chan_id_in")),
        "htlc_out": _htlc(event.get("outgoing_htlc_id")),
        "htlc_in": _htlc(event.get("incoming_htlc_id")),
        "amt_out_msat": amt_out,
        "fee_msat": _int(event.get("fee_msat")) if event.get("fee_msat") not in (None, "") else amt_in - amt_out,
    }


def event_key(row: Mapping[str, Any]) -> tuple[int, ...]:
    return tuple(row[k] for k in crud.FORWARD_KEY)


async def retention_days() -> int:
    """`forwards_retention_days` of the stored settings (the default when unset or unreadable:
    the sync must not depend on a document that may be invalid)."""
    default = int(APP_DEFAULTS["forwards_retention_days"])
    try:
        document = await crud.get_settings_document() or {}
        value = document.get("forwards_retention_days", default)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
    except Exception as exc:  # the database may be what fails; the sync then fails on it too
        logger.warning(f"feepilot: forwards retention unreadable ({exc}); using {default} days")
        return default


def plan(state: Optional[Mapping[str, Any]], node_id: str, now: int, since: int, keep_from: int
         ) -> tuple[list[tuple[int, int]], int, bool]:
    """(windows to read from the node, the new `synced_from`, start over?) for a sync at `now`
    that must cover `since`. Pure: the rules of the sync in one place.

    - No state, or another node: everything we keep, [keep_from, now].
    - Else what is new, from the last position less the overlap; and once, what is older than
      we hold when a reader needs it (a longer retention, a longer window).
    """
    since = max(since, keep_from)  # never read what would be pruned
    if state is None or state["node_id"] != node_id:
        return [(keep_from, now)], keep_from, state is not None
    held_from = int(state["synced_from"])
    until = min(int(state["synced_until"]), now)
    windows = []
    if since < held_from:
        windows.append((since, min(held_from + OVERLAP_S, now)))
    # after a long pause, what is new but already older than we keep is not read
    windows.append((max(until - OVERLAP_S, keep_from), now))
    return windows, min(held_from, since), False


async def sync(pages: Pager, node_id: str, now: int, since: int) -> SyncStats:
    """Bring the table up to `now` (and back to `since`). Each page is stored as it arrives
    (a re-read stores nothing twice); the position moves only once every window was read."""
    global last_sync
    async with _lock:
        keep_from = now - await retention_days() * DAY
        state = await crud.forwards_sync_state()
        windows, synced_from, reset = plan(state, node_id, now, since, keep_from)
        stats = SyncStats(windows=windows, first=state is None or reset)
        if reset:
            logger.info("feepilot: the node changed: its forwarding history is read from the start")
            await crud.save_forwards_sync(node_id=node_id, synced_from=keep_from, synced_until=keep_from, reset=True)
        for start, end in windows:
            # the stored keys of the window: an overlap read again is not counted (nor stored) twice.
            # The node's pages of one window do not overlap (index_offset): nothing is added to this
            # set while they are read (a first sync of 600,000 forwards would hold them all).
            known = set() if stats.first else await crud.forward_keys_between(start * NS, end * NS)
            async for page in pages(start, end):
                stats.requests += 1
                stats.read += len(page)
                rows = [row for row in map(event_row, page) if event_key(row) not in known]
                stats.new += len(rows)
                if rows:  # stored page by page: a sync cut off keeps what it read, and its old position
                    await crud.insert_forwards(rows)
        await crud.save_forwards_sync(node_id=node_id, synced_from=synced_from, synced_until=now)
        last_sync = stats
        return stats


def by_time(pages: Pager, node_id: str) -> Syncer:
    """LND's sync: windows of time (`/v1/switch`)."""
    return lambda now, since: sync(pages, node_id, now, since)


def by_index(pages: IndexPager, node_id: str) -> Syncer:
    """Core Lightning's sync: created indexes (`listforwards`); it reads everything new whatever
    `since` asks (the node keeps no time index)."""
    return lambda now, since: sync_by_index(pages, node_id, now)


async def sync_by_index(pages: IndexPager, node_id: str, now: int) -> SyncStats:
    """Core Lightning: read `listforwards` from the entry after the last one we hold (by
    created_index), store its settled forwards (forward_events) and its failed ones
    (link_failures) page by page, and move the position to the last entry read. A forward still
    in flight (`offered`) keeps the position before it: it settles or fails later under the same
    created_index, and is read again until it has (what was stored meanwhile is stored once).
    Another node, or no position yet, starts from the first entry; what is older than we keep
    is read and not stored (listforwards has no time index)."""
    global last_sync
    async with _lock:
        keep_from = now - await retention_days() * DAY
        state = await crud.forwards_sync_state()
        position = state.get("created_index") if state is not None and state["node_id"] == node_id else None
        first = position is None
        if state is not None and state["node_id"] != node_id:
            logger.info("feepilot: the node changed: its forwarding history is read from the start")
            await crud.save_forwards_sync(node_id=node_id, synced_from=keep_from, synced_until=keep_from, reset=True)
        start = 1 if first else int(position) + 1
        since = keep_from if first else max(min(int(state["synced_until"]), now), keep_from)  # type: ignore[index]
        stats = SyncStats(windows=[(since, now)], first=first, from_index=start)
        last, held = start - 1, None
        async for page in pages(start):
            stats.requests += 1
            stats.read += page.read
            rows = [asdict(r) for r in page.settled if r.ts_ns >= keep_from * NS]
            failures = [asdict(r) for r in page.failed if r.ts_ns >= keep_from * NS]
            if rows:  # stored page by page: a sync cut off keeps what it read, and its old position
                await crud.insert_forwards(rows)
                stats.new += len(rows)
            if failures:
                stats.failures += await crud.insert_failed_forwards(failures)
            if held is None and page.first_offered is not None:
                held = page.first_offered
            last = max(last, page.last_index)
        position = held - 1 if held is not None else last
        synced_from = keep_from if first else min(int(state["synced_from"]), now)  # type: ignore[index]
        await crud.save_forwards_sync(node_id=node_id, synced_from=synced_from, synced_until=now, created_index=position)
        last_sync = stats
        return stats


async def flows(sync_to: Syncer, now: int, windows: Sequence[int]) -> dict[str, dict[int, FlowStats]]:
    """Per channel, per window (days, ending at `now`): its forwarding stats, after a sync. The
    engine's snapshot reads these sums, not the forwards: a cycle's work does not grow with them."""
    await sync_to(now, now - max(windows) * DAY)
    sums: dict[str, dict[int, list[int]]] = {}
    per_window = await crud.forward_sums([((now - days * DAY) * NS, now * NS) for days in windows])
    for days, per_channel in zip(windows, per_window):
        for chan, values in per_channel.items():
            sums.setdefault(chan, {})[days] = values
    # thousands of FlowStats on a big node (a stall of up to 150 ms measured on the loop)
    return await asyncio.to_thread(flows_from_sums, sums)


async def events(sync_to: Syncer, now: int, days: int) -> list[dict[str, Any]]:
    """The forwards of [now − days, now] (seconds, both included, as `/v1/switch`'s window),
    oldest first, in the shape of LND's ForwardingEvent, after a sync."""
    since = now - days * DAY
    await sync_to(now, since)
    return await crud.forwards_between(since * NS, now * NS)


async def totals(sync_to: Syncer, now: int, windows: Sequence[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Node-wide (count, fees msat, volume sat) of the forwards in each [start, end) window
    (seconds, ending at most at `now` + 1), after a sync back to the earliest start."""
    await sync_to(now, min(start for start, _ in windows))
    return [await crud.forward_totals(start * NS, end * NS) for start, end in windows]
