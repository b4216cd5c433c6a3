"""Core Lightning's feeadjuster plugin (`lightningd/plugins` `feeadjuster/`, prior-art §2.4).

What it does with its options at their defaults, except the fee strategy (below):

- Trigger: at start every channel (CHANNELD_NORMAL: open, the peer connected or not), then, after
  each settled forward, its incoming and outgoing channel.
- Target: `ppm = base_ppm × 50^(0.5 − p)` (`feeadjuster-adjustment-method` default), p = our
  balance / the channel's total (`feeadjuster-enough-liquidity` 0: off), ppm truncated to an
  integer. The base fee is the node's `fee-base` (`feeadjuster-basefee` off: it is not adjusted).
- Gate: a channel's fees are recomputed only when its balance moved, since the last time the
  plugin changed them, by more than `feeadjuster-threshold` 0.05 of its total or more than
  `feeadjuster-threshold-abs` 0.001 BTC; the first time always. Its last balance is the one at
  its last change (a recomputation that lands on the fees it has changes nothing and keeps it).
- `feeadjuster-imbalance` 0.5: inside (imbalance, 1 − imbalance) a channel gets `base_ppm` itself;
  at 0.5 the interval is empty, so the plugin always applies the ratio.
- A channel whose fees already are the target gets no setchannel.

Choices the description leaves open or the benchmark has to make:
- Fee strategy `median` (`feeadjuster-feestrategy`; the default `global` prices every channel
  from the node's single `fee-per-satoshi`, 10 ppm unless configured, which is no comparison
  with tools that read the market): base_ppm = the median (plain, not weighted) ppm of every
  other channel into the same peer, over the values strictly between 0 and 5000, ×
  `feeadjuster-median-multiplier` 1.0; a peer whose every such ppm is outside that range gets
  `fee-per-satoshi`, and a peer without other channels is priced from `fee-per-satoshi` too.
- `fee-base` and `fee-per-satoshi`: lightningd's defaults, 1000 msat and 10 ppm (the plugin falls
  back to the same when the config has none).
- Fuzz off (`feeadjuster-deactivate-fuzz`): the threshold's ±0.015 jitter and the random pause
  before an update would make a run irreproducible; with it the threshold is exact.
- Event-driven, checked hourly: the benchmark steps in hours, so the channels that had a settled
  forward during the hour are adjusted at its end with their balance then (the plugin, at each
  forward, could update a busy channel several times in an hour).
- Balances in whole sat (the plugin's msat), the 0.001 BTC threshold as 100,000 sat.
"""

from __future__ import annotations

import statistics
from typing import Collection, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..snapshot import ACTIVE, INACTIVE, Channel, NetworkGraph
from .common import FeeSetting

THRESHOLD = 0.05  # feeadjuster-threshold: a share of the channel's total
THRESHOLD_ABS_SAT = 100_000  # feeadjuster-threshold-abs: 0.001 BTC
IMBALANCE = 0.5  # feeadjuster-imbalance (always acts)
MEDIAN_MULTIPLIER = 1.0  # feeadjuster-median-multiplier
FEE_CEILING = 5000  # fees at or above it (and 0) are left out of the median ("fee extremists")
FEE_BASE_MSAT = 1000  # lightningd's fee-base default
FEE_PER_SATOSHI = 10  # lightningd's fee-per-satoshi default (ppm)
CADENCE_HOURS = 1


def ratio(p: float) -> float:
    """The default adjustment method: 50^(0.5 − p), 7.07 for an empty channel, 1 at half, 0.14 full."""
    return 50 ** (0.5 - p)


def competitor_fees(graph: NetworkGraph, our_id: str, peers: Iterable[str]) -> Dict[str, List[Tuple[int, int]]]:
    """Per peer: (base msat, ppm) of every other channel direction into it, as `listchannels
    destination=<peer>` lists them (disabled ones included: the plugin does not filter them)."""
    wanted = set(peers)
    out: Dict[str, List[Tuple[int, int]]] = {p: [] for p in wanted}
    for edge in graph.edges:
        for source, dest, policy in ((edge.node1, edge.node2, edge.policy1), (edge.node2, edge.node1, edge.policy2)):
            if dest in wanted and source != our_id and policy is not None:
                out[dest].append((policy.base_msat, policy.ppm))
    return out


def base_ppm(fees: Sequence[Tuple[int, int]]) -> float:
    """The median strategy's ppm for a peer from its other channels' (base, ppm): the median of the
    ppm values in (0, FEE_CEILING) × the multiplier; `fee-per-satoshi` when none is."""
    ppms = [ppm for _, ppm in fees if 0 < ppm < FEE_CEILING]
    if not fees:
        return float(FEE_PER_SATOSHI)
    if not ppms:  # the plugin puts fee-per-satoshi / multiplier in the list, then multiplies back
        ppms = [int(FEE_PER_SATOSHI / MEDIAN_MULTIPLIER)]
    return statistics.median(ppms) * MEDIAN_MULTIPLIER


def significant(last_local_sat: Optional[int], local_sat: int, capacity_sat: int) -> bool:
    """Whether the balance moved enough since the last change (None: never changed)."""
    if last_local_sat is None:
        return True
    if capacity_sat <= 0:
        return False
    return (abs(last_local_sat - local_sat) / capacity_sat > THRESHOLD
            or abs(last_local_sat - local_sat) > THRESHOLD_ABS_SAT)


def target(c: Channel, fees: Sequence[Tuple[int, int]]) -> Tuple[int, int, str]:
    """(base msat, ppm, reason) the plugin wants for the channel now, ignoring the gate."""
    p = c.local_sat / c.capacity_sat
    ppm = int(base_ppm(fees))
    if IMBALANCE < p < 1 - IMBALANCE:
        return FEE_BASE_MSAT, ppm, f"balance {p:.2f} inside ({IMBALANCE:g}, {1 - IMBALANCE:g}): median {ppm} ppm"
    r = ratio(p)
    return FEE_BASE_MSAT, int(ppm * r), f"median {ppm} x {r:.2f} (p={p:.2f})"


def propose(channels: Sequence[Channel], competitors: Mapping[str, Sequence[Tuple[int, int]]],
            last_local_sat: Mapping[str, int], touched: Optional[Collection[str]] = None) -> List[FeeSetting]:
    """The setchannel calls the plugin makes now.

    `competitors`: per peer, `competitor_fees`; `last_local_sat`: per chan_id, our balance when the
    plugin last changed the channel's fees (the caller records it for every setting returned);
    `touched`: the chan_ids that had a settled forward since the last call, None at the start
    (every channel)."""
    out = []
    for c in channels:
        if c.state not in (ACTIVE, INACTIVE) or c.local_policy is None or c.capacity_sat <= 0:
            continue
        if touched is not None and c.chan_id not in touched:
            continue
        p = c.local_sat / c.capacity_sat
        inside = IMBALANCE < p < 1 - IMBALANCE
        if not inside and not significant(last_local_sat.get(c.chan_id), c.local_sat, c.capacity_sat):
            continue
        base, ppm, why = target(c, competitors.get(c.peer_id, ()))
        if (base, ppm) != (c.local_policy.base_msat, c.local_policy.ppm):
            out.append(FeeSetting(c.chan_id, base, ppm, reason=why))
    return out
