"""The default strategy: a daily feedback controller on the channel's own flows.

One step, in log space (so it is scale-free from 20 to 2,000 ppm):

    step = gain · ln((out + k) / (in + k))        the channel's own flow over the window
         + balance_gain · (0.5 − local share)     brings the balance back to the middle
         + anchor_pull · ln(anchor / fee)         a weak pull toward the market's price

Outflow above inflow means the channel sells its liquidity faster than it gets it back, so the
price goes up until the two match; the balance term then steers the level of the reserve. A
drained channel cannot send (its low outflow is no signal) and a full one cannot receive, so
that side of the flow term is ignored there. Without a market price for the peer the anchor
term is 0 (the flow and the balance still price the channel).
"""

from __future__ import annotations

import math
from typing import Any, Dict, NamedTuple, Optional, Tuple

from ..graph_metrics import effective_ppm
from ..heuristics import ChannelContext
from ..intent import (
    DECREASE_FEES,
    HOLD_AT_FEE,
    HOLD_DEAD_BAND,
    HOLD_GRACE,
    INCREASE_FEES,
    NO_ACTION,
    FeeIntent,
    competitor_reference,
    describe,
    fmt_sat,
    in_grace,
    min_change_ppm,
    pct,
)
from ..settings import DIRECTION_FLOW
from . import register


class PriceInputs(NamedTuple):
    reference_ppm: Optional[float]  # competitors' median effective ppm into the peer (None: unknown)
    share: float  # local share
    base_part_ppm: float  # our base fee as effective ppm at the reference amount
    current_eff_ppm: float  # our effective ppm at the reference amount


def price_inputs(ctx: ChannelContext) -> Optional[PriceInputs]:
    """What the controller starts from; None without a policy or a balance."""
    c = ctx.channel
    policy = c.local_policy
    total = c.local_sat + c.remote_sat
    if policy is None or total <= 0:
        return None
    amount = ctx.settings.graph.reference_amount_sat
    return PriceInputs(competitor_reference(ctx), c.local_sat / total,
                       effective_ppm(policy.with_fees(policy.base_msat, 0), amount), effective_ppm(policy, amount))


def flow_fee(ctx: ChannelContext) -> Optional[Tuple[int, float, Dict[str, Any], str]]:
    """(new ppm, new/current effective fee, facts, words); None without a policy or a balance."""
    dec = ctx.settings.decisions
    inputs = price_inputs(ctx)
    if inputs is None:
        return None
    ref, share, base_part, current_eff = inputs
    flow = ctx.flow(dec.flow_window_days)
    out_sat = flow.volume_out_sat if flow is not None else 0
    in_sat = flow.volume_in_sat if flow is not None else 0
    # missed demand: what failed to leave for lack of local balance in the last day, counted as
    # outflow the channel could not serve (None: the node cannot tell; then nothing is added)
    missed_sat = int(dec.flow_failed_weight * (ctx.channel.failed_out_amount_1d_sat or 0))
    out_sat += missed_sat
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
    anchor = max(ref, float(dec.flow_anchor_floor_ppm)) if ref is not None else None
    anchor_term = dec.flow_anchor_pull * math.log(max(anchor, 1.0) / base_fee) if anchor is not None else 0.0
    raw_step = flow_term + balance_term + anchor_term
    limit = math.log(dec.flow_max_step)
    step = max(-limit, min(limit, raw_step))
    target_eff = base_fee * math.exp(step)
    if target_eff < dec.flow_min_ppm / 2:
        target_eff = 0.0  # a market priced at zero: follow it down rather than creep toward it
    target_ppm = max(0, int(round(target_eff - base_part)))
    ratio = (target_ppm + base_part + 10) / (current_eff + 10)
    facts: Dict[str, Any] = {
        "local_share": round(share, 4), "window_days": dec.flow_window_days, "volume_out_sat": out_sat,
        "volume_in_sat": in_sat, "flow_term": round(flow_term, 4), "balance_term": round(balance_term, 4),
        "anchor_term": round(anchor_term, 4), "log_step": round(step, 4), "target_ppm": target_ppm,
    }
    if missed_sat:
        facts["missed_out_sat"] = missed_sat
    if ref is not None and anchor is not None:
        facts.update(competitor_median_ppm=round(ref, 1), anchor_ppm=round(anchor, 1))
    window = "day" if dec.flow_window_days == 1 else f"{dec.flow_window_days} days"
    missed = f" (with {fmt_sat(missed_sat)} that failed for lack of balance)" if missed_sat else ""
    parts = [(f"out {fmt_sat(out_sat)}{missed} vs in {fmt_sat(in_sat)} in the last {window}" if flow is not None
              else f"no forwarding history for the last {window}")
             + (f" ({censored})" if censored else ""),
             f"outbound {pct(share)}",
             f"competitors' median {ref:.0f} ppm" if ref is not None else "no market price for this peer"]
    words = (f"{parts[0].capitalize()}, {parts[1]}, {parts[2]}: target {target_ppm} ppm "
             f"(x{math.exp(step):.2f}{' at most' if step != raw_step else ''}: "
             f"flow {flow_term:+.2f}, balance {balance_term:+.2f}, market {anchor_term:+.2f})")
    return target_ppm, ratio, facts, words


@register(DIRECTION_FLOW)
def decide(ctx: ChannelContext, score: Optional[float]) -> FeeIntent:
    """The controller's step; the score plays no part (it decides the close advice only)."""
    s = ctx.settings
    old = ctx.channel.local_policy.ppm if ctx.channel.local_policy is not None else 0
    priced = flow_fee(ctx)
    if priced is None:
        return FeeIntent(NO_ACTION, old, old, 0.0, hold=HOLD_DEAD_BAND,
                         hold_reason="no balance known: nothing to steer by")
    target_ppm, _, flow_facts, words = priced
    facts, _ = describe(ctx)
    facts.update(flow_facts)
    if in_grace(ctx):
        facts["age_days"] = round(ctx.age_days or 0.0, 2)
    # the controller's own step is the decision input: a small step is noise, not a signal
    pressure = round(max(-1.0, min(1.0, facts["log_step"] / math.log(s.decisions.flow_max_step))), 4)
    if abs(facts["log_step"]) < s.decisions.flow_dead_band:
        return FeeIntent(NO_ACTION, old, old, pressure, {}, facts, words, hold=HOLD_DEAD_BAND,
                         hold_reason=f"step x{math.exp(facts['log_step']):.2f} is inside the "
                                     f"±{s.decisions.flow_dead_band:.2f} (log) dead band")
    if target_ppm < old and in_grace(ctx):
        return FeeIntent(NO_ACTION, old, old, pressure, {}, facts, words, hold=HOLD_GRACE,
                         hold_reason=f"new channel ({facts['age_days']:.1f} of "
                                     f"{s.anti_oscillation.new_channel_grace_days:g} grace days): no cut yet")
    need = min_change_ppm(old, s)
    if abs(target_ppm - old) < need:
        target_ppm = old + int(math.copysign(need, target_ppm - old))
    target_ppm = max(0, target_ppm)
    if target_ppm == old:
        return FeeIntent(NO_ACTION, old, old, pressure, {}, facts, words, hold=HOLD_AT_FEE,
                         hold_reason=f"already at {old} ppm")
    action = INCREASE_FEES if target_ppm > old else DECREASE_FEES
    return FeeIntent(action, old, target_ppm, pressure, {}, facts, words)
