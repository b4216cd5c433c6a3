"""Benchmark (issue 15): building a run's answer (`POST /runs`, `GET /runs/{id}`) in LNbits' process.

    .venv/bin/python bench/run_answer.py                 # 2,000 channels drawn from the 2024 graph
    .venv/bin/python bench/run_answer.py --channels 200

The decisions are the engine's, on bench/score.py's synthetic node (its channels to real peers of
the 2024 graph, its change log; no graph metrics: they do not change a decision's shape), as the
heavy-work process stores them, with the outcomes the change service adds. Their answer is built
two ways in the same run, and both must give the same text:

  pydantic   RunDetail(**run, decisions=...), FastAPI's jsonable_encoder, json.dumps (the old way)
  fields     run_encoding.run_detail_json: the model's fields, no pydantic object (the route's way)

Printed for each: the time (median of 5; it holds LNbits' interpreter lock, in a thread), the peak of
the memory it allocated (tracemalloc) and the container objects alive at that peak that the
collector tracks (what can outlive its young generations and set off a full collection of
LNbits' heap), with the ratio of `fields` to `pydantic`.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.score import GRAPH_2024, NOW, load_graph, synthetic_snapshot  # noqa: E402
from devtools.extension_modules import load  # noqa: E402
from engine.evaluate import evaluate  # noqa: E402
from engine.settings import EngineSettings  # noqa: E402

PACKAGE = "feepilot_bench_answer"


def decisions_of(channels: int) -> list[dict]:
    worker = load(PACKAGE, "worker", share_engine=True)
    run_encoding = load(PACKAGE, "run_encoding")
    snapshot, history = synthetic_snapshot(load_graph(GRAPH_2024), channels)
    evaluation = evaluate(snapshot, EngineSettings(), history, None, NOW)
    rows = run_encoding.decode_decisions(run_encoding.encode_decisions(worker.decision_rows(evaluation, snapshot)))
    for row in rows:  # as change_service.decisions_with_outcomes leaves them
        row.update(id=f"bench-{row['order']}", run_id="bench", created_at=NOW,
                   status="would_apply" if row["accepted"] else "no_action", change_id=None, message=None)
    return rows


def tracked_at_peak(build: Callable[[], bytes]) -> int:
    """Container objects the collector tracks, alive while the answer is built: counted when
    json.dumps is called (patched for the count), when everything the text is made from is built
    and still referenced."""
    gc.collect()
    before = len(gc.get_objects())
    seen: list[int] = []
    original = json.dumps

    def counting_dumps(*args, **kwargs):
        seen.append(len(gc.get_objects()))
        return original(*args, **kwargs)

    json.dumps = counting_dumps  # type: ignore[assignment]
    try:
        build()
    finally:
        json.dumps = original  # type: ignore[assignment]
    return max(seen) - before


def measure(build: Callable[[], bytes]) -> dict:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        build()
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    build()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"ms": statistics.median(times) * 1000, "peak_mb": peak / 1e6, "tracked": tracked_at_peak(build)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=2000)
    args = parser.parse_args()
    from fastapi.encoders import jsonable_encoder

    decisions = decisions_of(args.channels)
    models = load(PACKAGE, "models")
    run_encoding = load(PACKAGE, "run_encoding")
    run = {"id": "bench", "created_at": NOW, "finished_at": NOW + 2, "kind": "dry_run", "requested_by": None,
           "requested_by_name": None, "status": "completed", "reason": "", "node_id": "bench",
           "counts": {"scored": len(decisions)}, "summary": {"warnings": [], "seconds": 2.0}}

    def pydantic_way() -> bytes:
        detail = models.RunDetail(**run, decisions=decisions)
        return json.dumps(jsonable_encoder(detail), separators=(",", ":"), allow_nan=False).encode()

    def fields_way() -> bytes:
        return run_encoding.run_detail_json(run, decisions)

    if pydantic_way() != fields_way():
        raise SystemExit("bench/run_answer.py: the two ways answer different texts")
    old, new = measure(pydantic_way), measure(fields_way)
    print(f"a run's answer: {len(decisions)} decisions, {len(fields_way()) / 1e6:.1f} MB of JSON (the same text both ways)")
    for name, figures in (("pydantic (baseline)", old), ("model's fields", new)):
        print(f"  {name:<20} {figures['ms']:7.1f} ms   peak {figures['peak_mb']:5.1f} MB   "
              f"{figures['tracked']:>7,} tracked objects alive")
    print(f"  ratio fields / pydantic: time {new['ms'] / old['ms']:.2f}, peak {new['peak_mb'] / old['peak_mb']:.2f}, "
          f"tracked objects {new['tracked'] / max(1, old['tracked']):.2f}")


if __name__ == "__main__":
    main()
