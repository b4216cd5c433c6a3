"""Shared bits of the baselines: the result type and the competitors' median fees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple

from ..snapshot import NetworkGraph


@dataclass(frozen=True)
class FeeSetting:
    """What a baseline wants for one channel: the outbound fees, optionally the cltv delta.

    The harness sends the channel's complete live policy with these fields replaced.
    """

    chan_id: str
    base_msat: int
    ppm: int
    cltv_delta: Optional[int] = None
    reason: str = ""


def weighted_median(values: Iterable[Tuple[float, float]]) -> Optional[float]:
    """Lower weighted median of (value, weight) pairs; None when empty."""
    items = sorted((v, w) for v, w in values if w > 0)
    if not items:
        return None
    total = sum(w for _, w in items)
    acc = 0.0
    for value, w in items:
        acc += w
        if acc >= total / 2:
            return value
    return items[-1][0]


def competitor_medians(graph: NetworkGraph, our_id: str, peers: Iterable[str]) -> Dict[str, Tuple[float, float, int]]:
    """Per peer: capacity-weighted median (base msat, ppm) of every *other* enabled channel
    into that peer, and how many there are (CLBOSS `PeerCompetitorFeeMonitor`)."""
    wanted = set(peers)
    acc: Dict[str, list] = {p: [] for p in wanted}
    for edge in graph.edges:
        for source, dest, policy in ((edge.node1, edge.node2, edge.policy1), (edge.node2, edge.node1, edge.policy2)):
            if dest in wanted and source != our_id and policy is not None and not policy.disabled:
                acc[dest].append((policy.base_msat, policy.ppm, edge.capacity_sat))
    out: Dict[str, Tuple[float, float, int]] = {}
    for peer, rows in acc.items():
        if not rows:
            continue
        base = weighted_median((b, c) for b, _, c in rows)
        ppm = weighted_median((p, c) for _, p, c in rows)
        out[peer] = (float(base or 0), float(ppm or 0), len(rows))
    return out
