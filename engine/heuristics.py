"""The eight channel heuristics: pure functions ChannelContext -> HeuristicResult.

Each returns a score in [0, 1] (1 = healthy / valuable) with the numbers it used, or
an unknown result when its data is missing. Formulas are documented in README.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from .graph_metrics import GraphMetrics, NodeMetrics, Reach, effective_ppm
from .history import DAY, last_change_at, reversals_since
from .settings import EngineSettings
from .snapshot import INACTIVE, Channel, ChangeRecord, FlowStats

BLOCK_SECONDS = 600


@dataclass(frozen=True)
class ChannelContext:
    """Everything known about one channel at evaluation time."""

    channel: Channel
    settings: EngineSettings
    now: int
    block_height: Optional[int]
    history: Sequence[ChangeRecord]  # this channel's changes, oldest first
    metrics: Optional[GraphMetrics] = None
    peer: Optional[NodeMetrics] = None  # the peer in the public graph
    reach: Optional[Reach] = None

    @property
    def age_days(self) -> Optional[float]:
        c = self.channel
        if c.funding_height is None or self.block_height is None or c.funding_height <= 0:
            return None
        return max(0, self.block_height - c.funding_height) * BLOCK_SECONDS / DAY

    def flow(self, days: int) -> Optional[FlowStats]:
        return self.channel.flow.get(days) if self.channel.flow else None


@dataclass(frozen=True)
class HeuristicResult:
    name: str
    score: Optional[float]  # None = unknown (no data), else in [0, 1]
    evidence: Dict[str, Any] = field(default_factory=dict)
    note: str = ""  # one line: what the score says, or why it is unknown

    @property
    def known(self) -> bool:
        return self.score is not None


def _unknown(name: str, why: str, **evidence: Any) -> HeuristicResult:
    return HeuristicResult(name=name, score=None, evidence=dict(evidence), note=why)


def _result(name: str, score: float, note: str, **evidence: Any) -> HeuristicResult:
    return HeuristicResult(name=name, score=round(clamp01(score), 4), evidence=dict(evidence), note=note)


def clamp01(x: float) -> float:
    if x != x:  # NaN
        return 0.0
    return 0.0 if x < 0 else 1.0 if x > 1 else float(x)


def saturate(x: float, half: float) -> float:
    """x / (x + half): 0 at 0, 0.5 at `half`, tends to 1."""
    if x <= 0 or half <= 0:
        return 0.0 if x <= 0 else 1.0
    return x / (x + half)


def _r(x: Optional[float], digits: int = 4) -> Optional[float]:
    return None if x is None else round(float(x), digits)


# --- 1. centrality ------------------------------------------------------------


def centrality(ctx: ChannelContext) -> HeuristicResult:
    """How central the peer is: 0.6 betweenness percentile + 0.4 closeness percentile."""
    name = "centrality"
    if ctx.metrics is None:
        return _unknown(name, "graph metrics not available")
    peer = ctx.peer
    if peer is None or peer.degree == 0:
        return _unknown(name, "peer has no routable public channel in the graph")
    if not peer.in_main_component:
        return _result(name, 0.0, "peer is outside the main network component",
                       betweenness=0.0, degree=peer.degree)
    if peer.closeness_pct is None:
        score = peer.betweenness_pct
    else:
        score = 0.6 * peer.betweenness_pct + 0.4 * peer.closeness_pct
    return _result(
        name, score,
        f"peer betweenness in the top {100 * (1 - peer.betweenness_pct):.1f} % of nodes",
        betweenness=_r(peer.betweenness, 6),
        betweenness_pct=_r(peer.betweenness_pct),
        closeness=_r(peer.closeness),
        closeness_pct=_r(peer.closeness_pct),
        samples=ctx.metrics.samples,
        exact=ctx.metrics.exact,
    )


# --- 2. liquidity balance -----------------------------------------------------


def liquidity(ctx: ChannelContext) -> HeuristicResult:
    """1 inside the target band of local share, falling linearly to 0 at empty/full."""
    name = "liquidity"
    c = ctx.channel
    total = c.local_sat + c.remote_sat
    if total <= 0 or c.local_sat < 0 or c.remote_sat < 0:
        return _unknown(name, "no balance known", local_sat=c.local_sat, remote_sat=c.remote_sat)
    low, high = ctx.settings.liquidity.target_low, ctx.settings.liquidity.target_high
    share = c.local_sat / total
    if share < low:
        score, note = share / low, f"outbound {share:.0%} is below the {low:.0%} target"
    elif share > high:
        score, note = (1 - share) / (1 - high), f"outbound {share:.0%} is above the {high:.0%} target"
    else:
        score, note = 1.0, f"outbound {share:.0%} is inside the {low:.0%}–{high:.0%} target"
    return _result(name, score, note, local_share=_r(share), local_sat=c.local_sat,
                   remote_sat=c.remote_sat, target_low=low, target_high=high)


# --- 3. forward activity ------------------------------------------------------


def activity(ctx: ChannelContext) -> HeuristicResult:
    """0.5 saturate(weekly turnover) + 0.5 saturate(annualised fee yield on capacity)."""
    name = "activity"
    a = ctx.settings.activity
    c = ctx.channel
    if c.capacity_sat <= 0:
        return _unknown(name, "capacity unknown")
    windows = [(d, ctx.flow(d)) for d in (a.short_window_days, a.long_window_days)]
    windows = [(d, f) for d, f in windows if f is not None and d > 0]
    if not windows:
        return _unknown(name, "no forwarding history for this channel's windows")
    turnovers = [(f.volume_out_sat + f.volume_in_sat) / c.capacity_sat * 7 / d for d, f in windows]
    weekly = sum(turnovers) / len(turnovers)
    days, longest = max(windows, key=lambda w: w[0])
    fees_sat = (longest.fees_earned_msat + a.assisted_fee_weight * longest.fees_assisted_msat) / 1000
    annual_yield = fees_sat / c.capacity_sat * 365 / days
    score = 0.5 * saturate(weekly, a.turnover_half_weekly) + 0.5 * saturate(annual_yield, a.yield_half_annual)
    return _result(
        name, score,
        f"{weekly:.0%} of capacity forwarded per week, {annual_yield:.2%} yearly fee yield",
        weekly_turnover=_r(weekly), annual_yield=_r(annual_yield, 6), yield_window_days=days,
        forwards_out=longest.forwards_out, forwards_in=longest.forwards_in,
        fees_earned_msat=longest.fees_earned_msat, fees_assisted_msat=longest.fees_assisted_msat,
    )


# --- 4. fee competitiveness ---------------------------------------------------


def competitiveness(ctx: ChannelContext) -> HeuristicResult:
    """Closeness of our fee to the competitors' median: 1 / (1 + (log2(r) / 1.5)^2)."""
    name = "competitiveness"
    c = ctx.channel
    if c.local_policy is None:
        return _unknown(name, "our policy is unknown")
    if ctx.metrics is None:
        return _unknown(name, "graph metrics not available")
    peer = ctx.peer
    if peer is None or peer.competitor_channels == 0 or peer.competitor_fee_median_ppm is None:
        return _unknown(name, "no other channel into this peer to compare with")
    ref = ctx.settings.graph.reference_amount_sat
    ours = effective_ppm(c.local_policy, ref)
    median = peer.competitor_fee_median_ppm
    ratio = (ours + 10) / (median + 10)  # +10 ppm keeps 0-fee channels comparable
    score = 1 / (1 + (math.log2(ratio) / 1.5) ** 2)
    where = "above" if ratio > 1 else "below" if ratio < 1 else "at"
    return _result(
        name, score,
        f"our {ours:.0f} ppm is {where} the competitors' median {median:.0f} ppm",
        our_effective_ppm=_r(ours, 1), competitor_median_ppm=_r(median, 1), ratio=_r(ratio, 3),
        competitor_channels=peer.competitor_channels, competitor_capacity_sat=peer.competitor_capacity_sat,
        reference_amount_sat=ref,
    )


# --- 5. uptime & reliability --------------------------------------------------


def uptime(ctx: ChannelContext) -> HeuristicResult:
    """Monitored uptime ratio x flap factor; falls back to online-now when not monitored."""
    name = "uptime"
    c = ctx.channel
    evidence: Dict[str, Any] = {}
    if c.lifetime_s and c.lifetime_s > 0 and c.uptime_s is not None:
        ratio = clamp01(c.uptime_s / c.lifetime_s)
        evidence.update(uptime_ratio=_r(ratio), lifetime_s=c.lifetime_s)
        note = f"peer online {ratio:.0%} of the monitored time"
    elif c.peer_online is not None:
        ratio = 0.9 if c.peer_online else 0.2
        evidence.update(peer_online=c.peer_online)
        note = "peer online now (no uptime record)" if c.peer_online else "peer offline now"
    elif c.state == INACTIVE:
        ratio = 0.1
        evidence.update(state=c.state)
        note = "channel inactive now (no uptime record)"
    else:
        return _unknown(name, "no uptime or peer status known")
    flap_factor = 1.0
    if c.peer_flap_count is not None and c.peer_flap_count > 0:
        days = max(1.0, (c.lifetime_s or 0) / DAY)
        flap_factor = 1 / (1 + c.peer_flap_count / days)
        evidence.update(flap_count=c.peer_flap_count, flaps_per_day=_r(c.peer_flap_count / days, 3))
        note += f", {c.peer_flap_count} reconnects"
    if c.state == INACTIVE and "state" not in evidence:
        flap_factor *= 0.5
        evidence.update(state=c.state)
        note += ", inactive now"
    return _result(name, ratio * flap_factor, note, **evidence)


# --- 6. age & stability -------------------------------------------------------


def stability(ctx: ChannelContext) -> HeuristicResult:
    """0.4 age (full at 30 days) + 0.3 calm since last change (full at 7 days)
    + 0.3 few reversals; parts without data are left out."""
    name = "stability"
    ao = ctx.settings.anti_oscillation
    age = ctx.age_days
    last = last_change_at(ctx.history)
    if age is None and last is None:
        return _unknown(name, "channel age unknown and no change recorded")
    parts = []
    evidence: Dict[str, Any] = {"age_days": _r(age, 1), "changes_recorded": len(ctx.history)}
    if age is not None:
        parts.append((0.4, min(1.0, age / 30)))
    days_since = None if last is None else max(0.0, (ctx.now - last) / DAY)
    parts.append((0.3, 1.0 if days_since is None else min(1.0, days_since / 7)))
    window_start = ctx.now - ao.reversal_window_days * DAY
    flips = reversals_since(ctx.history, window_start)
    parts.append((0.3, max(0.0, 1 - flips / (ao.max_reversals + 1))))
    evidence.update(days_since_change=_r(days_since, 2), reversals=flips,
                    reversal_window_days=ao.reversal_window_days)
    score = sum(w * v for w, v in parts) / sum(w for w, _ in parts)
    age_words = "age unknown" if age is None else f"{age:.0f} days old"
    change_words = "never changed" if days_since is None else f"last change {days_since:.1f} days ago"
    return _result(name, score, f"{age_words}, {change_words}, {flips} reversals", **evidence)


# --- 7. peer quality ----------------------------------------------------------


def _fee_sanity(ppm: Optional[float]) -> float:
    if ppm is None or ppm <= 2000:
        return 1.0
    return clamp01(1 - math.log2(ppm / 2000) / 3)  # 16,000 ppm -> 0


def peer_quality(ctx: ChannelContext) -> HeuristicResult:
    """0.4 capacity (log, 0.01 BTC..100 BTC) + 0.3 channel count (log, 1..1000)
    + 0.3 fee sanity (own median <= 2000 ppm, times 1 - half its disabled share)."""
    name = "peer_quality"
    if ctx.metrics is None:
        return _unknown(name, "graph metrics not available")
    peer = ctx.peer
    if peer is None or peer.channels == 0:
        return _unknown(name, "peer has no routable public channel in the graph")
    cap_score = clamp01(math.log10(max(1, peer.capacity_sat) / 1e6) / 4)
    count_score = clamp01(math.log10(max(1, peer.channels)) / 3)
    sanity = _fee_sanity(peer.own_fee_median_ppm) * (1 - 0.5 * peer.own_disabled_share)
    score = 0.4 * cap_score + 0.3 * count_score + 0.3 * sanity
    return _result(
        name, score,
        f"peer has {peer.channels} channels, {peer.capacity_sat / 1e8:.2f} BTC",
        capacity_sat=peer.capacity_sat, channels=peer.channels,
        own_fee_median_ppm=_r(peer.own_fee_median_ppm, 1),
        disabled_share=_r(peer.own_disabled_share), fee_sanity=_r(sanity),
    )


# --- 8. network position ------------------------------------------------------


def network_position(ctx: ChannelContext) -> HeuristicResult:
    """0.5 peer degree percentile (hub vs edge) + 0.5 saturate(unique reach, 10)."""
    name = "network_position"
    if ctx.metrics is None:
        return _unknown(name, "graph metrics not available")
    peer = ctx.peer
    if peer is None or peer.degree == 0 or ctx.reach is None:
        return _unknown(name, "peer has no routable public channel in the graph")
    unique = ctx.reach.unique
    score = 0.5 * peer.degree_pct + 0.5 * saturate(unique, 10)
    kind = "hub" if peer.degree_pct >= 0.9 else "edge node" if peer.degree_pct < 0.5 else "mid node"
    return _result(
        name, score,
        f"peer is a {kind} ({peer.degree} neighbours); {unique} nodes two hops out only through it",
        degree=peer.degree, degree_pct=_r(peer.degree_pct),
        second_hop=ctx.reach.second_hop, unique_reach=unique,
    )


HEURISTICS: Tuple[Tuple[str, Callable[[ChannelContext], HeuristicResult]], ...] = (
    ("centrality", centrality),
    ("liquidity", liquidity),
    ("activity", activity),
    ("competitiveness", competitiveness),
    ("uptime", uptime),
    ("stability", stability),
    ("peer_quality", peer_quality),
    ("network_position", network_position),
)


def run_all(ctx: ChannelContext) -> Tuple[HeuristicResult, ...]:
    return tuple(fn(ctx) for _, fn in HEURISTICS)
