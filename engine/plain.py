"""What an assessment says, in one line an operator reads first, and what the score is for.

`headline` restates the facts the fee rule and the advice already used (balance, flow over the
mode's window, grace, the guardrail that held the change) — it decides nothing. At most
`HEADLINE_MAX` characters, no rule ids, no score, no formula; the formula stays in `reason`.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence

from .decisions import (
    CLOSE_CHANNEL,
    DECREASE_FEES,
    HOLD_GRACE,
    HOLD_HEALTHY,
    HOLD_NO_POLICY,
    HOLD_NO_SCORE,
    INCREASE_FEES,
    REBALANCE,
    Advice,
    FeeIntent,
    fmt_sat,
    pct,
)
from .graph_metrics import effective_ppm
from .guardrails import RULE_SHORT, FeeProposal
from .heuristics import ChannelContext
from .settings import DIRECTION_FLOW, DIRECTION_SCORE, EngineSettings
from .snapshot import Channel, FlowStats

HEADLINE_MAX = 90


def _window_words(days: int) -> str:
    return "a day" if days == 1 else "a week" if days == 7 else f"{days} days"


def _idle_days(channel: Channel) -> Optional[int]:
    """The longest window in which it, and every shorter window, had no forwards; None: it had some."""
    idle = None
    for days in sorted(channel.flow or {}):
        f = channel.flow[days]
        if f.forwards_out or f.forwards_in or f.volume_out_sat or f.volume_in_sat:
            break
        idle = days
    return idle


def _ratio(x: float) -> str:
    return f"{x:.1f}×" if x < 10 else f"{x:,.0f}×"


def _flow_words(flow: FlowStats) -> str:
    out_sat, in_sat = flow.volume_out_sat, flow.volume_in_sat
    if in_sat <= 0:
        return f"sent {fmt_sat(out_sat)}, received nothing"
    if out_sat <= 0:
        return f"received {fmt_sat(in_sat)}, sent nothing"
    r = out_sat / in_sat
    if r >= 1.5:
        return f"outflow {_ratio(r)} inflow"
    if r <= 1 / 1.5:
        return f"inflow {_ratio(1 / r)} outflow"
    return "routing both ways"


def _balance_words(ctx: ChannelContext, with_share: bool) -> str:
    c = ctx.channel
    total = c.local_sat + c.remote_sat
    if total <= 0:
        return "Balance unknown"
    s = c.local_sat / total
    low, high = ctx.settings.liquidity.target_low, ctx.settings.liquidity.target_high
    word = ("Drained" if s < 0.10 else "Low on outbound" if s < low else "Balanced" if s <= high
            else "Mostly outbound" if s <= 0.90 else "Full")
    return word if word == "Balanced" or not with_share else f"{word} ({pct(s)} outbound)"


def flow_window(settings: EngineSettings) -> int:
    """The window whose flow the fee rule reads: the flow controller's, else the short one."""
    if settings.decisions.direction_source == DIRECTION_FLOW:
        return settings.decisions.flow_window_days
    return settings.activity.short_window_days


def _situations(ctx: ChannelContext, intent: FeeIntent) -> List[str]:
    """The channel's state, most detailed first (the most detailed that fits is used)."""
    s = ctx.settings
    c = ctx.channel
    if c.local_policy is None:
        return ["Fee policy unknown"]
    if intent.facts.get("initial_ppm") is not None and intent.action == INCREASE_FEES:
        basis = "the market" if "competitor_median_ppm" in intent.facts else "the default for new channels"
        return [f"New channel priced well below {basis}", "New channel priced low"]
    if intent.hold == HOLD_GRACE:
        grace = s.anti_oscillation.new_channel_grace_days
        day = max(1, math.ceil(ctx.age_days or 0.0))
        return [f"New channel (day {day} of {grace:g})", "New channel"]
    if intent.hold == HOLD_HEALTHY:
        return ["Healthy overall"]
    if s.decisions.direction_source == DIRECTION_SCORE:
        if intent.hold == HOLD_NO_SCORE:
            return ["Nothing measured yet"]
        return ["Weak overall" if intent.pressure > 0 else "Middling overall" if intent.pressure < 0 else "Fair overall"]
    days = flow_window(s)
    flow = ctx.flow(days)
    idle = _idle_days(c)
    market = _market_words(ctx, intent)
    out: List[str] = []
    for with_share in (True, False):
        balance = _balance_words(ctx, with_share)
        if idle is not None and (flow is None or idle >= days):
            state = f"{balance} and idle for {_window_words(idle)}"
            out += [f"{state}, {market}", state] if market else [state]
        elif flow is None:
            out.append(f"{balance}, no forwarding data for the last {'day' if days == 1 else f'{days} days'}")
        else:
            words = _flow_words(flow)
            joint = " and " if words == "routing both ways" else ", "
            window = "in the last day" if days == 1 else f"in {days} days"
            out += [f"{balance}{joint}{words} {window}, {market}"] if market else []
            out += [f"{balance}{joint}{words} {window}", f"{balance}{joint}{words}"]
    return out


def _market_words(ctx: ChannelContext, intent: FeeIntent) -> str:
    """Flow mode, when the pull toward the market's price outweighs the channel's own flow and
    balance terms and sets the direction: say so, or a raise of a full channel reads as a mistake."""
    f = intent.facts
    policy = ctx.channel.local_policy
    if "anchor_term" not in f or policy is None or intent.action not in (INCREASE_FEES, DECREASE_FEES):
        return ""
    anchor, own = f["anchor_term"], f["flow_term"] + f["balance_term"]
    direction = 1 if intent.action == INCREASE_FEES else -1
    if anchor * direction <= 0 or own * direction > 0 or not f.get("anchor_ppm"):
        return ""  # the channel's own terms point this way too (or the market does not)
    ratio = effective_ppm(policy, ctx.settings.graph.reference_amount_sat) / f["anchor_ppm"]
    if ratio < 0.1:
        return "priced far below the market"
    return f"priced at {pct(ratio)} of the market" if ratio < 1 else f"priced {_ratio(ratio)} the market"


def _verbs(intent: FeeIntent, proposal: Optional[FeeProposal], advice: Sequence[Advice]) -> List[str]:
    """What happens, most detailed first."""
    kinds = {a.kind: a for a in advice}
    if proposal is not None and proposal.accepted:
        old, new = proposal.old_policy, proposal.new_policy
        verb = "raise" if new.ppm > old.ppm else "lower"
        inbound = f"inbound {new.inbound_ppm:,} ppm" if proposal.inbound_changed else ""
        if new.ppm != old.ppm:
            change = f"{verb} to {new.ppm:,} ppm"
        elif proposal.inbound_changed and new.base_msat == old.base_msat:
            change, inbound = f"set the inbound fee to {new.inbound_ppm:,} ppm", ""
        else:
            change = "bring the base fee into bounds"
        if proposal.urgent_share is not None:
            change += " now (fast drain)"
        also = "closing advised" if CLOSE_CHANNEL in kinds else "refill advised" if REBALANCE in kinds else ""
        first = [f"{change}, {inbound}"] if inbound else []
        return first + ([f"{change}; {also}", change] if also else [change])
    if CLOSE_CHANNEL in kinds:
        return ["consider closing"]
    if REBALANCE in kinds:
        return [f"refill {fmt_sat(kinds[REBALANCE].amount_sat)} from other channels", "refill advised"]
    if proposal is not None:
        old, new = proposal.old_policy, proposal.new_policy
        why = RULE_SHORT.get(proposal.blocked_by or "", "held")
        verb = "raise" if new.ppm > old.ppm else "lower"  # bounds can turn a request around
        if new.ppm != old.ppm:
            return [f"would {verb} to {new.ppm:,} ppm ({why})", f"keep ({why})"]
        if proposal.inbound_changed:
            return [f"would set inbound to {new.inbound_ppm:,} ppm ({why})", f"keep ({why})"]
        return [f"keep ({why})"]
    if intent.hold == HOLD_GRACE:
        return ["wait"]
    if intent.hold == HOLD_NO_POLICY:
        return ["nothing to change"]
    return ["keep"]


def headline(ctx: ChannelContext, intent: FeeIntent, proposal: Optional[FeeProposal],
             advice: Sequence[Advice]) -> str:
    """E.g. "Drained (4 % outbound), outflow 4.0× inflow in the last day: raise to 500 ppm"."""
    close = next((a for a in advice if a.kind == CLOSE_CHANNEL), None)
    if close is not None and (proposal is None or not proposal.accepted):
        idle, age = close.evidence.get("idle_days"), close.evidence.get("age_days") or 0.0
        situations = [f"Idle for {idle} days, {age:.0f} days old", f"Idle for {idle} days"]
    else:
        situations = _situations(ctx, intent)
    verbs = _verbs(intent, proposal, advice)
    for situation in situations:  # the situation's detail first, then the verb's
        for verb in verbs:
            text = f"{situation}: {verb}"
            if len(text) <= HEADLINE_MAX:
                return text
    text = f"{situations[-1]}: {verbs[-1]}"
    return text[: HEADLINE_MAX - 1] + "…"


def not_scored_headline(channel: Channel) -> str:
    return f"{channel.state.capitalize()} channel: nothing to do"


def score_role(settings: EngineSettings, market_reference: bool) -> str:
    """What the score does for this channel under the fee mode in `settings`."""
    dec = settings.decisions
    close = (f"close advice (below {dec.close_below_score:.2f}, no forwards in {dec.close_idle_days} days, "
             f"{dec.close_min_age_days} days old)")
    if dec.direction_source == DIRECTION_SCORE:
        return (f"Health and value of the channel. It sets the fee: raise below {dec.raise_below_score:.2f}, "
                f"lower from {dec.lower_from_score:.2f} to {dec.lower_below_score:.2f}, keep at or above "
                f"{dec.hold_score:.2f}; and it decides {close}.")
    market = "the market's price" if market_reference else "no market price for this peer"
    return (f"Health and value of the channel, to compare channels. It decides only {close}; "
            f"the fee comes from the flow controller (this channel's flow, balance and {market}), "
            f"not from the score.")
