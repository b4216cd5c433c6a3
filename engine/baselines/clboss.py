"""CLN feeadjuster / CLBOSS balance rule (prior-art §2.3, §2.4).

    ppm = median of competitors × 50^(0.5 − p)

The baseline is CLBOSS's: the capacity-weighted median base fee and ppm of every other channel
into the same peer, read from the graph. p is our local share taken at the centre of its bin,
`bins = round(capacity / 0.002 BTC)` clamped to 4…50 (CLBOSS `FeeModderByBalance`); the fee
changes only when the balance crosses into another bin. ppm >= 1.

Choices the description leaves open:
- Only the balance modder: no size modder, no price-theory card game (the rule named by the issue).
- The multiplier applies to the base fee too (CLBOSS multiplies the whole baseline fee).
- No random placement inside the bin (CLBOSS randomises bin moves against probing).
- A peer without competitors keeps its current fees.
- Cadence: hourly (CLBOSS runs about hourly); an update is sent only when the fees differ.

The feeadjuster plugin's own rule (the plain median, no bins, the base fee not scaled, recomputed
on balance moves after settled forwards) is `feeadjuster`.
"""

from __future__ import annotations

import math
from typing import List, Mapping, Sequence, Tuple

from ..snapshot import ACTIVE, Channel
from .common import FeeSetting

BIN_SAT = 200_000
MIN_BINS, MAX_BINS = 4, 50
CADENCE_HOURS = 1


def bin_centre_share(local_sat: int, remote_sat: int, capacity_sat: int) -> float:
    bins = max(MIN_BINS, min(MAX_BINS, int(round(capacity_sat / BIN_SAT))))
    total = local_sat + remote_sat
    share = local_sat / total if total > 0 else 0.5
    index = min(bins - 1, int(math.floor(share * bins)))
    return (index + 0.5) / bins


def multiplier(p: float) -> float:
    return 50 ** (0.5 - p)


def propose(channels: Sequence[Channel], medians: Mapping[str, Tuple[float, float, int]]) -> List[FeeSetting]:
    out = []
    for c in channels:
        if c.state != ACTIVE or c.private or c.local_policy is None or c.peer_id not in medians:
            continue
        base_med, ppm_med, _ = medians[c.peer_id]
        p = bin_centre_share(c.local_sat, c.remote_sat, c.capacity_sat)
        mult = multiplier(p)
        ppm = max(1, int(round(ppm_med * mult)))
        base = max(0, int(round(base_med * mult)))
        if (ppm, base) != (c.local_policy.ppm, c.local_policy.base_msat):
            out.append(FeeSetting(c.chan_id, base, ppm, reason=f"median {ppm_med:g} x {mult:.2f} (p={p:.2f})"))
    return out
