"""Did it help, is it earning: the summary band (GET /summary) and the impact of applied
changes (GET /changes, /changes/{id}, /channels/{id}/history, /runs/{id}).

The shell around engine/impact.py. The summary's windows (engine.impact.period_windows) are
summed by the database from the forwarding history Fee Autopilot keeps (synced first), so a
request reads a few numbers, not 60 days of forwards. The impacts read the history of the
changes' windows once per request, through the same gateway as services.earnings, the channels'
stored balances (channel_days) and the change log, and leave the windows and sums to the pure module (in a worker
thread, so LNbits' event loop keeps serving while a long history is indexed).

The change log stays readable when the node is not: impacts are then null and
`impact_error` says why; the summary, which is only about the node, answers the node's
error (502/503) as /earnings does.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from . import crud
from .clock import now
from .engine.impact import (
    DAY,
    IMPACT_WINDOW_S,
    AppliedChange,
    ForwardIndex,
    Impact,
    Totals,
    ShareSample,
    change_impact,
    channel_counts,
    forwards_from_lnd,
    impact_window,
    period_windows,
    periods_from_totals,
    run_impact,
    yield_annual_pct,
)
from .models import (
    ActivityOut,
    ChannelCountsOut,
    ImpactOut,
    PeriodOut,
    RunImpactOut,
    SummaryOut,
)
from .node import NodeCallError, NodeUnavailable
from .resilience import OPEN, breaker
from .services import StoredSettingsInvalid, current_gateway, load_engine_settings

APPLIED = "applied"
ACTIVITY_DEFAULT_S = 7 * DAY  # `activity` without `since`: the last 7 days
# A change applied longer ago gets no impact: its forwarding history is not read (a year is
# what GET /earnings reads at most, too).
IMPACT_MAX_AGE_S = 365 * DAY
# Apply-time blocks are recorded in their run's batches; a run is applied soon after it is
# computed, so runs created up to this long before `since` are looked at for batches after it.
BATCH_LOOKBACK_S = 7 * DAY
CYCLE_KINDS = ("shadow", "autopilot")


# --- the summary -------------------------------------------------------------------------------------


async def summary(since: Optional[int]) -> SummaryOut:
    """Fees, forwards and volume over 1, 7 and 30 days against the windows before, the yield on
    capacity, the channels' balance now and what Fee Autopilot did since `since` (7 days)."""
    _, settings = await load_engine_settings()
    drained_below = settings.decisions.flow_censor_share
    full_above = 1 - drained_below
    gateway = await current_gateway()
    at = now()
    channels = (await gateway.channels()).channels
    # summed by the database, by the windows and rule of engine.impact (period_windows)
    sums = await gateway.forward_totals(at, period_windows(at))
    windows = periods_from_totals([Totals(*t) for t in sums])
    counts = channel_counts(channels, drained_below, full_above)
    month = next(p for p in windows if p.key == "30d")
    activity_since = since if since is not None else at - ACTIVITY_DEFAULT_S
    return SummaryOut(
        at=at,
        periods=[
            PeriodOut(
                key=p.key,
                label=p.label,
                days=p.days,
                fees_sat=p.current.fees_sat,
                forwards=p.current.forwards,
                volume_sat=p.current.volume_sat,
                previous_fees_sat=p.previous.fees_sat,
                previous_forwards=p.previous.forwards,
                previous_volume_sat=p.previous.volume_sat,
                change_pct=p.change_pct,
            )
            for p in windows
        ],
        capacity_sat=counts.capacity_sat,
        yield_annual_pct=yield_annual_pct(month.current.fees_msat, counts.capacity_sat, month.days),
        channels=ChannelCountsOut(open=counts.open, active=counts.active, drained=counts.drained, full=counts.full),
        drained_below=drained_below,
        full_above=full_above,
        since=since,
        activity_since=activity_since,
        activity=await activity(activity_since),
    )


async def activity(since: int) -> ActivityOut:
    """What Fee Autopilot did since `since` (see ActivityOut): from the change log and the runs.

    `blocked` counts both kinds of block, also given apart: proposals the apply-time re-check
    blocked (from the batches recorded since `since`, in runs created at most 7 days before it)
    and decisions of shadow and autopilot cycles that a guardrail blocked when they were scored
    (dry-runs and manual runs are the operator's previews and are not counted)."""
    counts = await crud.change_counts_since(since)

    def total(match) -> int:
        return sum(n for source, status, undo, n in counts if match(source, status, undo))

    at_apply = sum(
        int((batch.get("counts") or {}).get("blocked", 0))
        for batch in await crud.run_batches_since(since - BATCH_LOOKBACK_S)
        if batch.get("kind", "apply") == "apply" and int(batch.get("at") or 0) >= since
    )
    in_cycles = await crud.count_blocked_decisions_since(since, CYCLE_KINDS)
    return ActivityOut(
        runs=await crud.count_runs_since(since),
        applied=total(lambda source, status, undo: source in ("autopilot", "manual") and status == APPLIED and not undo),
        restored=total(lambda source, status, undo: (source == "rollback" or undo) and status == APPLIED),
        blocked=at_apply + in_cycles,
        blocked_at_apply=at_apply,
        blocked_in_cycles=in_cycles,
        failed=total(lambda source, status, undo: status == "failed"),
        external=total(lambda source, status, undo: source == "external"),
    )


# --- impact of applied changes --------------------------------------------------------------------------


def applied_at(change: Mapping[str, Any]) -> int:
    return int(change.get("settled_at") or change["created_at"])


@dataclass(frozen=True)
class Impacts:
    """change id -> its impact, for the applied changes of one answer; `error` says why there are
    none when the forwarding history could not be read."""

    by_change: Mapping[str, Impact] = field(default_factory=dict)
    error: Optional[str] = None

    def out(self, change_id: str) -> Optional[ImpactOut]:
        return ImpactOut.of(self.by_change.get(change_id))


@dataclass(frozen=True)
class RunImpact:
    impact: Optional[Impact] = None
    error: Optional[str] = None

    def out(self) -> Optional[RunImpactOut]:
        return RunImpactOut.of(self.impact)


@dataclass(frozen=True)
class _History:
    """What the windows of some applied changes need, read once."""

    changes: tuple[AppliedChange, ...]
    events: list[dict[str, Any]]
    shares: Mapping[str, list[tuple[int, int, int]]]  # crud.channel_shares
    at: int


def _eligible(changes: Sequence[Mapping[str, Any]], at: int) -> list[Mapping[str, Any]]:
    return [c for c in changes if c["status"] == APPLIED and at - applied_at(c) <= IMPACT_MAX_AGE_S]


async def _read_history(changes: Sequence[Mapping[str, Any]]) -> tuple[Optional[_History], Optional[str]]:
    """The forwards and the channels' balances around these applied changes, and the later changes of their
    channels; (None, why) when the node cannot tell."""
    at = now()
    chosen = _eligible(changes, at)
    if not chosen:
        return None, None
    later = await crud.applied_changes_of_channels(
        sorted({c["chan_id"] for c in chosen}), min(int(c["created_at"]) for c in chosen)
    )
    applied = tuple(
        AppliedChange(
            change_id=c["id"],
            chan_id=c["chan_id"],
            at=applied_at(c),
            later_at=tuple(applied_at(l) for l in later if l["chan_id"] == c["chan_id"] and l["seq"] > c["seq"]),
        )
        for c in chosen
    )
    first = min(c.at - impact_window(c.at, at) for c in applied)
    if breaker.state == OPEN:
        return None, "The node keeps failing (circuit breaker open): the forwarding history was not read"
    try:
        gateway = await current_gateway()
        events = await gateway.forwards(at, max(1, math.ceil((at - first) / DAY)))
    except StoredSettingsInvalid as exc:
        return None, str(exc)
    except NodeUnavailable as exc:
        return None, str(exc)
    except NodeCallError as exc:
        return None, f"The node did not answer: {exc}"
    shares = await crud.channel_shares(sorted({c.chan_id for c in applied}), first,
                                       max(c.at for c in applied) + IMPACT_WINDOW_S)
    return _History(applied, events, shares, at), None


def _share_samples(shares: Mapping[str, list[tuple[int, int, int]]]) -> dict[str, list[ShareSample]]:
    return {chan_id: [ShareSample(at, local / (local + remote)) for at, local, remote in points if local + remote > 0]
            for chan_id, points in shares.items()}


def _change_impacts(history: _History) -> dict[str, Impact]:
    index = ForwardIndex(forwards_from_lnd(history.events))
    samples = _share_samples(history.shares)
    return {c.change_id: change_impact(index, c, history.at, samples.get(c.chan_id, ())) for c in history.changes}


def _run_impact(history: _History) -> Optional[Impact]:
    index = ForwardIndex(forwards_from_lnd(history.events))
    samples = _share_samples(history.shares)
    return run_impact(index, history.changes, history.at, samples)


async def change_impacts(changes: Sequence[Mapping[str, Any]]) -> Impacts:
    """The impact of each applied change among `changes` (one read of the forwarding history)."""
    history, error = await _read_history(changes)
    if history is None:
        return Impacts(error=error)
    return Impacts(by_change=await asyncio.to_thread(_change_impacts, history))


async def run_impact_of(run_id: str) -> RunImpact:
    """A run's applied changes (rollbacks aside) summed over windows of one length."""
    rows, _ = await crud.list_changes(run_id=run_id, status=APPLIED, limit=10_000, oldest_first=True)
    rows = [r for r in rows if not r.get("rollback_of") and r["source"] != "rollback"]
    history, error = await _read_history(rows)
    if history is None:
        return RunImpact(error=error)
    return RunImpact(impact=await asyncio.to_thread(_run_impact, history))
