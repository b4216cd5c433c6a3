"""Builders for engine tests (exposed as a session fixture so hypothesis can use them)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Dict, Optional

import pytest

from engine.snapshot import ACTIVE, Channel, FlowStats, GraphEdge, NetworkGraph, NodeSnapshot, Policy

US = "02" + "aa" * 32
NOW = 1_700_000_000
HEIGHT = 800_000


def policy(ppm: int = 100, base: int = 1000, disabled: bool = False) -> Policy:
    return Policy(base_msat=base, ppm=ppm, cltv_delta=40, min_htlc_msat=1000,
                  max_htlc_msat=990_000_000, disabled=disabled, inbound_base_msat=-5,
                  inbound_ppm=-7, last_update=NOW - 100)


def flows(out7: int = 0, in7: int = 0, out30: Optional[int] = None, in30: Optional[int] = None,
          fees30_msat: int = 0, fwd7: Optional[int] = None, out1: Optional[int] = None,
          in1: Optional[int] = None) -> Dict[int, FlowStats]:
    """7- and 30-day windows; the 1-day window only when out1 or in1 is given."""
    out30 = out7 * 3 if out30 is None else out30
    in30 = in7 * 3 if in30 is None else in30
    n7 = (1 if (out7 or in7) else 0) if fwd7 is None else fwd7
    day = {}
    if out1 is not None or in1 is not None:
        day[1] = FlowStats(days=1, forwards_out=1 if out1 else 0, forwards_in=1 if in1 else 0,
                           volume_out_sat=out1 or 0, volume_in_sat=in1 or 0)
    return {**day,
        7: FlowStats(days=7, forwards_out=n7 if out7 else 0, forwards_in=n7 if in7 else 0,
                     volume_out_sat=out7, volume_in_sat=in7, fees_earned_msat=fees30_msat // 4),
        30: FlowStats(days=30, forwards_out=1 if out30 else 0, forwards_in=1 if in30 else 0,
                      volume_out_sat=out30, volume_in_sat=in30, fees_earned_msat=fees30_msat),
    }


def channel(chan_id: str = "1", peer: str = "n01", capacity: int = 1_000_000, local: int = 500_000,
            ppm: int = 100, base: int = 1000, age_days: Optional[float] = 100, state: str = ACTIVE,
            **kw) -> Channel:
    funding = None if age_days is None else HEIGHT - int(age_days * 144)
    kw.setdefault("local_policy", policy(ppm, base))
    kw.setdefault("peer_policy", policy(50, 0))
    return Channel(chan_id=chan_id, short_id=f"{funding or 1}x{chan_id}x0", channel_point=f"tx{chan_id}:0",
                   peer_id=peer, peer_alias=f"alias-{peer}", state=state, capacity_sat=capacity,
                   local_sat=local, remote_sat=capacity - local, funding_height=funding, **kw)


def clique_graph(n: int = 8, fee: int = 200, capacity: int = 2_000_000, extra=()) -> NetworkGraph:
    """n nodes n00..; every pair connected; `extra` = more GraphEdges."""
    nodes = [f"n{i:02d}" for i in range(n)]
    edges = [GraphEdge(f"{i}x0x0", a, b, capacity, policy(fee, 0), policy(fee, 0))
             for i, (a, b) in enumerate(itertools.combinations(nodes, 2))]
    return NetworkGraph(edges=tuple(edges) + tuple(extra), aliases={x: x.upper() for x in nodes},
                        fingerprint=f"clique{n}")


def snapshot(*channels: Channel, graph: Optional[NetworkGraph] = None) -> NodeSnapshot:
    return NodeSnapshot(node_id=US, alias="us", taken_at=NOW, block_height=HEIGHT,
                        channels=tuple(channels), graph=graph)


@pytest.fixture(scope="session")
def mk() -> SimpleNamespace:
    return SimpleNamespace(US=US, NOW=NOW, HEIGHT=HEIGHT, policy=policy, flows=flows, channel=channel,
                           clique_graph=clique_graph, snapshot=snapshot)
