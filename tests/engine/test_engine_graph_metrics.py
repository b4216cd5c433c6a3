"""Graph metrics: agreement with networkx, determinism, caveats of the data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import networkx as nx
import pytest

from engine.graph_metrics import compute_graph_metrics, metrics_key, weighted_median
from engine.ingest_cln import graph_from_listchannels
from engine.settings import GraphSettings
from engine.snapshot import GraphEdge, NetworkGraph

GRAPH_2024 = Path(__file__).resolve().parents[2] / "refdata" / "lngraph" / "ln-2024-09-22.listchannels.json.gz"


def random_graph(mk, n=60, m=150, seed=3):
    g = nx.gnm_random_graph(n, m, seed=seed)
    p = mk.policy(10, 0)
    edges = tuple(GraphEdge(f"{i}x0x0", *sorted((f"n{a:03d}", f"n{b:03d}")), 1000, p, p)
                  for i, (a, b) in enumerate(g.edges()))
    return NetworkGraph(edges, fingerprint=f"gnm{seed}")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exact_mode_matches_networkx(mk, seed):
    graph = random_graph(mk, seed=seed)
    metrics = compute_graph_metrics(graph, "n000", GraphSettings(betweenness_samples=10_000))
    h = nx.Graph((e.node1, e.node2) for e in graph.edges)
    main = h.subgraph(max(nx.connected_components(h), key=len))
    bc, cc = nx.betweenness_centrality(main), nx.closeness_centrality(main)
    assert metrics.exact
    for node in main:
        assert metrics.node(node).betweenness == pytest.approx(bc[node], abs=1e-12)
        assert metrics.node(node).closeness == pytest.approx(cc[node], abs=1e-12)
    assert metrics.our_closeness == pytest.approx(nx.closeness_centrality(h, "n000"))


def test_sampling_is_deterministic_and_keyed(mk):
    graph = random_graph(mk, n=200, m=600)
    settings = GraphSettings(betweenness_samples=20, seed=5)
    a = compute_graph_metrics(graph, "n000", settings)
    b = compute_graph_metrics(graph, "n000", settings)
    assert not a.exact and a.samples == 20
    assert [x.betweenness for x in a.nodes.values()] == [x.betweenness for x in b.nodes.values()]
    assert a.key == metrics_key(graph, "n000", settings) != metrics_key(graph, "n001", settings)


def test_disabled_halves_dropped_and_parallel_channels_merged(mk):
    on, off = mk.policy(100, 0), mk.policy(0, 0, disabled=True)
    graph = NetworkGraph((
        GraphEdge("1x0x0", "a", "b", 1_000, on, on),
        GraphEdge("2x0x0", "a", "b", 3_000, on, off),  # parallel, one half enabled: still routable
        GraphEdge("3x0x0", "a", "c", 5_000, off, off),  # fully disabled: not in the graph
    ), fingerprint="t")
    m = compute_graph_metrics(graph, "zz")
    assert m.edge_count == 1 and m.node("a").degree == 1 and m.node("a").channels == 2
    assert m.node("a").capacity_sat == 4_000
    assert m.node("c") is not None and m.node("c").degree == 0  # known only by its disabled half
    assert m.node("a").own_disabled_share == pytest.approx(1 / 3)
    # fees into b: a's enabled halves only (1k and 3k sat, both 100 ppm)
    assert m.node("b").competitor_fee_median_ppm == 100 and m.node("b").competitor_channels == 2


def test_weighted_median():
    assert weighted_median([]) is None
    assert weighted_median([(5, 1), (100, 1), (7, 10)]) == 7
    assert weighted_median([(1, 1), (2, 1)]) == 1
    assert weighted_median([(1, 0), (9, 3)]) == 9


def test_reach_through_peers(mk):
    p = mk.policy(1, 0)
    e = lambda i, a, b: GraphEdge(f"{i}x0x0", a, b, 1000, p, p)  # noqa: E731
    # our peers P and Q; P reaches x, y; Q reaches y, z
    graph = NetworkGraph((e(1, "P", "x"), e(2, "P", "y"), e(3, "Q", "y"), e(4, "Q", "z"), e(5, "P", "Q")))
    reach = compute_graph_metrics(graph, "us").reach_through(["P", "Q"])
    assert (reach["P"].second_hop, reach["P"].unique) == (2, 1)
    assert (reach["Q"].second_hop, reach["Q"].unique) == (2, 1)


def test_empty_graph_and_none(mk):
    for graph in (None, NetworkGraph(edges=())):
        m = compute_graph_metrics(graph, "us")
        assert m.node_count == 0 and m.reach_through(["x"]) == {}


def test_real_2024_graph_main_component():
    assert GRAPH_2024.is_file(), f"graph snapshot missing: {GRAPH_2024} (committed in refdata/lngraph/)"
    with gzip.open(GRAPH_2024, "rt") as fh:
        raw = json.load(fh)
    graph = graph_from_listchannels(raw["channels"], raw["aliases"])
    m = compute_graph_metrics(graph, "02" + "00" * 32, GraphSettings(betweenness_samples=30))
    # the data README: 16,902 nodes / 54,238 channels in the active main component
    assert (m.main_component_nodes, m.main_component_edges) == (16_902, 54_238)
    acinq = next(x for x in m.nodes.values() if x.alias == "ACINQ")
    assert acinq.betweenness_pct > 0.99 and acinq.channels > 1_500
