"""Bounded storage (issue 15): what grows with every run is pruned after its retention setting.

| what | setting (default) |
|---|---|
| the channels' series, the serialised latest scores (and the per-run scores and snapshots older versions wrote) | `retention_days` (90) |
| every decision of a run; afterwards the run keeps the decisions the change log names | `decisions_retention_days` (5) |
| runs and what is left of their decisions (not the runs the change log names; never before their scores) | `runs_retention_days` (365) |
| the forwarding history we keep: settled forwards, and the failed ones the HTLC event stream reported | `forwards_retention_days` (400) |

The change log (changes and their events) and the settings history are never pruned: they
are small and the audit trail. Notifications are not stored (the last 20, in memory).

Pruning has its own schedule, every PRUNE_INTERVAL_S of the extension's clock, in every mode
(also "off"): tasks.py calls `maybe_prune` on every tick.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from loguru import logger

from . import crud
from .app_settings import APP_DEFAULTS
from .clock import now

DAY = 86400
PRUNE_INTERVAL_S = 3600

_last_pruned_at: Optional[int] = None


async def prune(document: Mapping[str, Any], at: Optional[int] = None) -> dict[str, int]:
    """Prune everything past its retention now; the counts of what went."""
    from .change_service import IN_FLIGHT_RUN_STATUSES

    at = at if at is not None else now()
    counts = await crud.prune_scores_and_snapshots(at - int(document["retention_days"]) * DAY)
    decisions_days = int(document.get("decisions_retention_days", APP_DEFAULTS["decisions_retention_days"]))
    counts.update(await crud.prune_decisions(at - decisions_days * DAY))
    # a run stays at least as long as its scores (GET /scores and the history show their run): not a
    # validation rule, so a document stored before the setting existed stays valid
    runs_days = max(int(document["runs_retention_days"]), int(document["retention_days"]))
    counts.update(await crud.prune_runs(at - runs_days * DAY, IN_FLIGHT_RUN_STATUSES))
    counts["forwards"] = await crud.prune_forwards(at - int(document["forwards_retention_days"]) * DAY)
    counts["failed_forwards"] = await crud.prune_failed_forwards(at - int(document["forwards_retention_days"]) * DAY)
    return counts


async def maybe_prune(document: Mapping[str, Any]) -> Optional[dict[str, int]]:
    """Prune when the last pruning is PRUNE_INTERVAL_S old (and at the first tick after a
    start); None when not due. A failure is the caller's to report; it is retried next tick."""
    global _last_pruned_at
    at = now()
    if _last_pruned_at is not None and 0 <= at - _last_pruned_at < PRUNE_INTERVAL_S:
        return None
    counts = await prune(document, at)
    _last_pruned_at = at
    if any(counts.values()):
        logger.info(f"feepilot: pruned {counts}")
    return counts
