"""Inbound discounts (LND >= 0.18): how much a forward that arrives through a channel is discounted.

A forward in through channel A and out through B moves A's liquidity from the peer's side to
ours: it refills A. A channel low on outbound liquidity wants exactly that flow, and it is worth
what A earns when it sells the liquidity again, its own outbound fee per sat. So a managed
channel's inbound fee is a discount in proportion to its outbound fee and to how far it is below
the middle of the healthy band:

    inbound ppm = -round(discount_share x outbound ppm x need),   need = clamp((m - s) / m, 0, 1)

(s = local share, m = `inbound.below_share`, 1.0 by default, so need = 1 - s, the peer's share of
the channel): a drained channel pays up to `discount_share` (¼) of its fee for liquidity coming
back, a full one nothing (more inflow would only fill it); m = 0.5 would keep the discount to
channels below the middle of the healthy band. Only discounts, never a positive inbound fee (positive
ones make LND blame failures on the wrong channel, lnd#9058). The guardrails then cap the step and
keep it within [inbound_min_ppm, 0]; the change rides on the same policy update as the outbound
fee (one gossip message), and a change of the discount alone is one update like any other.
"""

from __future__ import annotations

from typing import AbstractSet, Iterable, Mapping, Optional, Tuple

from .heuristics import ChannelContext
from .snapshot import Channel
from .intent import InboundIntent, pct


def inbound_target(ctx: ChannelContext) -> Optional[InboundIntent]:
    """The discount the rule asks for on this channel; None without a policy or a balance.
    Call it only for a channel whose inbound fee is managed (`guardrails.inbound_managed`)."""
    c = ctx.channel
    policy = c.local_policy
    total = c.local_sat + c.remote_sat
    if policy is None or total <= 0:
        return None
    s = ctx.settings
    share = c.local_sat / total
    middle = s.inbound.below_share
    need = min(1.0, max(0.0, (middle - share) / middle)) if middle > 0 else 0.0
    fraction = s.inbound.discount_share
    ppm = -int(round(fraction * policy.ppm * need))
    facts = {"local_share": round(share, 4), "inbound_need": round(need, 4), "discount_share": fraction,
             "outbound_ppm": policy.ppm, "inbound_target_ppm": ppm}
    if need <= 0:
        why = f"outbound {pct(share)}, at or above {pct(middle)}: no discount for inflow"
    else:
        why = (f"outbound {pct(share)}, below {pct(middle)}: a discount for liquidity coming back in, "
               f"{pct(fraction)} of the {policy.ppm} ppm fee × {need:.2f} = {-ppm} ppm")
    return InboundIntent(ppm=ppm, why=why, facts=facts)


def inbound_set_by_us(channels: Iterable[Channel], owned: Mapping[str, Tuple[int, int]]) -> AbstractSet[str]:
    """`evaluate`'s `inbound_ours`: the channels whose live inbound fee (base msat, ppm) is the one
    Fee Autopilot's own last change of it wrote (`owned`, the shell's record). Any other value was
    set by hand, or changed since by someone else."""
    return frozenset(
        c.chan_id for c in channels
        if c.local_policy is not None
        and owned.get(c.chan_id) == (c.local_policy.inbound_base_msat, c.local_policy.inbound_ppm)
    )
