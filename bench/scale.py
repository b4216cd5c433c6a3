"""Benchmark (issue 15): Fee Autopilot on a large node, over a month of hourly cycles.

    .venv/bin/python bench/scale.py            # 2024 graph, 2,000 channels, 30 days of forwarding history,
                                               # then 30 simulated days of hourly cycles; writes bench/results/scale.md
    .venv/bin/python bench/scale.py --quick    # 40 channels, 3 days of history, 1 simulated day (3-5 min)

A real LNbits 1.6.2 with the extension (its own uvicorn process, as `make run` starts it) on simnode,
in three parts, one after the other, all in this run:

  idle  LNbits with the extension on FakeWallet (no node API: the extension does nothing): LNbits'
        own idle RSS, the baseline of the RSS growth
  low   simnode of the same seed and channels at a fraction (`--low-fraction`, 0.1) of the forwarding
        rate: the first cycle, then `--steady` (6) cycles an hour apart: the baseline of "node requests
        per cycle independent of the forwarding volume"
  full  the full rate (0.75 forwards/h per 1 M-weight channel: 594,394 forwards in 30 days on 2,000
        channels): the first cycle (the worker starts, the graph is read and measured, the whole
        forwarding history synced), then `--days` x 24 cycles, each after one simulated hour

The first cycle is the schedule's, which starts with LNbits (shadow mode, the default), timed by the
run's stored times (whole seconds). Then the schedule is off and every cycle is a run as the schedule
computes it (`POST /runs` dry run, stored like a scheduled cycle's: snapshot, scores, decisions, the
channels' series), timed by the run itself (its `summary.seconds`: from its start until its rows are
ready to write, as a scheduled cycle has it; the transaction that writes them is not in it); the round trip of the dry run's answer, which lists every
decision, is given beside it; pruning keeps its own schedule at
the default retention. Three scheduled shadow cycles at the end give what the schedule's reconcile adds. Node requests and the bytes of their answers per cycle come from simnode
(`GET /sim/requests`); LNbits' own status poll (`GET /v1/balance/channels`, LndRestWallet's) in the meantime
is counted apart. The graph is read again
every `graph_refresh_minutes` (6 h), so one cycle in six reads it: the medians are the other cycles', the
means include it. Every figure is printed with its ratio to its baseline of the same run.

Acceptance (issue 15): requests per steady cycle independent of the forwarding volume; warm cycle
< 2 s; LNbits RSS growth < 100 MB; database < 200 MB after 30 simulated days at default retention.

What a full run needs, from a partial one on 2 cores (`--days 2 --steady 4`, 2026-12-03, 515 s): the
setup and both first cycles about 3 min, then each hourly cycle about 6.7 s of wall time (the run
about 1.9 s, the rest simnode's hour and the dry run's answer) and about 9 MB more database a day
while every decision is kept (about 4.7 MB a day after `decisions_retention_days`), so 720 cycles
take about 80-90 min. (Before issue 15's storage work: 45 s and 35 MB a cycle, 9-10 h.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.host_impact import dry_run, rss_mb, wait_idle  # noqa: E402
from engine.settings import EngineSettings  # noqa: E402
from devtools.testenv import NodeEnv, attach_host, start_host_session  # noqa: E402
from simnode.testing import start_simnode  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scale.md"
SEED = 7
FULL = {"channels": 2000, "history_days": 30, "days": 30, "graph": "2024", "min_peer_degree": 6}
QUICK = {"channels": 40, "history_days": 3, "days": 1, "graph": None, "min_peer_degree": None}
RATE = 0.75
# LNbits' own node calls (LndRestWallet's status poll), not the extension's: counted apart
LNBITS_OWN = ("GET /v1/balance/channels",)


@dataclass
class Cycle:
    seconds: float  # the run's own time until its rows are ready to write (summary["seconds"]), else the round trip
    requests: int
    bytes: int
    routes: dict[str, int] = field(default_factory=dict)
    lnbits_own: int = 0  # requests of LNBITS_OWN in the same time, not in `requests`
    round_trip: Optional[float] = None  # a dry run's POST /runs, its answer (every decision) included


@dataclass
class Phase:
    rate: float
    forwards_history: int = 0
    forwards_end: int = 0
    first: Optional[Cycle] = None
    first_kind: str = ""
    first_peak_mb: float = 0.0
    first_read: Optional[int] = None  # forwards the first cycle's sync read
    cycles: list[Cycle] = field(default_factory=list)
    scheduled: list[Cycle] = field(default_factory=list)
    db_first_mb: float = 0.0
    db_end_mb: float = 0.0
    lnbits_start_mb: float = 0.0
    lnbits_mem: dict = field(default_factory=dict)
    worker_mem: dict = field(default_factory=dict)
    worker: dict = field(default_factory=dict)
    lnbits_peak_mb: float = 0.0
    peak_rises: list[tuple[int, int, int]] = field(default_factory=list)  # (cycle, LNbits peak MB, bytes it read)


def totals(node) -> tuple[int, int, dict[str, int]]:
    """The extension's node requests and the bytes of their answers so far (LNBITS_OWN left out), by route."""
    answer = node.requests()
    ours = {k: v for k, v in answer["requests"].items() if k not in LNBITS_OWN}
    read = sum(v for k, v in answer["response_bytes"].items() if k not in LNBITS_OWN)
    return sum(ours.values()), read, answer["requests"]


def delta(before: tuple, after: tuple, seconds: float) -> Cycle:
    routes: dict[str, int] = {}
    for key, count in after[2].items():
        if count > before[2].get(key, 0):
            route = template(key)
            routes[route] = routes.get(route, 0) + count - before[2].get(key, 0)
    own = sum(routes.pop(key, 0) for key in LNBITS_OWN)
    return Cycle(seconds, after[0] - before[0], after[1] - before[1], routes, own)


def template(key: str) -> str:
    """"GET /v1/graph/edge/123" -> "GET /v1/graph/edge/{id}": a per-channel or per-node route as one."""
    return "/".join("{id}" if part.isdigit() or len(part) == 66 else part for part in key.split("/"))


def measured_run(env: NodeEnv) -> tuple[dict, Cycle]:
    before = totals(env.simnode)
    run, seconds = dry_run(env)
    cycle = delta(before, totals(env.simnode), float((run.get("summary") or {}).get("seconds", seconds)))
    cycle.round_trip = seconds
    return run, cycle


def first_cycle(env: NodeEnv, before: tuple, phase: Phase) -> dict:
    """The schedule's first cycle starts with LNbits (shadow mode, the default) unless the mode was off
    before its first tick: that cycle, timed by its stored times (whole seconds), its requests counted from
    before LNbits started (LNbits' own start included); else a dry run of ours."""
    wait_idle(env)
    phase.lnbits_start_mb = rss_mb(env.session.host.process.pid)["rss_mb"] or 0.0
    scheduled = [r for r in env.api("GET", "/runs?limit=5").json()["data"] if r["kind"] == "shadow"]
    if scheduled and scheduled[-1]["status"] == "completed":
        run = scheduled[-1]
        phase.first = delta(before, totals(env.simnode), float(run["finished_at"] - run["created_at"]))
        phase.first_kind = "the schedule's, as LNbits started"
        return run
    run, phase.first = measured_run(env)
    phase.first_kind = "a dry run"
    return run


def db_mb(session) -> float:
    return sum(p.stat().st_size for p in session.host.data_folder.glob("ext_feepilot*")) / 1e6


def scheduled_cycles(env: NodeEnv, n: int) -> list[Cycle]:
    """Shadow mode for n hours: the schedule's own cycles (reconcile, drift check, the run)."""
    def newest() -> dict:
        return env.api("GET", "/runs?limit=1").json()["data"][0]

    env.api("PUT", "/settings", json={"mode": "shadow"}).raise_for_status()
    out: list[Cycle] = []
    last = newest()["id"]
    for hour in range(n + 1):  # the first one is due at once (no shadow run yet): not measured
        env.simnode.advance(hours=1)
        before = totals(env.simnode)
        env.sync_clock()
        started = time.perf_counter()
        deadline = started + 1800
        while (run := newest())["id"] == last or run["status"] == "running":
            if time.perf_counter() > deadline:
                raise SystemExit("bench/scale.py: no scheduled cycle finished in 30 minutes")
            time.sleep(0.05)
        last = run["id"]
        if hour:
            out.append(delta(before, totals(env.simnode), time.perf_counter() - started))
    env.api("PUT", "/settings", json={"mode": "off"}).raise_for_status()
    return out


def run_phase(args, rate: float, cycles: int, work: Path, full: bool) -> Phase:
    phase = Phase(rate)
    work.mkdir(parents=True, exist_ok=True)
    extra = ["--history-days", str(args.history_days), "--rate", str(rate)]
    if args.min_peer_degree:
        extra += ["--min-peer-degree", str(args.min_peer_degree)]
    t0 = time.perf_counter()
    node = start_simnode(seed=SEED, channels=args.channels, graph=args.graph, extra_args=extra, timeout=3600)
    env = None
    try:
        phase.forwards_history = node.advance(hours=0)["forwards"]
        print(f"  [{'full' if full else 'low'} rate {rate:g}] simnode ready in {time.perf_counter() - t0:.0f} s, "
              f"{phase.forwards_history:,} forwards in {args.history_days:g} days of history", flush=True)
        before = totals(node)
        env = attach_host(node, work)
        settings: dict = {"mode": "off"}
        if args.betweenness_samples:
            settings["engine"] = {"graph": {"betweenness_samples": args.betweenness_samples}}
        env.api("PUT", "/settings", json=settings).raise_for_status()
        first = first_cycle(env, before, phase)
        phase.first_read = ((first.get("summary") or {}).get("forwards_sync") or {}).get("read")
        phase.db_first_mb = db_mb(env.session)
        phase.lnbits_peak_mb = rss_mb(env.session.host.process.pid)["peak_mb"] or 0.0
        phase.first_peak_mb = phase.lnbits_peak_mb
        print(f"    first cycle ({phase.first_kind}) {phase.first.seconds:.1f} s, {phase.first.requests} requests, "
              f"{phase.first.bytes / 1e6:.1f} MB read", flush=True)
        started = time.perf_counter()
        for i in range(cycles):
            env.advance(hours=1)
            phase.cycles.append(measured_run(env)[1])
            peak = rss_mb(env.session.host.process.pid)["peak_mb"] or 0.0
            if peak > phase.lnbits_peak_mb + 1:  # where LNbits' peak grew: which cycles raise it
                phase.peak_rises.append((i + 1, round(peak), phase.cycles[-1].bytes))
            phase.lnbits_peak_mb = max(phase.lnbits_peak_mb, peak)
            if (i + 1) % 24 == 0:
                done = (i + 1) / cycles
                print(f"    day {(i + 1) // 24}: median cycle {statistics.median(c.seconds for c in phase.cycles[-24:]):.2f} s, "
                      f"database {db_mb(env.session):.1f} MB, {time.perf_counter() - started:.0f} s so far "
                      f"(about {(time.perf_counter() - started) * (1 - done) / done:.0f} s to go)", flush=True)
        if full:
            phase.scheduled = scheduled_cycles(env, 3)
        phase.forwards_end = node.advance(hours=0)["forwards"]
        phase.db_end_mb = db_mb(env.session)
        status = env.api("GET", "/status").json()
        phase.worker = status.get("worker") or {}
        phase.lnbits_mem = rss_mb(env.session.host.process.pid)
        phase.worker_mem = rss_mb(phase.worker.get("pid"))
    finally:
        if env is not None and env.session is not None:
            env.session.host.stop()
        node.stop()
    return phase


def idle_lnbits_mb(work: Path) -> float:
    """LNbits with the extension and nothing to do (FakeWallet has no node API)."""
    session = start_host_session(work, backend="FakeWallet")
    try:
        time.sleep(5)
        return rss_mb(session.host.process.pid)["rss_mb"] or 0.0
    finally:
        session.host.stop()


def med(values) -> float:
    return statistics.median(list(values))


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def report(args, idle_mb: float, low: Phase, full: Phase) -> list[str]:
    steady = full.cycles
    n = min(len(low.cycles), args.steady)
    early_full, early_low = full.cycles[:n], low.cycles[:n]
    warm = med(c.seconds for c in steady)
    last_day = steady[-24:]
    lines = [
        f"scale: LNbits + Fee Autopilot on simnode ({args.graph or 'default'} graph, {args.channels:,} channels, seed {SEED}), "
        f"{os.cpu_count()} cores",
        f"forwards: {full.forwards_history:,} in the {args.history_days:g} days of history (rate {full.rate:g}), "
        f"{full.forwards_end - full.forwards_history:,} more in the {args.days:g} simulated days; "
        f"low-volume node {low.forwards_history:,} (rate {low.rate:g}, x{ratio(low.forwards_history, full.forwards_history)})",
        f"first cycle ({full.first_kind}): {full.first.seconds:.1f} s, {full.first.requests} node requests, "
        f"{full.first.bytes / 1e6:.1f} MB read, "
        f"{full.first_read if full.first_read is not None else '?'} forwards synced"
        f" (low volume: {low.first.seconds:.1f} s, {low.first.requests} requests, {low.first.bytes / 1e6:.1f} MB)",
        f"steady cycles ({len(steady)}, one an hour): time median {warm:.2f} s, p95 {quantile([c.seconds for c in steady], 0.95):.2f} s, "
        f"max {max(c.seconds for c in steady):.2f} s; warm / first {ratio(warm, full.first.seconds)}; "
        f"last day median {med(c.seconds for c in last_day):.2f} s (x first day {ratio(med(c.seconds for c in last_day), med(c.seconds for c in steady[:24]))}); "
        f"the dry run's POST /runs round trip (its answer lists every decision) median "
        f"{med(c.round_trip or c.seconds for c in steady):.2f} s",
        f"  node requests per cycle: median {med(c.requests for c in steady):.0f}, mean {statistics.mean(c.requests for c in steady):.1f}, "
        f"max {max(c.requests for c in steady)}; bytes read per cycle: median {med(c.bytes for c in steady) / 1e6:.2f} MB, "
        f"mean {statistics.mean(c.bytes for c in steady) / 1e6:.2f} MB (the graph every 6 h)",
        f"  independence ({n} cycles at each volume): node requests median {med(c.requests for c in early_full):.0f} vs "
        f"{med(c.requests for c in early_low):.0f} at x{low.rate / full.rate:g} the volume: ratio "
        f"{ratio(med(c.requests for c in early_full), med(c.requests for c in early_low))} (all {n}: "
        f"{sum(c.requests for c in early_full)} vs {sum(c.requests for c in early_low)}, ratio "
        f"{ratio(sum(c.requests for c in early_full), sum(c.requests for c in early_low))}); bytes median ratio "
        f"{ratio(med(c.bytes for c in early_full), med(c.bytes for c in early_low))}; time median ratio "
        f"{ratio(med(c.seconds for c in early_full), med(c.seconds for c in early_low))}",
        "  requests of a steady cycle by route (median cycle): " + ", ".join(
            f"{k} {v}" for k, v in sorted(median_cycle(steady).routes.items()))
        + f"; LNbits' own ({', '.join(LNBITS_OWN)}) meanwhile, not counted: {sum(c.lnbits_own for c in steady)} in "
        f"{len(steady)} cycles",
    ]
    if full.scheduled:
        lines.append(
            f"scheduled shadow cycles ({len(full.scheduled)}, reconcile and drift check included): node requests "
            + ", ".join(str(c.requests) for c in full.scheduled)
            + f" (x dry-run cycle median {ratio(med(c.requests for c in full.scheduled), med(c.requests for c in steady))}); "
            f"advance to finished {', '.join(f'{c.seconds:.1f}' for c in full.scheduled)} s (the schedule ticks every 2 s)")
    peak = full.lnbits_mem.get("peak_mb") or 0.0
    wpeak = full.worker_mem.get("peak_mb") or 0.0
    lines += [
        f"memory: LNbits idle (FakeWallet, the extension loaded, the baseline) {idle_mb:.0f} MB; on the node after the "
        f"first cycle {full.lnbits_start_mb:.0f} MB, peak {peak:.0f} MB, now {full.lnbits_mem.get('rss_mb') or 0:.0f} MB: growth "
        f"{peak - idle_mb:.0f} MB (peak x idle {ratio(peak, idle_mb)}); peak after the first cycle {full.first_peak_mb:.0f} MB; "
        "raised in cycles " + (", ".join(f"{c} (to {mb} MB; it read {b / 1e6:.1f} MB)" for c, mb, b in full.peak_rises[:8])
                               or "none after the first"),
        f"  worker (pid {full.worker.get('pid')}, restarts {full.worker.get('restarts')}): peak {wpeak:.0f} MB, "
        f"now {full.worker_mem.get('rss_mb') or 0:.0f} MB (x LNbits idle {ratio(wpeak, idle_mb)})",
        f"database (the extension's SQLite file): {full.db_first_mb:.1f} MB after the first cycle, {full.db_end_mb:.1f} MB "
        f"after {args.days:g} simulated days of hourly cycles (x first {ratio(full.db_end_mb, full.db_first_mb)}; "
        f"{(full.db_end_mb - full.db_first_mb) / max(args.days, 1e-9):.2f} MB a day)",
    ]
    req_ratio = med(c.requests for c in early_full) / max(1, med(c.requests for c in early_low))
    checks = [
        ("requests independent of volume", req_ratio <= 1.05, f"ratio {req_ratio:.2f}"),
        ("warm cycle < 2 s", warm < 2, f"{warm:.2f} s"),
        ("LNbits RSS growth < 100 MB", peak - idle_mb < 100, f"{peak - idle_mb:.0f} MB"),
        ("database < 200 MB", full.db_end_mb < 200, f"{full.db_end_mb:.1f} MB after {args.days:g} days"),
    ]
    lines.append("acceptance: " + "; ".join(f"{name} {'OK' if ok else 'MISSED'} ({value})" for name, ok, value in checks))
    return lines


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def median_cycle(cycles: list[Cycle]) -> Cycle:
    return sorted(cycles, key=lambda c: c.requests)[len(cycles) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 channels, 3 days of history, 1 simulated day")
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--history-days", type=float, default=None, help="forwarding history before the start")
    parser.add_argument("--days", type=float, default=None, help="simulated days of hourly cycles")
    parser.add_argument("--graph", default=None, help="simnode's --graph (default 2024; --quick: simnode's default)")
    parser.add_argument("--min-peer-degree", type=int, default=None, help="simnode's --min-peer-degree")
    parser.add_argument("--rate", type=float, default=RATE, help="simnode's --rate of the full-volume node")
    parser.add_argument("--low-fraction", type=float, default=0.1, help="the low-volume node's rate, as a fraction")
    parser.add_argument("--steady", type=int, default=6, help="cycles of the low-volume node after its first")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--betweenness-samples", type=int, default=None,
                        help="centrality pivots (the setting; default: the extension's, 500): fewer only to check the "
                             "report quickly, as the test of this benchmark does; never written to the results")
    args = parser.parse_args()
    default_samples = EngineSettings().graph.betweenness_samples
    fewer_samples = args.betweenness_samples is not None and args.betweenness_samples != default_samples
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    started = time.perf_counter()
    print(f"scale benchmark: {args.channels:,} channels, {args.history_days:g} days of history, {args.days:g} days of "
          f"hourly cycles; load average {os.getloadavg()[0]:.2f}"
          + (f"; centrality samples {args.betweenness_samples} (not the default {default_samples})" if fewer_samples else ""),
          flush=True)
    work = Path(tempfile.mkdtemp(prefix="feepilot-scale-"))
    idle_mb = idle_lnbits_mb(work / "idle")
    low = run_phase(args, args.rate * args.low_fraction, args.steady, work / "low", full=False)
    full = run_phase(args, args.rate, int(round(args.days * 24)), work / "full", full=True)
    lines = report(args, idle_mb, low, full)
    lines.append(f"wall time {time.perf_counter() - started:.0f} s")
    print("\n".join(lines), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "idle_mb": idle_mb,
                                         "low": asdict(low), "full": asdict(full)}, indent=2, default=str))
    if args.quick or args.channels < FULL["channels"] or args.days < FULL["days"] or fewer_samples:
        print(f"{RESULTS.relative_to(ROOT)} not written: only a full run writes it")
    else:
        RESULTS.write_text(
            "# Scale benchmark (issue 15)\n\n"
            f"`make bench-scale` (`bench/scale.py`), {time.strftime('%Y-%m-%d', time.gmtime())}, on a "
            f"{os.cpu_count()}-core machine (load average {os.getloadavg()[0]:.2f} at the end). What the figures are: "
            "the script's docstring.\n\n```\n" + "\n".join(lines) + "\n```\n")
        print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
