"""From scores and signals to an intent per channel (before guardrails).

`decide_fee` does what every pricing strategy shares (nothing to price on a closed channel or
an unknown policy; a new channel priced well below the market is first raised to it) and hands
the rest to the strategy the settings name (engine/strategies/). REBALANCE and CLOSE_CHANNEL
are advice only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .graph_metrics import effective_ppm
from .heuristics import ChannelContext
from .intent import (  # noqa: F401  (the names other modules import from here)
    ACTIONS,
    CLOSE_CHANNEL,
    DECREASE_FEES,
    HOLD_AT_FEE,
    HOLD_DEAD_BAND,
    HOLD_GRACE,
    HOLD_HEALTHY,
    HOLD_NO_POLICY,
    HOLD_NO_SCORE,
    HOLD_NOT_OPEN,
    HOLD_SCORE_BAND,
    INCREASE_FEES,
    NO_ACTION,
    REBALANCE,
    FeeIntent,
    competitor_reference,
    describe,
    fmt_sat,
    in_grace,
    min_change_ppm,
    pct,
)
from .settings import EngineSettings
from .snapshot import ACTIVE, Channel
from .strategies import strategy


@dataclass(frozen=True)
class Advice:
    kind: str  # REBALANCE or CLOSE_CHANNEL
    reason: str
    amount_sat: int = 0
    sources: Tuple[str, ...] = ()  # chan_ids to take liquidity from
    max_fee_sat: int = 0
    max_fee_ppm: int = 0
    evidence: Dict[str, Any] = field(default_factory=dict)


def initial_fee_ppm(ctx: ChannelContext) -> int:
    """Fee for a new channel: competitors' median into the peer x multiplier, else default."""
    nc = ctx.settings.new_channels
    ref = competitor_reference(ctx)
    if ref is None:
        return int(nc.default_ppm)
    return max(0, int(round(ref * nc.reference_multiplier)))


def decide_fee(ctx: ChannelContext, score: Optional[float]) -> FeeIntent:
    s = ctx.settings
    c = ctx.channel
    policy = c.local_policy
    if c.state not in (ACTIVE, "inactive"):
        return FeeIntent(NO_ACTION, None, None, 0.0, hold=HOLD_NOT_OPEN,
                         hold_reason=f"{c.state} channel: no fee proposal")
    if policy is None:
        return FeeIntent(NO_ACTION, None, None, 0.0, hold=HOLD_NO_POLICY,
                         hold_reason="our policy is unknown: nothing to change")
    old = policy.ppm
    # New channel never priced by us: move to the reference (raise only).
    if in_grace(ctx) and not ctx.history and s.new_channels.set_initial_fee:
        initial = initial_fee_ppm(ctx)
        if old < s.new_channels.reprice_below_share * initial and initial - old >= min_change_ppm(old, s):
            facts, _ = describe(ctx)
            ref = competitor_reference(ctx)
            basis = (f"competitors' median {ref:.0f} ppm" if ref is not None
                     else f"the default {s.new_channels.default_ppm} ppm for new channels")
            facts.update(age_days=round(ctx.age_days or 0.0, 2), initial_ppm=initial)
            return FeeIntent(INCREASE_FEES, old, initial, 1.0, {}, facts,
                             why=f"New channel ({facts['age_days']:.1f} days) priced at {old} ppm, "
                                 f"well below {basis}")
    return strategy(s.decisions.direction_source)(ctx, score)


@dataclass(frozen=True)
class RebalanceCheck:
    """REBALANCE advice, or why a refill the channel needs is not advised (both None: none needed)."""

    advice: Optional[Advice] = None
    withheld: Optional[str] = None


def refill_route_ppm(ctx: ChannelContext) -> float:
    """The least a refill route can cost, in effective ppm: the two hops of it we can price — into
    the peer (the competitors' median, what channels into it typically charge) and the peer's own
    fee toward us on this channel — and at least 1 ppm (a route of unknown, free hops)."""
    amount = ctx.settings.graph.reference_amount_sat
    peer_hop = effective_ppm(ctx.channel.peer_policy, amount) if ctx.channel.peer_policy is not None else 0.0
    into_peer = competitor_reference(ctx) or 0.0
    return max(1.0, peer_hop + into_peer)


class RefillSource(NamedTuple):
    """A channel that can send liquidity toward a drained one and stay at its band's middle."""

    ppm: int
    spare_sat: int
    chan_id: str
    peer_id: str


def refill_sources(channels: Sequence[Channel], settings: EngineSettings) -> Tuple[RefillSource, ...]:
    """Every possible source, cheapest fee first then most spare: computed once per evaluation
    (the same for every drained channel but for itself and its peer)."""
    mid = (settings.liquidity.target_low + settings.liquidity.target_high) / 2
    out = []
    for other in channels:
        total = other.local_sat + other.remote_sat
        if other.state != ACTIVE or total <= 0:
            continue
        spare = other.local_sat - int(mid * total)  # what it can give and stay at the middle
        if other.local_sat / total < settings.rebalance.source_min_local_share or spare <= 0:
            continue
        ppm = other.local_policy.ppm if other.local_policy is not None else 0
        out.append(RefillSource(ppm, spare, other.chan_id, other.peer_id))
    return tuple(sorted(out, key=lambda x: (x.ppm, -x.spare_sat, x.chan_id)))


def advise_rebalance(ctx: ChannelContext, sources: Sequence[RefillSource]) -> RebalanceCheck:
    """Refill a drained channel that has demand, paying at most a share of what the refill can
    earn back within the payback horizon — only when that budget can buy a route (at least 1 sat
    and `refill_route_ppm`) and other channels have the spare outbound liquidity to send."""
    s = ctx.settings
    rb = s.rebalance
    c = ctx.channel
    total = c.local_sat + c.remote_sat
    if not rb.enabled or c.state != ACTIVE or total <= 0 or c.local_policy is None:
        return RebalanceCheck()
    share = c.local_sat / total
    if share >= s.liquidity.target_low:
        return RebalanceCheck()
    long_days = s.activity.long_window_days
    flow = ctx.flow(long_days)
    out_volume = flow.volume_out_sat if flow is not None else 0
    failed = c.failed_out_1d or 0
    if out_volume <= 0 and failed <= 0:
        return RebalanceCheck()  # no demand seen: refilling would buy idle liquidity
    mid = (s.liquidity.target_low + s.liquidity.target_high) / 2
    wanted = min(int(mid * total) - c.local_sat, rb.max_amount_sat)
    if wanted < rb.min_amount_sat:
        return RebalanceCheck()

    chosen: List[RefillSource] = []
    for source in sources:
        if len(chosen) >= rb.max_sources:
            break
        if source.chan_id != c.chan_id and source.peer_id != c.peer_id:
            chosen.append(source)
    available = sum(x.spare_sat for x in chosen)
    if available < rb.min_amount_sat:
        return RebalanceCheck(withheld=(
            f"No rebalance: no channel to another peer has spare outbound liquidity to send "
            f"(needs {pct(rb.source_min_local_share)} or more outbound"
            + (f"; {fmt_sat(available)} spare in all" if chosen else "") + ")"))
    amount = min(wanted, available)

    our_ppm = c.local_policy.ppm
    daily_out = out_volume / long_days if out_volume > 0 else (c.failed_out_amount_1d_sat or 0)
    expected_volume = min(amount, daily_out * rb.payback_days)
    expected_earn_sat = expected_volume * our_ppm / 1_000_000
    max_fee_sat = int(expected_earn_sat * rb.max_cost_fraction)
    max_fee_ppm = int(max_fee_sat * 1_000_000 // amount)
    route_ppm = refill_route_ppm(ctx)
    if max_fee_sat < 1:
        return RebalanceCheck(withheld=(
            f"No rebalance: moving {fmt_sat(amount)} would earn about {expected_earn_sat:.0f} sat in "
            f"{rb.payback_days} days, too little to pay for it"))
    if max_fee_ppm < route_ppm:
        return RebalanceCheck(withheld=(
            f"No rebalance: moving {fmt_sat(amount)} would earn about {expected_earn_sat:.0f} sat in "
            f"{rb.payback_days} days, enough for {max_fee_ppm} ppm; a route in through this peer "
            f"costs at least {route_ppm:.0f} ppm"))
    evidence = {
        "local_share": round(share, 4), "amount_sat": amount, "our_ppm": our_ppm,
        "out_volume_sat": out_volume, "window_days": long_days, "payback_days": rb.payback_days,
        "expected_volume_sat": int(expected_volume), "expected_earn_sat": round(expected_earn_sat, 1),
        "max_cost_fraction": rb.max_cost_fraction, "route_min_ppm": round(route_ppm, 1),
        "sources_spare_sat": available,
    }
    return RebalanceCheck(advice=Advice(
        kind="REBALANCE",
        reason=(f"Outbound {pct(share)} with {fmt_sat(out_volume)} forwarded out in {long_days} days: "
                f"move {fmt_sat(amount)} in, paying at most {max_fee_sat} sat ({max_fee_ppm} ppm) — "
                f"{pct(rb.max_cost_fraction)} of the {expected_earn_sat:.0f} sat it can earn back "
                f"in {rb.payback_days} days at {our_ppm} ppm"),
        amount_sat=amount, sources=tuple(x.chan_id for x in chosen), max_fee_sat=max_fee_sat,
        max_fee_ppm=max_fee_ppm, evidence=evidence,
    ))


def advise_close(ctx: ChannelContext, score: Optional[float]) -> Optional[Advice]:
    """Advice only: low score, no forwards in a long window, old enough."""
    s = ctx.settings
    dec = s.decisions
    c = ctx.channel
    if score is None or score >= dec.close_below_score or c.state not in (ACTIVE, "inactive"):
        return None
    windows = sorted((d for d in (c.flow or {}) if d >= dec.close_idle_days))
    if not windows:
        return None  # cannot tell it was idle long enough
    flow = c.flow[windows[0]]
    if flow.forwards_out or flow.forwards_in:
        return None
    age = ctx.age_days
    if age is None or age < dec.close_min_age_days:
        return None
    return Advice(
        kind="CLOSE_CHANNEL",
        reason=(f"No forwards in {windows[0]} days, score {score:.2f} (below {dec.close_below_score:.2f}), "
                f"{age:.0f} days old: closing would free {fmt_sat(c.local_sat)} of local balance"),
        amount_sat=c.local_sat,
        evidence={"idle_days": windows[0], "score": round(score, 4), "age_days": round(age, 1),
                  "local_sat": c.local_sat, "capacity_sat": c.capacity_sat},
    )
