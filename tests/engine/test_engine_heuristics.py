"""Hand-computed cases for each of the eight heuristics."""

from __future__ import annotations

import pytest

from engine.graph_metrics import compute_graph_metrics
from engine.heuristics import (
    ChannelContext, activity, centrality, competitiveness, liquidity, network_position,
    peer_quality, stability, uptime,
)
from engine.settings import EngineSettings
from engine.snapshot import INACTIVE, ChangeRecord, GraphEdge, NetworkGraph

S = EngineSettings()


def ctx(mk, ch, graph=None, history=(), settings=S):
    metrics = compute_graph_metrics(graph, mk.US, settings.graph) if graph is not None else None
    reach = metrics.reach_through([ch.peer_id]).get(ch.peer_id) if metrics else None
    return ChannelContext(channel=ch, settings=settings, now=mk.NOW, block_height=mk.HEIGHT,
                          history=tuple(history), metrics=metrics,
                          peer=metrics.node(ch.peer_id) if metrics else None, reach=reach)


@pytest.mark.parametrize("local,expected", [(100_000, 0.4), (900_000, 0.4), (500_000, 1.0),
                                            (250_000, 1.0), (0, 0.0), (1_000_000, 0.0)])
def test_liquidity_band(mk, local, expected):
    r = liquidity(ctx(mk, mk.channel(local=local)))
    assert r.score == pytest.approx(expected, abs=1e-4)
    assert r.evidence["local_share"] == pytest.approx(local / 1_000_000)


def test_liquidity_unknown_without_balance(mk):
    assert liquidity(ctx(mk, mk.channel(capacity=0, local=0))).score is None


def test_activity_hand_computed(mk):
    ch = mk.channel(flow=mk.flows(out7=70_000, in7=30_000, out30=210_000, in30=90_000, fees30_msat=300_000))
    r = activity(ctx(mk, ch))
    # weekly turnover (0.10 + 0.07) / 2 = 0.085; yield 300 sat / 1M * 365/30 = 0.00365
    expected = 0.5 * 0.085 / 0.185 + 0.5 * 0.00365 / 0.00865
    assert r.score == pytest.approx(expected, abs=1e-4)
    assert r.evidence["weekly_turnover"] == pytest.approx(0.085)


def test_activity_unknown_without_flow_and_zero_when_idle(mk):
    assert activity(ctx(mk, mk.channel())).score is None
    assert activity(ctx(mk, mk.channel(flow=mk.flows()))).score == 0.0


def test_competitiveness_hand_computed(mk):
    # ours: 100 ppm + 1000 msat base at 100k sat = 110 ppm; competitors into n01: 200 ppm
    r = competitiveness(ctx(mk, mk.channel(ppm=100, base=1000), mk.clique_graph()))
    ratio = 120 / 210
    import math
    assert r.score == pytest.approx(1 / (1 + (math.log2(ratio) / 1.5) ** 2), abs=1e-4)
    assert r.evidence["competitor_median_ppm"] == 200
    assert r.evidence["competitor_channels"] == 7


def test_competitiveness_excludes_our_own_channel(mk):
    ours = GraphEdge("9x9x9", mk.US, "n01", 50_000_000, mk.policy(5000, 0), mk.policy(1, 0))
    r = competitiveness(ctx(mk, mk.channel(ppm=200, base=0), mk.clique_graph(extra=[ours])))
    assert r.evidence["competitor_median_ppm"] == 200  # our 5000 ppm, 50M sat, not counted
    assert r.score == pytest.approx(1.0)


def test_competitiveness_unknown_without_graph(mk):
    assert competitiveness(ctx(mk, mk.channel())).score is None


def test_uptime_ratio_and_flaps(mk):
    assert uptime(ctx(mk, mk.channel(uptime_s=900, lifetime_s=1000))).score == pytest.approx(0.9)
    # 1 flap over <1 day counts as 1/day -> factor 1/2
    assert uptime(ctx(mk, mk.channel(uptime_s=900, lifetime_s=1000, peer_flap_count=1))).score == pytest.approx(0.45)
    assert uptime(ctx(mk, mk.channel(peer_online=False))).score == pytest.approx(0.2)
    assert uptime(ctx(mk, mk.channel(state=INACTIVE))).score == pytest.approx(0.1)
    assert uptime(ctx(mk, mk.channel())).score is None


def test_stability_hand_computed(mk):
    ch = mk.channel(age_days=100)
    assert stability(ctx(mk, ch)).score == pytest.approx(1.0)
    day = 86_400
    history = [ChangeRecord("1", mk.NOW - 3 * day, 100, 120), ChangeRecord("1", mk.NOW - 2 * day, 120, 100),
               ChangeRecord("1", mk.NOW - 1 * day, 100, 120)]
    r = stability(ctx(mk, ch, history=history))
    assert r.evidence["reversals"] == 2
    allowed = S.anti_oscillation.max_reversals
    assert r.score == pytest.approx(0.4 + 0.3 / 7 + 0.3 * (1 - 2 / (allowed + 1)), abs=1e-4)
    assert stability(ctx(mk, mk.channel(age_days=None))).score is None


def test_peer_quality_hand_computed(mk):
    r = peer_quality(ctx(mk, mk.channel(), mk.clique_graph()))
    import math
    expected = 0.4 * math.log10(14) / 4 + 0.3 * math.log10(7) / 3 + 0.3 * 1.0
    assert r.score == pytest.approx(expected, abs=1e-4)
    assert r.evidence["channels"] == 7 and r.evidence["capacity_sat"] == 14_000_000


def test_peer_quality_penalises_absurd_fees_and_disabled_channels(mk):
    g = mk.clique_graph(fee=16_000)
    assert peer_quality(ctx(mk, mk.channel(), g)).evidence["fee_sanity"] == pytest.approx(0.0)


def path_graph(mk):
    p = mk.policy(10, 0)
    return NetworkGraph(edges=(GraphEdge("1x0x0", "n00", "n01", 1_000_000, p, p),
                               GraphEdge("2x0x0", "n01", "n02", 1_000_000, p, p)), fingerprint="path")


def test_centrality_path_middle_is_most_central(mk):
    g = path_graph(mk)
    middle = centrality(ctx(mk, mk.channel(peer="n01"), g))
    end = centrality(ctx(mk, mk.channel(peer="n00"), g))
    # betweenness [0, 1, 0] and closeness [2/3, 1, 2/3]: middle mid-rank percentile (2+3)/2/3
    assert middle.score == pytest.approx(5 / 6, abs=1e-4)
    assert end.score == pytest.approx(1 / 3, abs=1e-4)
    assert centrality(ctx(mk, mk.channel(peer="nobody"), g)).score is None


def test_network_position_clique(mk):
    r = network_position(ctx(mk, mk.channel(), mk.clique_graph()))
    # all degrees equal -> percentile 0.5; 7 second-hop nodes, all unique
    assert r.evidence["unique_reach"] == 7
    assert r.score == pytest.approx(0.25 + 0.5 * 7 / 17, abs=1e-4)


def test_total_reweights_known_parts_and_reports_confidence(mk):
    from engine.evaluate import evaluate
    ch = mk.channel(local=500_000)  # liquidity 1.0, stability 1.0; the rest unknown
    ev = evaluate(mk.snapshot(ch), S, [], None, mk.NOW)
    a = ev.channels[0]
    assert a.score == pytest.approx(1.0)
    assert a.confidence == pytest.approx(0.30)  # 0.25 liquidity + 0.05 stability
    assert {p.name for p in a.parts if p.score is None} == {
        "centrality", "activity", "competitiveness", "uptime", "peer_quality", "network_position"}
