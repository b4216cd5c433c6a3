"""Benchmark (issue 15): what Fee Autopilot costs LNbits itself while it works.

    .venv/bin/python bench/host_impact.py            # 2024 graph, 1,000 channels, >= 1,000 probes a phase
    .venv/bin/python bench/host_impact.py --quick    # simnode's default graph and 16 channels, 300 probes

A real LNbits 1.6.2 with the extension (its own uvicorn process, as `make run` starts it) on
simnode. LNbits' `/api/v1/health` is probed one request after another (10 ms apart) and timed:

  idle    nothing runs: the baseline of this run, on this machine, at this moment
  cold    during cold cycles (a policy changed and the cached graph expired: the graph is
          read, decoded and measured again, then every channel evaluated), as many cycles
          as it takes to collect the probes
  burst   200 concurrent `GET /scores` (every channel's scores), health probed meanwhile;
          then as many concurrent GETs of LNbits' own `/api/v1/auth` (the user and their
          wallets), health probed as well: the floor any authenticated route of the host costs.
          The bursts come from a process of their own and read each answer as it is sent
          (gzipped): they stand for 200 browsers, each decoding its own copy on its own machine.

Every figure is printed with its ratio to the idle baseline of the same run, so a busy
machine shows as a high baseline, not as a regression. Acceptance (issue 15): during a cold
cycle, health p99 <= 1.5 x idle p99 and max < 50 ms; the burst of GET /scores < 2 s.

simnode admits as peers only nodes with >= 40 distinct channels into them; the 2024 graph
has 377 of those, so for 1,000 channels this benchmark starts simnode with
`--min-peer-degree 15` (1,128 such nodes). The graph itself is the whole 2024 snapshot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.testenv import NodeEnv, start_host_session  # noqa: E402
from simnode.testing import SimnodeProcess  # noqa: E402
from simnode.testing import start_simnode as launch_simnode  # noqa: E402

PROBE_GAP_S = 0.01
HOST_ROUTE = "/api/v1/auth"
SCORES_ROUTE = "/feepilot/api/v1/scores"
BURST = 200
PEER_DEGREE = 15  # see the docstring


def start_simnode(graph: Optional[str], channels: int, timeout: float = 900) -> SimnodeProcess:
    return launch_simnode(seed=7, speed=0, channels=channels, graph=graph, timeout=timeout,
                          extra_args=["--min-peer-degree", str(PEER_DEGREE)])


def stats(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"n": len(ordered), "median_ms": statistics.median(ordered) * 1000, "p99_ms": p99 * 1000,
            "max_ms": ordered[-1] * 1000}


class Prober:
    """GET /api/v1/health one after another, timed, until stopped or `count` are done."""

    def __init__(self, url: str):
        self.url = url
        self.latencies: list[float] = []
        self.failures = 0

    def run(self, stop: Optional[threading.Event] = None, count: Optional[int] = None) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            client.get("/api/v1/health")  # the connection is open before the first timed probe
            while not (stop is not None and stop.is_set()) and not (count is not None and len(self.latencies) >= count):
                sent = time.perf_counter()
                response = client.get("/api/v1/health")
                elapsed = time.perf_counter() - sent
                if response.status_code == 200:
                    self.latencies.append(elapsed)
                else:
                    self.failures += 1
                time.sleep(PROBE_GAP_S)


def rss_mb(pid: Optional[int]) -> dict[str, Optional[float]]:
    """Resident memory now and its peak (VmRSS, VmHWM) of a process, in MB."""
    out: dict[str, Optional[float]] = {"rss_mb": None, "peak_mb": None}
    if not pid:
        return out
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mb"] = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                out["peak_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def make_cold(env: NodeEnv, step: int) -> None:
    """A policy of ours changes (the graph's fingerprint with it) and the cached graph expires."""
    channel = env.state()["channels"][step % 10]
    txid, index = channel["channel_point"].split(":")
    code, answer = env.simnode.post("/v1/chanpolicy", {
        "chan_point": {"funding_txid_str": txid, "output_index": int(index)},
        "base_fee_msat": str(channel["policy"]["base_msat"]),
        "fee_rate_ppm": channel["policy"]["ppm"] + 1 + step,
        "time_lock_delta": channel["policy"]["cltv"],
    })
    if code != 200:
        raise SystemExit(f"bench/host_impact.py: simnode refused the policy change: {code} {answer}")
    env.advance(hours=7)  # past graph_refresh_minutes (default 6 h)


def wait_idle(env: NodeEnv, timeout: float = 1800) -> None:
    """Until no run computes (the schedule's first cycle, cold on a busy machine, takes minutes)."""
    deadline = time.monotonic() + timeout
    while any(r["status"] == "running" for r in env.api("GET", "/runs?limit=20").json()["data"]):
        if time.monotonic() > deadline:
            raise SystemExit("bench/host_impact.py: a run kept computing for 30 minutes")
        time.sleep(1)


def dry_run(env: NodeEnv) -> tuple[dict, float]:
    wait_idle(env)
    started = time.perf_counter()
    with env.client() as client:  # a cold cycle on a busy machine can take minutes (the worker yields the CPU)
        response = client.post("/feepilot/api/v1/runs", json={"dry_run": True}, timeout=1800)
    elapsed = time.perf_counter() - started
    if response.status_code != 201 or response.json()["status"] != "completed":
        raise SystemExit(f"bench/host_impact.py: the run failed: {response.status_code} {response.text[:500]}")
    return response.json(), elapsed


def cold_phase(env: NodeEnv, probes: int, max_cycles: int) -> tuple[Prober, list[float]]:
    prober = Prober(env.session.url)
    cycles: list[float] = []
    while len(prober.latencies) < probes and len(cycles) < max_cycles:
        make_cold(env, len(cycles))
        stop = threading.Event()
        thread = threading.Thread(target=prober.run, kwargs={"stop": stop})
        thread.start()
        try:
            _, elapsed = dry_run(env)
        finally:
            stop.set()
            thread.join()
        cycles.append(elapsed)
    return prober, cycles


async def burst(url: str, token: str, n: int, path: str = SCORES_ROUTE) -> tuple[list[float], float, int]:
    """`n` concurrent authenticated GETs of `path`: (latencies, wall time, bytes of one answer as sent).

    Each answer is read as it comes over the wire, not decoded: the burst stands for `n` browsers,
    each on its own machine, that gunzip their own copy (about 20 ms for the scores of 1,000 channels,
    which on this 2-core machine would be taken from LNbits)."""
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300, limits=limits) as client:
        async def one() -> tuple[float, int]:
            sent = time.perf_counter()
            async with client.stream("GET", path) as response:
                size = 0
                async for chunk in response.aiter_raw():
                    size += len(chunk)
            return time.perf_counter() - sent, size if response.status_code == 200 else -1

        started = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - started
    if any(size < 0 for _, size in results):
        raise SystemExit(f"bench/host_impact.py: a GET {path} of the burst failed")
    return [latency for latency, _ in results], wall, results[0][1]


def burst_in_own_process(url: str, token: str, n: int, path: str) -> tuple[list[float], float, int]:
    """The burst from a process of its own: in this one its event loop would hold the GIL the
    health prober's thread needs, and the prober would time the client instead of LNbits."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_burst, url, token, n, path).result()


def run_burst(url: str, token: str, n: int, path: str) -> tuple[list[float], float, int]:
    return asyncio.run(burst(url, token, n, path))


def single_scores(url: str, token: str, n: int = 10) -> tuple[list[float], int]:
    """`n` GETs of the scores one after another, decoded as a browser would: (latencies, bytes of the JSON)."""
    out, size = [], 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        for _ in range(n):
            sent = time.perf_counter()
            response = client.get(SCORES_ROUTE)
            response.raise_for_status()
            size = len(response.content)
            out.append(time.perf_counter() - sent)
    return out, size


def line(name: str, s: dict[str, float], base: Optional[dict[str, float]] = None) -> str:
    text = f"  {name:<28} n={s['n']:>5}  median {s['median_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms  max {s['max_ms']:7.1f} ms"
    if base:
        text += (f"   x idle: median {s['median_ms'] / base['median_ms']:.2f}, p99 {s['p99_ms'] / base['p99_ms']:.2f}, "
                 f"max {s['max_ms'] / base['max_ms']:.2f}")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="simnode's default graph, 16 channels, 300 probes")
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--graph", default=None, help="simnode's --graph (default 2024; --quick: simnode's default)")
    parser.add_argument("--probes", type=int, default=None, help="health probes per phase (default 1,000)")
    parser.add_argument("--max-cycles", type=int, default=6, help="cold cycles at most, to collect the probes")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    channels = args.channels or (16 if args.quick else 1000)
    graph = args.graph or (None if args.quick else "2024")
    probes = args.probes or (300 if args.quick else 1000)

    print(f"host impact: LNbits + Fee Autopilot on simnode ({graph or 'default'} graph, {channels} channels), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    node = start_simnode(graph, channels)
    print(f"  simnode ready in {time.perf_counter() - t0:.0f} s")
    workdir = Path(tempfile.mkdtemp(prefix="feepilot-host-impact-"))
    session = None
    try:
        clock_file = workdir / "clock-offset"
        env = NodeEnv(node, None, clock_file)  # type: ignore[arg-type]
        env.sync_clock()
        session = start_host_session(workdir, backend="LndRestWallet", lnd_endpoint=node.url, macaroon=node.macaroon,
                                     extra_env={"FEEPILOT_CLOCK_FILE": str(clock_file)})
        env.session = session
        env.api("PUT", "/settings", json={"mode": "off"}).raise_for_status()
        first, first_s = dry_run(env)  # after the cycle the schedule may have started
        print(f"  first run (cold, starts the worker): {first_s:.1f} s, {first['counts'].get('scored')} channels scored")

        idle = Prober(session.url)
        idle.run(count=probes)
        idle_stats = stats(idle.latencies)

        cold, cycles = cold_phase(env, probes, args.max_cycles)
        cold_stats = stats(cold.latencies)

        status = env.api("GET", "/status").json()
        worker = status.get("worker") or {}
        lnbits_mem = rss_mb(session.host.process.pid if session.host.process else None)
        worker_mem = rss_mb(worker.get("pid"))

        single_latencies, json_bytes = single_scores(session.url, session.super_token)
        single = stats(single_latencies)
        burst_probe = Prober(session.url)
        stop = threading.Event()
        thread = threading.Thread(target=burst_probe.run, kwargs={"stop": stop})
        thread.start()
        try:
            burst_latencies, burst_wall, wire_bytes = burst_in_own_process(session.url, session.super_token, BURST, SCORES_ROUTE)
        finally:
            stop.set()
            thread.join()
        # The host's floor: as many concurrent requests to an authenticated route of LNbits' own
        # (the user and their wallets), so the burst reads against what any extension's route costs.
        floor_probe = Prober(session.url)
        stop = threading.Event()
        thread = threading.Thread(target=floor_probe.run, kwargs={"stop": stop})
        thread.start()
        try:
            floor_latencies, floor_wall, _ = burst_in_own_process(session.url, session.super_token, BURST, HOST_ROUTE)
        finally:
            stop.set()
            thread.join()
        floor_health = stats(floor_probe.latencies) if floor_probe.latencies else None
        floor_stats = stats(floor_latencies)
        burst_stats = stats(burst_latencies)
        burst_health = stats(burst_probe.latencies) if burst_probe.latencies else None

        print(f"  cold cycles measured: {len(cycles)}, {', '.join(f'{c:.1f}' for c in cycles)} s each "
              f"(worker: {worker.get('mode')}, pid {worker.get('pid')}, restarts {worker.get('restarts')})")
        print("GET /api/v1/health")
        print(line("idle (baseline)", idle_stats))
        print(line("during cold cycles", cold_stats, idle_stats))
        if burst_health:
            print(line(f"during {BURST} x GET /scores", burst_health, idle_stats))
        if floor_health:
            print(line(f"during {BURST} x GET {HOST_ROUTE}", floor_health, idle_stats))
        print(f"GET /scores ({json_bytes / 1e6:.1f} MB of JSON each, {wire_bytes / 1e6:.2f} MB gzipped as sent)")
        print(line("one at a time, decoded (baseline)", single))
        print(line(f"{BURST} concurrent", burst_stats, single) + f"   wall {burst_wall:.2f} s")
        print(f"GET {HOST_ROUTE} (LNbits' own route, the host's floor)")
        print(line(f"{BURST} concurrent", floor_stats) + f"   wall {floor_wall:.2f} s; "
              f"GET /scores burst x floor {burst_wall / floor_wall:.2f}")
        print("memory (VmRSS now / VmHWM peak)")
        print(f"  LNbits process: {lnbits_mem['rss_mb'] or 0:.0f} MB / {lnbits_mem['peak_mb'] or 0:.0f} MB; "
              f"heavy-work process: {worker_mem['rss_mb'] or 0:.0f} MB / {worker_mem['peak_mb'] or 0:.0f} MB")
        p99_ok = cold_stats["p99_ms"] <= 1.5 * idle_stats["p99_ms"]
        max_ok = cold_stats["max_ms"] < 50
        print(f"acceptance: cold p99 <= 1.5 x idle p99 {'OK' if p99_ok else 'MISSED'} "
              f"({cold_stats['p99_ms']:.1f} vs {1.5 * idle_stats['p99_ms']:.1f} ms), "
              f"cold max < 50 ms {'OK' if max_ok else 'MISSED'} ({cold_stats['max_ms']:.1f} ms); "
              f"failed probes {idle.failures + cold.failures}; "
              f"{BURST} x GET /scores < 2 s {'OK' if burst_wall < 2 else 'MISSED'} ({burst_wall:.2f} s; "
              f"LNbits' own route: {floor_wall:.2f} s), health max < 50 ms meanwhile "
              f"{'OK' if burst_health and burst_health['max_ms'] < 50 else 'MISSED'} "
              f"({burst_health['max_ms'] if burst_health else float('nan'):.1f} ms; during LNbits' own burst: "
              f"{floor_health['max_ms'] if floor_health else float('nan'):.1f} ms)")
        if args.json:
            args.json.write_text(json.dumps({
                "graph": graph, "channels": channels, "cores": os.cpu_count(), "idle": idle_stats, "cold": cold_stats,
                "cold_cycles_s": cycles, "burst_health": burst_health, "scores_single": single, "scores_burst": burst_stats,
                "scores_burst_wall_s": burst_wall, "host_route_burst": floor_stats, "host_route_burst_health": floor_health, "host_route_burst_wall_s": floor_wall,
                "lnbits_memory": lnbits_mem, "worker_memory": worker_mem,
                "worker": worker,
            }, indent=2))
    finally:
        if session is not None:
            session.host.stop()
        node.stop()


if __name__ == "__main__":
    main()
