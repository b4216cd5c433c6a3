"""Issue 15, item 1, without LNbits: the heavy-work process and its fallback (worker.py).

The module is imported as LNbits imports it, inside the extension's package (here under a
name of the test's own), and the worker process it spawns imports it the same way. What
crosses the pipe comes back as the thread path computes it in this process, slices and all.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import zlib
from pathlib import Path
from types import ModuleType

import pytest

from devtools.extension_modules import load as load_module

PACKAGE = "feepilot_worker_under_test"


def load(name: str) -> ModuleType:
    return load_module(PACKAGE, name)


worker = load("worker")
snap = load("engine.snapshot")
settings_module = load("engine.settings")

OUR = "02" + "aa" * 32


def peer(i: int) -> str:
    return "03" + f"{i:064x}"


def describegraph(n_peers: int) -> bytes:
    """An LND describegraph answer: us and a ring of peers, each with a second neighbour."""
    policy = {"fee_base_msat": "1000", "fee_rate_milli_msat": "100", "time_lock_delta": 80,
              "min_htlc": "1000", "max_htlc_msat": "990000000", "disabled": False}
    edges = []
    for i in range(n_peers):
        edges.append({"channel_id": str(1000 + i), "node1_pub": OUR, "node2_pub": peer(i), "capacity": "5000000",
                      "node1_policy": policy, "node2_policy": policy})
        edges.append({"channel_id": str(5000 + i), "node1_pub": peer(i), "node2_pub": peer((i + 1) % n_peers),
                      "capacity": "2000000", "node1_policy": policy, "node2_policy": policy})
    nodes = [{"pub_key": OUR, "alias": "us"}] + [{"pub_key": peer(i), "alias": f"peer {i}"} for i in range(n_peers)]
    return json.dumps({"nodes": nodes, "edges": edges}).encode()


def snapshot(n: int):
    channels = tuple(
        snap.Channel(
            chan_id=str(1000 + i), short_id=f"800000x{i}x0", channel_point=f"{i:064x}:0", peer_id=peer(i),
            peer_alias="", state=snap.ACTIVE, capacity_sat=5_000_000, local_sat=500_000 * (i % 10),
            remote_sat=5_000_000 - 500_000 * (i % 10) - 1000,
            local_policy=snap.Policy(base_msat=1000, ppm=100 + i, cltv_delta=80, min_htlc_msat=1000, max_htlc_msat=4_950_000_000),
            funding_height=800_000, flow={d: snap.FlowStats(days=d, forwards_out=i % 7, volume_out_sat=10_000 * i) for d in (1, 7, 30)},
        )
        for i in range(n)
    )
    return snap.NodeSnapshot(node_id=OUR, alias="us", taken_at=1_800_000_000, block_height=900_000, channels=channels,
                             sources={"channels": True, "policies": True, "forwards": True, "graph": True})


def as_file(raw: bytes, where: Path) -> Path:
    """The describegraph answer as the main process streams it: a file the worker reads."""
    path = where / f"graph-{len(raw)}-{abs(hash(raw))}.json"
    path.write_bytes(raw)
    return path


def thread_path(raw: Path, n: int):
    work = worker.GraphWork(in_host=True)
    info = work.load_graph(raw, 1_800_000_000)
    return info, work.cycle(snapshot(n), settings_module.EngineSettings(), (), 1_800_000_000, info.fingerprint)


def test_the_worker_process_returns_what_the_thread_path_computes(tmp_path):
    n = 3 * worker.SLICE + 7  # the rows cross in several slices
    raw = as_file(describegraph(n), tmp_path)
    expected_info, expected = thread_path(raw, n)

    async def scenario():
        heavy = worker.HeavyWorker()
        try:
            info, generation = await heavy.load_graph(raw, 1_800_000_000)
            status = heavy.status()
            result = await heavy.cycle(snapshot(n), settings_module.EngineSettings(), (), 1_800_000_000, info.fingerprint)
            again = await heavy.cycle(snapshot(n), settings_module.EngineSettings(), (), 1_800_000_000, info.fingerprint)
            return info, generation, status, result, again, heavy.status()
        finally:
            await heavy.stop()

    info, generation, status, result, again, after = asyncio.run(scenario())
    assert status.mode == "process" and status.running and status.pid not in (None, os.getpid())
    assert generation == 1
    assert info.fingerprint == expected_info.fingerprint and info.edges == 2 * n
    assert len(result.encoded.scored) == n and result.encoded.decision_count == n
    assert result.encoded == expected.encoded  # the scores' JSON and the decisions' blob, encoded there
    assert result.counts == expected.counts and result.warnings == expected.warnings
    assert result.metrics is not None and result.metrics.recomputed is True
    assert again.metrics is not None and again.metrics.recomputed is False  # the metrics stay cached there
    assert after.pid == status.pid and after.restarts == 0


def test_the_channels_whose_inbound_fee_is_ours_reach_the_engine_in_the_worker(tmp_path):
    """`inbound_ours` decides whether a non-zero inbound fee is managed or kept as set by hand:
    the worker must evaluate with the set it is given, as the thread path does."""
    raw = as_file(describegraph(4), tmp_path)
    settings = settings_module.EngineSettings.from_dict({"inbound": {"manage": "on"}})
    base = snapshot(4)
    first = base.channels[0]  # no outbound liquidity: the rule asks for a discount
    hand_set = dataclasses.replace(first, local_policy=dataclasses.replace(first.local_policy, inbound_ppm=-10))
    node = dataclasses.replace(base, channels=(hand_set, *base.channels[1:]))
    ours = frozenset({hand_set.chan_id})
    work = worker.GraphWork(in_host=True)
    info = work.load_graph(raw, 1_800_000_000)
    managed = work.cycle(node, settings, (), 1_800_000_000, info.fingerprint, ours)
    kept = work.cycle(node, settings, (), 1_800_000_000, info.fingerprint, frozenset())
    assert managed.encoded.decisions != kept.encoded.decisions

    async def scenario():
        heavy = worker.HeavyWorker()
        try:
            await heavy.load_graph(raw, 1_800_000_000)
            return await heavy.cycle(node, settings, (), 1_800_000_000, info.fingerprint, ours)
        finally:
            await heavy.stop()

    assert asyncio.run(scenario()).encoded == managed.encoded


def test_the_scores_json_is_what_fastapi_makes_of_the_routes_model(tmp_path):
    """run_encoding serialises the scores with the model's `.dict()`, not FastAPI's encoder: the
    same JSON, or GET /scores would answer something its model does not describe."""
    from fastapi.encoders import jsonable_encoder

    models = load("models")
    evaluate = load("engine.evaluate").evaluate
    n = 12
    _, result = thread_path(as_file(describegraph(n), tmp_path), n)
    work = worker.GraphWork(in_host=True)
    work.load_graph(as_file(describegraph(n), tmp_path), 1_800_000_000)
    node = dataclasses.replace(snapshot(n), graph=work.graph)
    settings = settings_module.EngineSettings()
    from_graph = load("engine.graph_metrics").compute_graph_metrics(work.graph, OUR, settings.graph)
    rows = worker.score_rows(evaluate(node, settings, (), from_graph, 1_800_000_000), node)
    expected = [jsonable_encoder(models.ChannelScore.parse_obj(r)) for r in sorted(rows, key=lambda r: r["chan_id"])]
    # as text: a parsed comparison would take 1 for 1.0
    served = zlib.decompress(result.encoded.scores_packed).decode()
    assert served == load("run_encoding").encode_text(json.dumps(expected, separators=(",", ":")))
    assert any(part["evidence_text"] for score in expected for part in score["parts"])  # nested models included


def test_stop_ends_the_process_and_a_graph_of_a_dead_worker_is_not_held(tmp_path):
    async def scenario():
        heavy = worker.HeavyWorker()
        info, generation = await heavy.load_graph(as_file(describegraph(5), tmp_path), 1)
        pid = heavy.status().pid
        await heavy.stop()
        stopped = heavy.status()
        missing = None
        try:
            await heavy.cycle(snapshot(5), settings_module.EngineSettings(), (), 1, info.fingerprint)
        except worker.GraphMissing as exc:
            missing = str(exc)
        restarted = heavy.status()
        await heavy.stop()
        return pid, generation, heavy.holds(generation), stopped, missing, restarted

    pid, generation, held, stopped, missing, restarted = asyncio.run(scenario())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert stopped.running is False and stopped.pid is None and stopped.last_exit == "stopped with the extension"
    assert stopped.graph is None and held is False
    assert missing and "no longer holds the network graph" in missing
    assert restarted.running and restarted.pid != pid and restarted.restarts == 1


def test_a_worker_that_cannot_start_leaves_the_work_to_threads_and_status_says_why(tmp_path):
    async def scenario():
        heavy = worker.HeavyWorker(start_timeout_s=0)  # no child answers within 0 s
        try:
            info, _ = await heavy.load_graph(as_file(describegraph(5), tmp_path), 1)
            result = await heavy.cycle(snapshot(5), settings_module.EngineSettings(), (), 1, info.fingerprint)
            return heavy.status(), result
        finally:
            await heavy.stop()

    status, result = asyncio.run(scenario())
    assert status.mode == "thread" and status.running is False and status.pid is None
    assert "could not start (it did not answer within 0 s)" in status.fallback_reason
    assert "threads of LNbits' process" in status.fallback_reason
    assert len(result.encoded.scored) == 5 and result.metrics is not None


def test_a_graph_that_is_not_json_is_unreadable_not_a_crash(tmp_path):
    async def scenario():
        heavy = worker.HeavyWorker()
        try:
            with pytest.raises(worker.GraphUnreadable, match="invalid JSON"):
                await heavy.load_graph(as_file(b"<html>502 Bad Gateway</html>", tmp_path), 1)
            info, _ = await heavy.load_graph(as_file(describegraph(3), tmp_path), 1)  # the same worker answers on
            return info, heavy.status()
        finally:
            await heavy.stop()

    info, status = asyncio.run(scenario())
    assert info.edges == 6 and status.restarts == 0 and status.mode == "process"
