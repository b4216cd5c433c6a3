"""Benchmark: score N channels against the 2024 graph, cold and warm, next to a baseline.

    .venv/bin/python bench/score.py            # 1,000 channels; baseline = networkx exact
                                               # betweenness on the 2026 graph's main component (~4 min)
    .venv/bin/python bench/score.py --quick    # 100 channels; baseline on a 1,000-node subgraph
    .venv/bin/python bench/score.py --skip-baseline

Each phase runs in its own subprocess, so the peak RSS printed (ru_maxrss) is that
phase's own, including loading the graph:
  cold     load graph, build the snapshot, then time compute_graph_metrics + evaluate
  warm     same process state as the shell with cached metrics: time evaluate only
  baseline networkx.betweenness_centrality (exact) on the 2026 main component

The 1,000-channel snapshot is synthetic but drawn from the real graph: a made-up node
with channels to real peers (picked with probability ~ degree, seeded), capacities
taken from each peer's real channels, random balances, flows, uptime and change log.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.evaluate import evaluate  # noqa: E402
from engine.graph_metrics import compute_graph_metrics  # noqa: E402
from engine.ingest_cln import graph_from_listchannels  # noqa: E402
from engine.settings import EngineSettings, GraphSettings  # noqa: E402
from engine.snapshot import (  # noqa: E402
    ACTIVE,
    INACTIVE,
    Channel,
    ChangeRecord,
    FlowStats,
    NetworkGraph,
    NodeSnapshot,
    Policy,
)

DATA = ROOT / "refdata" / "lngraph"  # committed with the repository
GRAPH_2024 = DATA / "ln-2024-09-22.listchannels.json.gz"
GRAPH_2026 = DATA / "ln-2026-02-03.listchannels.json.gz"
OUR_NODE = "02" + "fe" * 32
NOW = 1_727_000_000  # shortly after the 2024 snapshot
BLOCK_HEIGHT = 862_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def require_snapshot(path: Path) -> None:
    """Stop with the missing file's name (the snapshots are committed in refdata/lngraph/)."""
    if not path.is_file():
        raise SystemExit(f"bench/score.py: graph snapshot missing: {path} (it is committed in refdata/lngraph/; restore it from git)")


def read_snapshot(path: Path) -> Dict[str, Any]:
    require_snapshot(path)
    with gzip.open(path, "rt") as fh:
        return json.load(fh)


def load_graph(path: Path) -> NetworkGraph:
    raw = read_snapshot(path)
    graph = graph_from_listchannels(raw["channels"], raw.get("aliases", {}), taken_at=NOW)
    del raw
    return graph


def synthetic_snapshot(graph: NetworkGraph, n_channels: int, seed: int = 7):
    """A node with `n_channels` channels to real peers of `graph`, plus a change log."""
    rng = random.Random(seed)
    peer_caps: Dict[str, List[int]] = {}
    peer_fees: Dict[str, List[Policy]] = {}
    for e in graph.edges:
        for node, policy in ((e.node1, e.policy1), (e.node2, e.policy2)):
            if policy is not None and not policy.disabled:
                peer_caps.setdefault(node, []).append(e.capacity_sat)
                peer_fees.setdefault(node, []).append(policy)
    candidates = sorted(peer_caps)
    weights = [len(peer_caps[p]) for p in candidates]
    chosen: List[str] = []
    seen = set()
    while len(chosen) < min(n_channels, len(candidates)):
        peer = rng.choices(candidates, weights)[0]
        if peer not in seen:
            seen.add(peer)
            chosen.append(peer)
    channels = []
    history = []
    for i, peer in enumerate(chosen):
        capacity = max(100_000, rng.choice(peer_caps[peer]))
        share = rng.choice([rng.random(), rng.random(), rng.uniform(0, 0.1), rng.uniform(0.9, 1)])
        local = int(capacity * share * 0.99)
        peer_policy = rng.choice(peer_fees[peer])
        ppm = max(0, int(rng.lognormvariate(5, 1.2)))
        block = BLOCK_HEIGHT - rng.choice([rng.randint(0, 400), rng.randint(400, 100_000)])
        short_id = f"{block}x{i}x0"
        chan_id = str((block << 40) | (i << 16))
        idle = rng.random() < 0.3
        flow = {}
        for days in (1, 7, 30):
            if idle:
                flow[days] = FlowStats(days=days)
                continue
            out = int(capacity * rng.random() * days / 30)
            inn = int(capacity * rng.random() * days / 30)
            flow[days] = FlowStats(days=days, forwards_out=rng.randint(1, 10 * days),
                                   forwards_in=rng.randint(1, 10 * days), volume_out_sat=out,
                                   volume_in_sat=inn, fees_earned_msat=out * ppm // 1000,
                                   fees_assisted_msat=inn * 100 // 1000)
        lifetime = rng.randint(86_400, 90 * 86_400)
        channels.append(Channel(
            chan_id=chan_id, short_id=short_id, channel_point=f"{i:064x}:0", peer_id=peer,
            peer_alias=graph.aliases.get(peer, ""), state=ACTIVE if rng.random() > 0.05 else INACTIVE,
            capacity_sat=capacity, local_sat=local, remote_sat=capacity - local - 1000,
            local_policy=Policy(base_msat=rng.choice([0, 1000]), ppm=ppm, cltv_delta=80,
                                min_htlc_msat=1000, max_htlc_msat=capacity * 990),
            peer_policy=peer_policy, funding_height=block, uptime_s=int(lifetime * rng.uniform(0.7, 1)),
            lifetime_s=lifetime, peer_online=rng.random() > 0.05, peer_flap_count=rng.randint(0, 20),
            flow=flow, failed_out_1d=rng.randint(0, 30) if share < 0.1 else 0,
        ))
        for k in range(rng.randint(0, 3)):
            new = max(0, ppm + rng.randint(-50, 50))
            history.append(ChangeRecord(chan_id=chan_id, at=NOW - rng.randint(600, 20 * 86_400),
                                        old_ppm=ppm, new_ppm=new))
    snapshot = NodeSnapshot(node_id=OUR_NODE, alias="bench", taken_at=NOW, block_height=BLOCK_HEIGHT,
                            channels=tuple(channels), graph=graph, backend="bench",
                            sources={"channels": True, "policies": True, "forwards": True, "graph": True})
    return snapshot, history


# --- phases (each in its own process) ------------------------------------------


def phase_score(args: argparse.Namespace, warm: bool) -> Dict[str, Any]:
    t0 = time.perf_counter()
    graph = load_graph(GRAPH_2024)
    load_s = time.perf_counter() - t0
    snapshot, history = synthetic_snapshot(graph, args.channels)
    settings = EngineSettings()
    if args.samples:
        settings = EngineSettings(graph=GraphSettings(betweenness_samples=args.samples))
    rss_loaded = peak_rss_mb()
    out: Dict[str, Any] = {"load_s": load_s, "rss_after_load_mb": rss_loaded, "channels": len(snapshot.channels)}
    t0 = time.perf_counter()
    metrics = compute_graph_metrics(snapshot.graph, snapshot.node_id, settings.graph)
    metrics_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    evaluation = evaluate(snapshot, settings, history, metrics, NOW)
    first_eval_s = time.perf_counter() - t1
    out.update(metrics_s=metrics_s, samples=metrics.samples, cold_s=metrics_s + first_eval_s,
               counts=evaluation.counts())
    if warm:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            evaluation = evaluate(snapshot, settings, history, metrics, NOW)
            json.dumps(evaluation.to_dict())  # the shell stores it: include serialising
            times.append(time.perf_counter() - t)
        out.update(warm_s=statistics.median(times), warm_max_s=max(times))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def phase_baseline(args: argparse.Namespace) -> Dict[str, Any]:
    import networkx as nx

    raw = read_snapshot(GRAPH_2026)
    g = nx.Graph()
    g.add_edges_from((c["source"], c["destination"]) for c in raw["channels"] if c.get("active"))
    del raw
    lcc = g.subgraph(max(nx.connected_components(g), key=len)).copy()
    if args.quick:  # a 1,000-node ball around the best-connected node
        hub = max(lcc.degree, key=lambda kv: (kv[1], kv[0]))[0]
        ball = list(nx.single_source_shortest_path_length(lcc, hub).keys())[:1000]
        lcc = lcc.subgraph(ball).copy()
    t0 = time.perf_counter()
    nx.betweenness_centrality(lcc)
    return {"baseline_s": time.perf_counter() - t0, "nodes": lcc.number_of_nodes(),
            "edges": lcc.number_of_edges(), "peak_rss_mb": peak_rss_mb()}


def run_phase(name: str, argv: List[str]) -> Dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", name, *argv]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 channels, small baseline")
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--samples", type=int, default=None, help="betweenness pivots (default: settings)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--phase", choices=["cold", "warm", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.channels is None:
        args.channels = 100 if args.quick else 1000

    if args.phase:
        result = phase_baseline(args) if args.phase == "baseline" else phase_score(args, args.phase == "warm")
        print(json.dumps(result))
        return

    for path in (GRAPH_2024,) if args.skip_baseline else (GRAPH_2024, GRAPH_2026):
        require_snapshot(path)  # here, not only in a phase whose stderr is captured
    passthrough = ["--channels", str(args.channels)] + (["--quick"] if args.quick else [])
    if args.samples:
        passthrough += ["--samples", str(args.samples)]
    print(f"Scoring {args.channels} channels against {GRAPH_2024.name} on {os.cpu_count()} cores")
    cold = run_phase("cold", passthrough)
    print(f"  graph load (JSON + NetworkGraph): {cold['load_s']:.2f} s, RSS after load {cold['rss_after_load_mb']:.0f} MB")
    print(f"  cold  (metrics k={cold['samples']} + evaluate): {cold['cold_s']:.2f} s "
          f"(metrics {cold['metrics_s']:.2f} s)   peak RSS {cold['peak_rss_mb']:.0f} MB")
    warm = run_phase("warm", passthrough)
    print(f"  warm  (evaluate + to_dict, metrics cached): {warm['warm_s']:.3f} s median of 3 "
          f"(max {warm['warm_max_s']:.3f} s)   peak RSS {warm['peak_rss_mb']:.0f} MB")
    print(f"  decisions: {cold['counts']}")
    targets = (cold["cold_s"] < 60, warm["warm_s"] < 2, max(cold["peak_rss_mb"], warm["peak_rss_mb"]) < 500)
    print(f"  targets: cold < 60 s {'OK' if targets[0] else 'MISSED'}, warm < 2 s {'OK' if targets[1] else 'MISSED'}, "
          f"peak RSS < 500 MB {'OK' if targets[2] else 'MISSED'}")
    if args.skip_baseline:
        return
    base = run_phase("baseline", passthrough)
    what = "1,000-node subgraph of" if args.quick else "main component of"
    print(f"Baseline: networkx exact betweenness_centrality on the {what} {GRAPH_2026.name} "
          f"({base['nodes']} n / {base['edges']} e): {base['baseline_s']:.1f} s, peak RSS {base['peak_rss_mb']:.0f} MB")
    print(f"  ratios: cold / baseline = {cold['cold_s'] / base['baseline_s']:.3f}, "
          f"warm / baseline = {warm['warm_s'] / base['baseline_s']:.5f}, "
          f"baseline / cold = {base['baseline_s'] / cold['cold_s']:.1f}x")


if __name__ == "__main__":
    main()
