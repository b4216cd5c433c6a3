"""How much could the best *fixed* fees earn? An in-sample search, for judging the strategy results.

    .venv/bin/python bench/static_oracle.py                 # 2024 seeds 1-5 (the tuning seeds), ~6 min
    .venv/bin/python bench/static_oracle.py --seeds 1 --days 7

For each seed, every active channel's fee is set once, at the start, to a multiple of its market's
median ppm (base fee 0), then never changed for `--days`. A coordinate search (two sweeps over
the channels, each trying every multiple in MULTIPLES) keeps whatever earns more on *this* seed's
own traffic, so the result is an optimistic ceiling for fixed fees: no strategy could know the
traffic in advance. The CLBOSS balance rule (hourly) runs on the same seed for the ratio.

This is an analysis tool, not a strategy: it reads simnode's market model directly.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import List, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import strategies as bench  # noqa: E402
from engine.ingest_lnd import chanpolicy_body, edge_policies  # noqa: E402

MULTIPLES = (0.25, 0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0, 3.0)
SWEEPS = 2


def market_median_ppm(sim, channel) -> float:
    from simnode.node import _market

    return _market(sim.graph, channel.peer, sim.params, sim.buckets, sim.pubkey).median_ppm


def earn_with_fixed_fees(graph: str, seed: int, multiples: Sequence[float], days: float) -> float:
    """Fees earned (sat) with each active channel fixed at multiple x max(median, 25 ppm)."""
    sim = bench.new_sim(graph, seed)
    lnd = bench.Lnd(sim)
    for channel, multiple in zip(sim.channels, multiples):
        if not channel.active:
            continue
        ppm = int(round(max(25.0, market_median_ppm(sim, channel)) * multiple))
        live, _ = edge_policies(lnd.get(f"/v1/graph/edge/{channel.chan_id}"), sim.pubkey)
        lnd.post("/v1/chanpolicy", chanpolicy_body(channel.channel_point, replace(live, ppm=ppm, base_msat=0)))
    start = sum(c.revenue_msat for c in sim.channels)
    sim.advance(hours=days * 24)
    return (sum(c.revenue_msat for c in sim.channels) - start) / 1000


def search(job: Tuple[str, int, float]) -> Tuple[int, float, float, float, List[float]]:
    graph, seed, days = job
    channels = bench.new_sim(graph, seed).channels
    multiples = [1.0] * len(channels)
    at_median = best = earn_with_fixed_fees(graph, seed, multiples, days)
    for _ in range(SWEEPS):
        for i, channel in enumerate(channels):
            if not channel.active:
                continue
            for m in MULTIPLES:
                if m == multiples[i]:
                    continue
                trial = multiples[:i] + [m] + multiples[i + 1:]
                earned = earn_with_fixed_fees(graph, seed, trial, days)
                if earned > best:
                    best, multiples = earned, trial
    clboss = bench.run_strategy("clboss", bench.seed_context(graph, seed, with_metrics=False), days)["fees_sat"]
    return seed, at_median, best, clboss, multiples


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="2024", choices=("2024", "2026"))
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(list(argv) or None)
    jobs = [(args.graph, int(s), args.days) for s in args.seeds.split(",")]
    print(f"{len(jobs)} seeds, {args.days:g} days, multiples of the market median {MULTIPLES}")
    rows = []
    with multiprocessing.Pool(args.workers) as pool:
        for seed, at_median, best, clboss, multiples in pool.imap(search, jobs):
            rows.append((at_median, best, clboss))
            print(f"  {args.graph} seed {seed}: every channel at its median {at_median:,.0f} sat, "
                  f"best fixed fees {best:,.0f} sat, CLBOSS hourly {clboss:,.0f} sat "
                  f"-> {best / clboss:.2f}x; multiples {multiples}", flush=True)
    at_median, best, clboss = (statistics.mean(r[i] for r in rows) for i in range(3))
    print(f"mean: at the median {at_median:,.0f}, best fixed {best:,.0f}, CLBOSS {clboss:,.0f} "
          f"-> best fixed / CLBOSS {best / clboss:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
