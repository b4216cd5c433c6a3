"""lndmanage `update-fees` (prior-art §2.6), run weekly as its docs advise.

Per channel over the last 7 days:
- demand factor `c = 1 + 0.5·(r/r_t − 1)`, r = outbound volume per day, r_t = 100 000/7 sat/day,
  capped at 1.5 and floored by the balance factor `delta_min`;
- `delta_min`: reserve = 500 000 sat (capacity/3 for small channels); local balance below the
  reserve → `1 + 0.05·(reserve − lb)/reserve` (≤ 1.05), above → `1 − 0.5·(lb − reserve)/(cap − reserve)` (≥ 0.5);
- base fee factor `1 + 0.5·(n/n_t − 1)` in [0.75, 1.5], n = outbound forwards per day, n_t = 4/7;
- clamps: ppm 5–5000, base 0–5000 msat; cltv delta 40 (lndmanage sets it).

Choices: "small" channel = capacity/3 < 500 000 sat, i.e. reserve = min(500 000, capacity/3);
`--reckless` (no prompt); every active public channel is updated when anything differs.
"""

from __future__ import annotations

from typing import List, Sequence

from ..snapshot import ACTIVE, Channel
from .common import FeeSetting

DAYS = 7
R_T = 100_000 / 7
N_T = 4 / 7
DELTA_MAX = 1.5
DELTA_MIN_UP = 0.05
DELTA_MIN_DN = 0.50
RESERVE_SAT = 500_000
MIN_PPM, MAX_PPM = 5, 5000
MIN_BASE, MAX_BASE = 0, 5000
CLTV = 40
CADENCE_HOURS = 24 * 7


def delta_min(local_sat: int, capacity_sat: int) -> float:
    reserve = min(RESERVE_SAT, capacity_sat / 3)
    if local_sat <= reserve:
        return 1 + DELTA_MIN_UP * (reserve - local_sat) / reserve if reserve > 0 else 1.0
    return 1 - DELTA_MIN_DN * (local_sat - reserve) / (capacity_sat - reserve)


def factors(c: Channel) -> tuple:
    week = c.flow.get(DAYS)
    volume = week.volume_out_sat if week else 0
    forwards = week.forwards_out if week else 0
    r = volume / DAYS
    demand = 1 + 0.5 * (r / R_T - 1)
    fee_factor = min(DELTA_MAX, max(demand, delta_min(c.local_sat, c.capacity_sat)))
    n = forwards / DAYS
    base_factor = min(1.5, max(0.75, 1 + 0.5 * (n / N_T - 1)))
    return fee_factor, base_factor


def propose(channels: Sequence[Channel]) -> List[FeeSetting]:
    out = []
    for c in channels:
        if c.state != ACTIVE or c.private or c.local_policy is None or c.capacity_sat <= 0:
            continue
        fee_factor, base_factor = factors(c)
        ppm = max(MIN_PPM, min(MAX_PPM, int(round(c.local_policy.ppm * fee_factor))))
        base = max(MIN_BASE, min(MAX_BASE, int(round(c.local_policy.base_msat * base_factor))))
        if (ppm, base, CLTV) != (c.local_policy.ppm, c.local_policy.base_msat, c.local_policy.cltv_delta):
            out.append(FeeSetting(c.chan_id, base, ppm, cltv_delta=CLTV,
                                  reason=f"fee x{fee_factor:.2f}, base x{base_factor:.2f}"))
    return out
