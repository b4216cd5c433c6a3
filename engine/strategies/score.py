"""The original specification's mapping from the health score to a fee step.

score >= hold_score (0.7 in the original spec): no action; below raise_below_score (0.3):
raise; in [lower_from_score, lower_below_score) (0.3–0.5): lower; in between: no action.
The step is proportional: Δ = pressure · step_gain · max(old, step_base_floor_ppm), at least the
smallest change, where the pressure grows with the distance into the band (at least 0.2).
"""

from __future__ import annotations

import math
from typing import Optional

from ..heuristics import ChannelContext
from ..intent import (
    DECREASE_FEES,
    HOLD_AT_FEE,
    HOLD_GRACE,
    HOLD_HEALTHY,
    HOLD_NO_SCORE,
    HOLD_SCORE_BAND,
    INCREASE_FEES,
    NO_ACTION,
    FeeIntent,
    describe,
    in_grace,
    min_change_ppm,
)
from ..settings import DIRECTION_SCORE, EngineSettings
from . import register


def band_pressure(score: float, settings: EngineSettings) -> float:
    """+ in the raise band, − in the lower band, 0 elsewhere; at least 0.2 inside a band."""
    dec = settings.decisions
    if score < dec.raise_below_score:
        span = dec.raise_below_score or 1.0
        return max(0.2, min(1.0, (dec.raise_below_score - score) / span))
    if dec.lower_from_score <= score < dec.lower_below_score:
        span = (dec.lower_below_score - dec.lower_from_score) or 1.0
        return -max(0.2, min(1.0, (dec.lower_below_score - score) / span))
    return 0.0


def stepped(old_ppm: int, pressure: float, settings: EngineSettings) -> int:
    """Proportional step on max(old, floor); at least the minimum change."""
    dec = settings.decisions
    base = max(old_ppm, dec.step_base_floor_ppm)
    delta = pressure * dec.step_gain * base
    need = min_change_ppm(old_ppm, settings)
    if abs(delta) < need:
        delta = math.copysign(need, pressure)
    return max(0, old_ppm + int(round(delta)))


@register(DIRECTION_SCORE)
def decide(ctx: ChannelContext, score: Optional[float]) -> FeeIntent:
    s = ctx.settings
    old = ctx.channel.local_policy.ppm if ctx.channel.local_policy is not None else 0
    facts, words = describe(ctx)
    why = " and ".join(words[:3])
    if score is None:
        return FeeIntent(NO_ACTION, old, old, 0.0, {}, facts, why,
                         hold=HOLD_NO_SCORE, hold_reason="no score (no heuristic had data)")
    if score >= s.decisions.hold_score:
        return FeeIntent(NO_ACTION, old, old, 0.0, {}, facts, why, hold=HOLD_HEALTHY,
                         hold_reason=f"score {score:.2f} is at or above the hold level {s.decisions.hold_score:.2f}")
    pressure = band_pressure(score, s)
    why = f"Score {score:.2f}" + (f" ({why})" if why else "")
    if pressure == 0.0:
        return FeeIntent(NO_ACTION, old, old, 0.0, {}, facts, why,
                         hold=HOLD_SCORE_BAND, hold_reason=f"score {score:.2f} is in the no-action band")
    if pressure < 0 and in_grace(ctx):
        facts["age_days"] = round(ctx.age_days or 0.0, 2)
        return FeeIntent(NO_ACTION, old, old, round(pressure, 4), {}, facts, why, hold=HOLD_GRACE,
                         hold_reason=f"new channel ({facts['age_days']:.1f} of "
                                     f"{s.anti_oscillation.new_channel_grace_days:g} grace days): no cut yet")
    target = stepped(old, pressure, s)
    if target == old:
        return FeeIntent(NO_ACTION, old, old, round(pressure, 4), {}, facts, why,
                         hold=HOLD_AT_FEE, hold_reason=f"already at {old} ppm")
    action = INCREASE_FEES if target > old else DECREASE_FEES
    return FeeIntent(action, old, target, round(pressure, 4), {}, facts, why)
