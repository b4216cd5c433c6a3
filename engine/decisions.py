"""From scores and signals to an intent per channel (before guardrails).

A fee intent says which way and how far to move the ppm and why; guardrails later
clamp or block it. REBALANCE and CLOSE_CHANNEL are advice only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .graph_metrics import effective_ppm
from .heuristics import ChannelContext
from .settings import DIRECTION_FLOW, DIRECTION_SCORE, DIRECTION_TARGET, EngineSettings
from .snapshot import ACTIVE, Channel

NO_ACTION = "NO_ACTION"
INCREASE_FEES = "INCREASE_FEES"
DECREASE_FEES = "DECREASE_FEES"
REBALANCE = "REBALANCE"
CLOSE_CHANNEL = "CLOSE_CHANNEL"
ACTIONS = (NO_ACTION, INCREASE_FEES, DECREASE_FEES, REBALANCE, CLOSE_CHANNEL)

# why a fee intent is NO_ACTION
HOLD_NOT_OPEN = "not_open"  # pending or closed: nothing to price
HOLD_NO_POLICY = "no_policy"  # our policy is unknown
HOLD_DEAD_BAND = "dead_band"  # the step / pressure / distance to the target is too small
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
class Advice:
    kind: str  # REBALANCE or CLOSE_CHANNEL
    reason: str
    amount_sat: int = 0
    sources: Tuple[str, ...] = ()  # chan_ids to take liquidity from
    max_fee_sat: int = 0
    max_fee_ppm: int = 0
    evidence: Dict[str, Any] = field(default_factory=dict)


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


def initial_fee_ppm(ctx: ChannelContext) -> int:
    """Fee for a new channel: competitors' median into the peer x multiplier, else default."""
    nc = ctx.settings.new_channels
    ref = competitor_reference(ctx)
    if ref is None:
        return int(nc.default_ppm)
    return max(0, int(round(ref * nc.reference_multiplier)))


# --- signals ------------------------------------------------------------------


def _signals(ctx: ChannelContext) -> Tuple[Dict[str, float], Dict[str, Any], List[str]]:
    """Direction signals in [-1, 1] (positive = raise), the facts, and phrases."""
    s = ctx.settings
    dec = s.decisions
    c = ctx.channel
    signals: Dict[str, float] = {}
    facts: Dict[str, Any] = {}
    words: List[str] = []
    total = c.local_sat + c.remote_sat
    share = c.local_sat / total if total > 0 else None
    low, high = s.liquidity.target_low, s.liquidity.target_high

    if share is not None:
        facts["local_share"] = round(share, 4)
        if share < low:
            signals["liquidity"] = (low - share) / low
            words.append(f"Outbound {pct(share)}")
        elif share > high:
            signals["liquidity"] = -(share - high) / (1 - high)
            words.append(f"Outbound {pct(share)}")
        else:
            signals["liquidity"] = 0.0

    days = s.activity.short_window_days
    flow = ctx.flow(days)
    if flow is not None and c.capacity_sat > 0:
        net = flow.volume_out_sat - flow.volume_in_sat
        facts.update(net_outflow_sat=net, flow_window_days=days, forwards_out=flow.forwards_out)
        if flow.forwards_out == 0 and flow.forwards_in == 0 and share is not None and share >= low:
            signals["flow"] = -dec.idle_cut_pressure
            words.append(f"no forwards in {days} days")
        else:
            weekly = net / c.capacity_sat * 7 / max(1, days)
            signals["flow"] = max(-1.0, min(1.0, weekly / dec.net_flow_full))
            if abs(net) >= 0.01 * c.capacity_sat:
                kind = "net outflow" if net > 0 else "net inflow"
                words.append(f"{fmt_sat(abs(net))} {kind} in {days} days")

    if c.failed_out_1d is not None and c.failed_out_1d > 0:
        signals["failed"] = min(1.0, c.failed_out_1d / dec.failed_forwards_full)
        facts["failed_out_1d"] = c.failed_out_1d
        words.append(f"{c.failed_out_1d} forwards failed for lack of balance in 1 day")

    ref = competitor_reference(ctx)
    if ref is not None and c.local_policy is not None:
        ours = effective_ppm(c.local_policy, s.graph.reference_amount_sat)
        ratio = (ours + 10) / (ref + 10)
        facts.update(competitor_median_ppm=round(ref, 1), competitor_ratio=round(ratio, 3))
        idle_out = flow is not None and flow.forwards_out == 0
        if ratio > 2 and idle_out:
            signals["competitiveness"] = -min(1.0, math.log2(ratio) / 3)
            words.append(f"fee {ratio:.1f}x the competitors' median {ref:.0f} ppm")
        elif ratio < 0.5 and share is not None and share < low:
            signals["competitiveness"] = min(1.0, -math.log2(ratio) / 3)
            words.append(f"fee {ratio:.1f}x the competitors' median {ref:.0f} ppm")
        else:
            signals["competitiveness"] = 0.0
    return signals, facts, words


def _pressure(signals: Dict[str, float], settings: EngineSettings) -> float:
    dec = settings.decisions
    weights = {
        "liquidity": dec.liquidity_signal_weight,
        "flow": dec.flow_signal_weight,
        "failed": dec.failed_signal_weight,
        "competitiveness": dec.competitiveness_signal_weight,
    }
    total_weight = sum(weights.values())
    if total_weight <= 0:
        return 0.0
    value = sum(weights[k] * v for k, v in signals.items()) / total_weight
    return max(-1.0, min(1.0, value))


def _score_mode_pressure(score: float, settings: EngineSettings) -> float:
    dec = settings.decisions
    if score < dec.raise_below_score:
        span = dec.raise_below_score or 1.0
        return max(0.2, min(1.0, (dec.raise_below_score - score) / span))
    if dec.lower_from_score <= score < dec.lower_below_score:
        span = (dec.lower_below_score - dec.lower_from_score) or 1.0
        return -max(0.2, min(1.0, (dec.lower_below_score - score) / span))
    return 0.0


def min_change_ppm(old_ppm: int, settings: EngineSettings) -> int:
    ao = settings.anti_oscillation
    return max(int(ao.min_change_ppm), int(math.ceil(ao.min_change_pct * old_ppm)))


def _target(old_ppm: int, pressure: float, settings: EngineSettings) -> int:
    """Proportional step on max(old, floor); at least the minimum change."""
    dec = settings.decisions
    base = max(old_ppm, dec.step_base_floor_ppm)
    delta = pressure * dec.step_gain * base
    need = min_change_ppm(old_ppm, settings)
    if abs(delta) < need:
        delta = math.copysign(need, pressure)
    delta = int(round(delta))
    return max(0, old_ppm + delta)


# --- target and flow modes --------------------------------------------------------------


class PriceInputs(NamedTuple):
    reference_ppm: float  # competitors' median effective ppm into the peer
    share: float  # local share
    base_part_ppm: float  # our base fee as effective ppm at the reference amount
    current_eff_ppm: float  # our effective ppm at the reference amount


def price_inputs(ctx: ChannelContext) -> Optional[PriceInputs]:
    """What both market-anchored modes start from; None without a reference, policy or balance."""
    c = ctx.channel
    policy = c.local_policy
    ref = competitor_reference(ctx)
    total = c.local_sat + c.remote_sat
    if ref is None or policy is None or total <= 0:
        return None
    amount = ctx.settings.graph.reference_amount_sat
    return PriceInputs(ref, c.local_sat / total, effective_ppm(policy.with_fees(policy.base_msat, 0), amount),
                       effective_ppm(policy, amount))



def target_fee(ctx: ChannelContext) -> Optional[Tuple[int, float, Dict[str, Any], str]]:
    """(target ppm, target/current effective fee, facts, words) or None without a reference.

    target effective fee = max(competitors' median x multiplier, floor) x base^(0.5 - s'),
    s' = the local share expected after `target_lookahead_days` of the 7-day net flow.
    Scarce outbound liquidity is priced up, idle surplus down, around the market's price.
    """
    s = ctx.settings
    dec = s.decisions
    inputs = price_inputs(ctx)
    if inputs is None:
        return None
    ref, share, base_part, current_eff = inputs
    total = ctx.channel.local_sat + ctx.channel.remote_sat
    anchor = max(ref * dec.target_reference_multiplier, float(dec.target_floor_ppm))
    flow = ctx.flow(s.activity.short_window_days)
    net_per_day = (flow.volume_out_sat - flow.volume_in_sat) / max(1, flow.days) if flow is not None else 0.0
    recent = ctx.flow(1)
    if dec.target_recent_flow_weight > 0 and recent is not None and flow is not None:
        w = dec.target_recent_flow_weight
        net_per_day = (1 - w) * net_per_day + w * (recent.volume_out_sat - recent.volume_in_sat) / max(1, recent.days)
    lookahead = dec.target_lookahead_days if net_per_day >= 0 else dec.target_fill_lookahead_days
    expected = min(1.0, max(0.0, share - lookahead * net_per_day / total))
    base = dec.target_surplus_base if expected > 0.5 and dec.target_surplus_base > 0 else dec.target_balance_base
    multiplier = base ** (0.5 - expected)
    level = anchor
    if dec.target_memory > 0:
        lam = dec.target_memory
        level = max(anchor, 1.0) ** (1 - lam) * max(current_eff, 1.0) ** lam
    target_eff = level * multiplier
    target_ppm = max(0, int(round(target_eff - base_part)))
    ratio = (target_ppm + base_part + 10) / (current_eff + 10)
    facts = {
        "competitor_median_ppm": round(ref, 1), "anchor_ppm": round(anchor, 1), "local_share": round(share, 4),
        "expected_share": round(expected, 4), "net_outflow_per_day_sat": int(net_per_day),
        "multiplier": round(multiplier, 3), "target_ppm": target_ppm,
    }
    if dec.target_memory > 0:
        facts["level_ppm"] = round(level, 1)
    basis = f"competitors' median {ref:.0f} ppm" if anchor > dec.target_floor_ppm or ref >= dec.target_floor_ppm \
        else f"the {dec.target_floor_ppm} ppm floor (competitors' median {ref:.0f} ppm)"
    words = (f"Outbound {pct(share)}" + (f", {pct(expected)} expected in {dec.target_lookahead_days:g} d at the 7-day "
                                         f"net flow" if abs(expected - share) >= 0.01 else "")
             + f": target {target_ppm} ppm = "
             + (f"{basis} x {multiplier:.2f}" if dec.target_memory <= 0 else
                f"{level:.0f} ppm ({basis}^{1 - dec.target_memory:g} x our {current_eff:.0f} ppm^{dec.target_memory:g}) "
                f"x {multiplier:.2f}"))
    if abs(expected - share) >= 0.01 and lookahead != dec.target_lookahead_days:
        words = words.replace(f"in {dec.target_lookahead_days:g} d", f"in {lookahead:g} d")
    return target_ppm, ratio, facts, words


# --- flow mode (default) --------------------------------------------------------------


def flow_fee(ctx: ChannelContext) -> Optional[Tuple[int, float, Dict[str, Any], str]]:
    """(new ppm, new/current effective fee, facts, words) or None without a market reference.

    One step of a feedback controller, in log space (so it is scale-free from 20 to 2,000 ppm):

        step = gain · ln((out + k) / (in + k))        the channel's own flow over the window
             + balance_gain · (0.5 − local share)     brings the balance back to the middle
             + anchor_pull · ln(anchor / fee)         a weak pull toward the market's price

    Outflow above inflow means the channel sells its liquidity faster than it gets it back, so the
    price goes up until the two match; the balance term then steers the level of the reserve. A
    drained channel cannot send (its low outflow is no signal) and a full one cannot receive, so
    that side of the flow term is ignored there.
    """
    dec = ctx.settings.decisions
    inputs = price_inputs(ctx)
    if inputs is None:
        return None
    ref, share, base_part, current_eff = inputs
    anchor = max(ref, float(dec.flow_anchor_floor_ppm))
    flow = ctx.flow(dec.flow_window_days)
    out_sat = flow.volume_out_sat if flow is not None else 0
    in_sat = flow.volume_in_sat if flow is not None else 0
    smooth = max(1.0, dec.flow_smoothing_share * ctx.channel.capacity_sat)
    imbalance = math.log((out_sat + smooth) / (in_sat + smooth)) if flow is not None else 0.0
    censored = ""
    if imbalance < 0 and share < dec.flow_censor_share:
        imbalance, censored = 0.0, "drained: its low outflow is not a signal"
    elif imbalance > 0 and share > 1 - dec.flow_censor_share:
        imbalance, censored = 0.0, "full: its low inflow is not a signal"
    imbalance = max(-2.0, min(2.0, imbalance))
    base_fee = max(current_eff, float(dec.flow_min_ppm))
    flow_term = dec.flow_gain * imbalance
    balance_term = dec.flow_balance_gain * (0.5 - share)
    anchor_term = dec.flow_anchor_pull * math.log(max(anchor, 1.0) / base_fee)
    raw_step = flow_term + balance_term + anchor_term
    limit = math.log(dec.flow_max_step)
    step = max(-limit, min(limit, raw_step))
    target_eff = base_fee * math.exp(step)
    if target_eff < dec.flow_min_ppm / 2:
        target_eff = 0.0  # a market priced at zero: follow it down rather than creep toward it
    target_ppm = max(0, int(round(target_eff - base_part)))
    ratio = (target_ppm + base_part + 10) / (current_eff + 10)
    facts = {
        "competitor_median_ppm": round(ref, 1), "anchor_ppm": round(anchor, 1), "local_share": round(share, 4),
        "window_days": dec.flow_window_days, "volume_out_sat": out_sat, "volume_in_sat": in_sat,
        "flow_term": round(flow_term, 4), "balance_term": round(balance_term, 4),
        "anchor_term": round(anchor_term, 4), "log_step": round(step, 4), "target_ppm": target_ppm,
    }
    window = "day" if dec.flow_window_days == 1 else f"{dec.flow_window_days} days"
    parts = [(f"out {fmt_sat(out_sat)} vs in {fmt_sat(in_sat)} in the last {window}" if flow is not None
              else f"no forwarding history for the last {window}")
             + (f" ({censored})" if censored else ""),
             f"outbound {pct(share)}",
             f"competitors' median {ref:.0f} ppm"]
    words = (f"{parts[0].capitalize()}, {parts[1]}, {parts[2]}: target {target_ppm} ppm "
             f"(x{math.exp(step):.2f}{' at most' if step != raw_step else ''}: "
             f"flow {flow_term:+.2f}, balance {balance_term:+.2f}, market {anchor_term:+.2f})")
    return target_ppm, ratio, facts, words


def _last_direction(ctx: ChannelContext) -> int:
    """+1 / -1: direction of this channel's last ppm change inside the reversal window; 0 = none."""
    window_start = ctx.now - ctx.settings.anti_oscillation.reversal_window_days * 86400
    for record in sorted(ctx.history, key=lambda r: r.at, reverse=True):
        if record.at < window_start:
            return 0
        if record.new_ppm != record.old_ppm:
            return 1 if record.new_ppm > record.old_ppm else -1
    return 0


# --- the decision -------------------------------------------------------------


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
    signals, facts, words = _signals(ctx)
    why = " and ".join(words[:3]) if words else ""
    grace = in_grace(ctx)
    if grace:
        facts["age_days"] = round(ctx.age_days or 0.0, 2)

    # New channel never priced by us: move to the reference (raise only).
    if grace and not ctx.history and s.new_channels.set_initial_fee:
        initial = initial_fee_ppm(ctx)
        if old < s.new_channels.reprice_below_share * initial and initial - old >= min_change_ppm(old, s):
            ref = competitor_reference(ctx)
            basis = (f"competitors' median {ref:.0f} ppm" if ref is not None
                     else f"the default {s.new_channels.default_ppm} ppm for new channels")
            facts.update(initial_ppm=initial)
            return FeeIntent(INCREASE_FEES, old, initial, 1.0, signals, facts,
                             why=f"New channel ({facts['age_days']:.1f} days) priced at {old} ppm, "
                                 f"well below {basis}")

    mode = s.decisions.direction_source
    target = target_fee(ctx) if mode == DIRECTION_TARGET else flow_fee(ctx) if mode == DIRECTION_FLOW else None
    if target is not None:
        target_ppm, ratio, tfacts, twords = target
        facts.update(tfacts)
        if mode == DIRECTION_FLOW:
            # the controller's own step is the decision input: a small step is noise, not a signal
            pressure = max(-1.0, min(1.0, tfacts["log_step"] / math.log(s.decisions.flow_max_step)))
            if abs(tfacts["log_step"]) < s.decisions.flow_dead_band:
                return FeeIntent(NO_ACTION, old, old, round(pressure, 4), signals, facts, twords,
                                 hold=HOLD_DEAD_BAND,
                                 hold_reason=f"step x{math.exp(tfacts['log_step']):.2f} is inside the "
                                             f"±{s.decisions.flow_dead_band:.2f} (log) dead band")
        else:
            base = s.decisions.target_balance_base
            pressure = max(-1.0, min(1.0, 2 * math.log(ratio) / math.log(base))) if base > 1 else 0.0
            band = s.decisions.target_dead_band
            last = _last_direction(ctx)
            if last and (ratio > 1) != (last > 0) and ratio != 1:
                band = max(band, s.decisions.target_reversal_dead_band)  # a reversal must be worth it
            if max(ratio, 1 / ratio) - 1 < band:
                return FeeIntent(NO_ACTION, old, old, round(pressure, 4), signals, facts, twords,
                                 hold=HOLD_DEAD_BAND, hold_reason=f"within {band * 100:.0f} % of the target"
                                             + (" (a move against the last change)"
                                                if band > s.decisions.target_dead_band else ""))
        if target_ppm < old and grace:
            return FeeIntent(NO_ACTION, old, old, round(pressure, 4), signals, facts, twords,
                             hold=HOLD_GRACE, hold_reason=f"new channel ({facts['age_days']:.1f} of "
                                         f"{s.anti_oscillation.new_channel_grace_days:g} grace days): no cut yet")
        need = min_change_ppm(old, s)
        if abs(target_ppm - old) < need:
            target_ppm = old + int(math.copysign(need, target_ppm - old))
        target_ppm = max(0, target_ppm)
        if target_ppm == old:
            return FeeIntent(NO_ACTION, old, old, round(pressure, 4), signals, facts, twords,
                             hold=HOLD_AT_FEE, hold_reason=f"already at {old} ppm")
        action = INCREASE_FEES if target_ppm > old else DECREASE_FEES
        return FeeIntent(action, old, target_ppm, round(pressure, 4), signals, facts, twords)

    if s.decisions.direction_source == DIRECTION_SCORE:
        if score is None:
            return FeeIntent(NO_ACTION, old, old, 0.0, signals, facts, why,
                             hold=HOLD_NO_SCORE, hold_reason="no score (no heuristic had data)")
        if score >= s.decisions.hold_score:
            return FeeIntent(NO_ACTION, old, old, 0.0, signals, facts, why,
                             hold=HOLD_HEALTHY,
                             hold_reason=f"score {score:.2f} is at or above the hold level {s.decisions.hold_score:.2f}")
        pressure = _score_mode_pressure(score, s)
        why = f"Score {score:.2f}" + (f" ({why})" if why else "")
        if pressure == 0.0:
            return FeeIntent(NO_ACTION, old, old, 0.0, signals, facts, why,
                             hold=HOLD_SCORE_BAND, hold_reason=f"score {score:.2f} is in the no-action band")
    else:
        if score is not None and score >= s.decisions.hold_score:
            return FeeIntent(NO_ACTION, old, old, 0.0, signals, facts, why,
                             hold=HOLD_HEALTHY,
                             hold_reason=f"healthy: score {score:.2f} is at or above {s.decisions.hold_score:.2f}")
        pressure = _pressure(signals, s)
        if abs(pressure) < s.decisions.pressure_dead_band:
            return FeeIntent(NO_ACTION, old, old, round(pressure, 4), signals, facts, why,
                             hold=HOLD_DEAD_BAND,
                             hold_reason=f"signals balance out (pressure {pressure:+.2f} inside the "
                                         f"±{s.decisions.pressure_dead_band:.2f} dead band)")

    if pressure < 0 and grace:
        return FeeIntent(NO_ACTION, old, old, round(pressure, 4), signals, facts, why,
                         hold=HOLD_GRACE, hold_reason=f"new channel ({facts['age_days']:.1f} of "
                                     f"{s.anti_oscillation.new_channel_grace_days:g} grace days): no cut for lack of flow")
    target = _target(old, pressure, s)
    if target == old:
        return FeeIntent(NO_ACTION, old, old, round(pressure, 4), signals, facts, why,
                         hold=HOLD_AT_FEE, hold_reason=f"already at {old} ppm")
    action = INCREASE_FEES if target > old else DECREASE_FEES
    return FeeIntent(action, old, target, round(pressure, 4), signals, facts, why or "Signals")


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
