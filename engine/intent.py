"""What a pricing strategy answers for one channel: a fee intent, and the helpers every
strategy shares (the market reference, the smallest change, the new-channel grace).

A fee intent says which way and how far to move the ppm and why; guardrails later
clamp or block it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .graph_metrics import effective_ppm
from .heuristics import ChannelContext
from .settings import EngineSettings

NO_ACTION = "NO_ACTION"
INCREASE_FEES = "INCREASE_FEES"
DECREASE_FEES = "DECREASE_FEES"
REBALANCE = "REBALANCE"
CLOSE_CHANNEL = "CLOSE_CHANNEL"
ACTIONS = (NO_ACTION, INCREASE_FEES, DECREASE_FEES, REBALANCE, CLOSE_CHANNEL)

# why a fee intent is NO_ACTION
HOLD_NOT_OPEN = "not_open"  # pending or closed: nothing to price
HOLD_NO_POLICY = "no_policy"  # our policy is unknown
HOLD_DEAD_BAND = "dead_band"  # the step is too small to be a signal
HOLD_GRACE = "grace"  # a new channel is not cut yet
HOLD_AT_FEE = "at_fee"  # the step rounds to the current fee
HOLD_NO_SCORE = "no_score"  # score mode without a score
HOLD_HEALTHY = "healthy"  # the score is at or above hold_score
HOLD_SCORE_BAND = "score_band"  # score mode: between the lower and the hold bands


@dataclass(frozen=True)
class FeeIntent:
    action: str  # NO_ACTION / INCREASE_FEES / DECREASE_FEES
    old_ppm: Optional[int]
    target_ppm: Optional[int]
    pressure: float  # -1 (cut hard) .. +1 (raise hard)
    signals: Dict[str, float] = field(default_factory=dict)
    facts: Dict[str, Any] = field(default_factory=dict)  # numbers used by the reason
    why: str = ""  # plain-words cause, e.g. "Outbound 8 % and 1.2 M sat net outflow in 7 days"
    hold_reason: str = ""  # when NO_ACTION: why nothing is proposed
    hold: str = ""  # when NO_ACTION: which kind of hold (HOLD_*), for the headline


@dataclass(frozen=True)
class InboundIntent:
    """The inbound discount a managed channel should have (before the guardrails): an inbound
    ppm of 0 or below, and why in plain words."""

    ppm: int
    why: str = ""
    facts: Dict[str, Any] = field(default_factory=dict)


def fmt_sat(sat: float) -> str:
    a = abs(sat)
    if a >= 1_000_000:
        return f"{sat / 1_000_000:.1f} M sat"
    if a >= 10_000:
        return f"{sat / 1_000:.0f} k sat"
    return f"{sat:.0f} sat"


def pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def in_grace(ctx: ChannelContext) -> bool:
    age = ctx.age_days
    return age is not None and age < ctx.settings.anti_oscillation.new_channel_grace_days


def competitor_reference(ctx: ChannelContext) -> Optional[float]:
    peer = ctx.peer
    if peer is None or peer.competitor_fee_median_ppm is None or peer.competitor_channels == 0:
        return None
    return peer.competitor_fee_median_ppm


def min_change_ppm(old_ppm: int, settings: EngineSettings) -> int:
    ao = settings.anti_oscillation
    return max(int(ao.min_change_ppm), int(math.ceil(ao.min_change_pct * old_ppm)))


def describe(ctx: ChannelContext) -> Tuple[Dict[str, Any], List[str]]:
    """The channel's state as facts and short phrases, for the reason of any strategy: the local
    share when outside the target band, the net flow of the short window, failed forwards, and
    the fee against the competitors' median when that stands out."""
    s = ctx.settings
    c = ctx.channel
    facts: Dict[str, Any] = {}
    words: List[str] = []
    total = c.local_sat + c.remote_sat
    share = c.local_sat / total if total > 0 else None
    low, high = s.liquidity.target_low, s.liquidity.target_high
    if share is not None:
        facts["local_share"] = round(share, 4)
        if share < low or share > high:
            words.append(f"Outbound {pct(share)}")
    days = s.activity.short_window_days
    flow = ctx.flow(days)
    if flow is not None and c.capacity_sat > 0:
        net = flow.volume_out_sat - flow.volume_in_sat
        facts.update(net_outflow_sat=net, flow_window_days=days, forwards_out=flow.forwards_out)
        if flow.forwards_out == 0 and flow.forwards_in == 0 and share is not None and share >= low:
            words.append(f"no forwards in {days} days")
        elif abs(net) >= 0.01 * c.capacity_sat:
            words.append(f"{fmt_sat(abs(net))} {'net outflow' if net > 0 else 'net inflow'} in {days} days")
    if c.failed_out_1d is not None and c.failed_out_1d > 0:
        facts["failed_out_1d"] = c.failed_out_1d
        words.append(f"{c.failed_out_1d} forwards failed for lack of balance in 1 day")
    ref = competitor_reference(ctx)
    if ref is not None and c.local_policy is not None:
        ours = effective_ppm(c.local_policy, s.graph.reference_amount_sat)
        ratio = (ours + 10) / (ref + 10)
        facts.update(competitor_median_ppm=round(ref, 1), competitor_ratio=round(ratio, 3))
        idle_out = flow is not None and flow.forwards_out == 0
        if (ratio > 2 and idle_out) or (ratio < 0.5 and share is not None and share < low):
            words.append(f"fee {ratio:.1f}x the competitors' median {ref:.0f} ppm")
    return facts, words
