"""LNDg auto-fees (AF), prior-art §2.2.

Defaults: AF-MaxRate 2500, AF-MinRate 0, AF-Increment 5, AF-Multiplier m = 5,
AF-FailedHTLCs 25, AF-UpdateHours 24, AF-LowLiqLimit 15, AF-ExcessLimit 95, inbound fees off.

| state | condition | Δppm |
|---|---|---|
| out% <= LowLiq | failed_out_1day > 25 and no inbound routing in 1 day | +5m |
| LowLiq < out% < Excess | no flow in 7 days | -3m |
| | net > 1 | +2m(1 + net) |
| out% >= Excess | no flow in 7 days | -5m |
| | net < 0 and assisted revenue (7 d) > 10x own revenue (7 d) | -5m |

`new = round((cur + Δ) / Increment) * Increment`, clipped to [MinRate, MaxRate]; base fee, cltv
and HTLC limits untouched. A channel is eligible when its fees were last updated more than
UpdateHours ago (LNDg runs every 20 s; the benchmark checks hourly, which changes nothing at a
24 h interval).

Choices the description leaves open:
- AF-LowLiqLimit 15 (the stored default; the "5 on first run" bug is not reproduced).
- "no flow in 7 days" = no outbound forwards through the channel in 7 days (the fee prices
  outbound flow).
- failed_out_1day: failed HTLCs on this outgoing channel in the last UpdateHours whose amount
  exceeded the channel's current outbound liquidity (LNDg records them from LND's HTLC event
  stream: `link_fail_event`, TEMPORARY_CHANNEL_FAILURE / INSUFFICIENT_BALANCE).
- "no inbound routing in 1 day" = no forward arrived through the channel in the last day.
- net = (out 7 d − in 7 d volume) / capacity, rounded to 0.1; one channel per peer here, so the
  per-peer aggregation is the channel itself.
- fees_updated starts at the policy's `last_update` as LND reports it.
"""

from __future__ import annotations

from typing import Iterable, List, Mapping, Sequence, Tuple

from ..snapshot import ACTIVE, Channel
from .common import FeeSetting

MAX_RATE = 2500
MIN_RATE = 0
INCREMENT = 5
MULTIPLIER = 5
FAILED_HTLCS = 25
UPDATE_HOURS = 24
LOW_LIQ_LIMIT = 15
EXCESS_LIMIT = 95
CADENCE_HOURS = 1


def failed_out_counts(failures: Iterable[Tuple[int, str, int]], channels: Sequence[Channel], now: int,
                      hours: float = UPDATE_HOURS) -> dict:
    """failures: (unix time, outgoing chan_id, amount sat) of INSUFFICIENT_BALANCE link failures."""
    local = {c.chan_id: c.local_sat for c in channels}
    counts: dict = {}
    since = now - hours * 3600
    for ts, chan, amount in failures:
        if ts >= since and chan in local and amount > local[chan]:
            counts[chan] = counts.get(chan, 0) + 1
    return counts


def delta_for(c: Channel, failed_1d: int) -> Tuple[int, str]:
    m = MULTIPLIER
    out_pct = c.local_sat / c.capacity_sat * 100 if c.capacity_sat else 0.0
    week = c.flow.get(7)
    day = c.flow.get(1)
    out7 = week.volume_out_sat if week else 0
    in7 = week.volume_in_sat if week else 0
    net = round((out7 - in7) / c.capacity_sat, 1) if c.capacity_sat else 0.0
    no_flow = week is None or week.forwards_out == 0
    if out_pct <= LOW_LIQ_LIMIT:
        no_inbound = day is None or day.forwards_in == 0
        if failed_1d > FAILED_HTLCS and no_inbound:
            return 5 * m, f"low liquidity {out_pct:.0f} %, {failed_1d} failed HTLCs"
        return 0, ""
    if out_pct < EXCESS_LIMIT:
        if no_flow:
            return -3 * m, "no flow 7 d"
        if net > 1:
            return int(round(2 * m * (1 + net))), f"net {net:.1f}"
        return 0, ""
    if no_flow:
        return -5 * m, "excess liquidity, no flow 7 d"
    own = week.fees_earned_msat if week else 0
    assisted = week.fees_assisted_msat if week else 0
    if net < 0 and assisted > 10 * own:
        return -5 * m, "excess liquidity, assisted revenue > 10x own"
    return 0, ""


def propose(channels: Sequence[Channel], fees_updated: Mapping[str, int], failures: Iterable[Tuple[int, str, int]],
            now: int) -> List[FeeSetting]:
    failed = failed_out_counts(failures, channels, now)
    out = []
    for c in channels:
        if c.state != ACTIVE or c.private or c.local_policy is None:
            continue
        if now - fees_updated.get(c.chan_id, 0) <= UPDATE_HOURS * 3600:
            continue
        delta, why = delta_for(c, failed.get(c.chan_id, 0))
        cur = c.local_policy.ppm
        new = int(round((cur + delta) / INCREMENT) * INCREMENT)
        new = max(MIN_RATE, min(MAX_RATE, new))
        if delta and new != cur:
            out.append(FeeSetting(c.chan_id, c.local_policy.base_msat, new, reason=f"AF {why}"))
    return out
