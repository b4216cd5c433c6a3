"""Issue 15, item 1: heavy work in Fee Autopilot's own process, against real LNbits + simnode.

Started on first need (not with LNbits), a child of LNbits' process started by
multiprocessing's spawn, holding the graph between cycles; killed, it is restarted by the
next run (a run it dies in fails with a message); stopped with the extension; and when
heavy work runs in LNbits' own threads instead, status says so and runs still complete.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from devtools.testenv import TEST_GRAPH_WORK, start_host_session


def status(env) -> dict:
    return env.api("GET", "/status").json()


def worker(env) -> dict:
    return status(env)["worker"]


def parent_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


def children_of(pid: int) -> list[str]:
    """The command lines of `pid`'s child processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent_of(int(entry.name)) == pid:
                    found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except (OSError, AssertionError):
                continue
    return found


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("State:"))
        except (OSError, StopIteration):
            return True
        if "Z" in state.split()[1]:  # a zombie is dead; its parent just has not collected it yet
            return True
        time.sleep(0.1)
    return False


def make_graph_change(env) -> None:
    """A policy of ours changes and the cached graph expires: the next run reads, decodes and
    measures the graph again (a cold cycle, seconds in the worker)."""
    truth = env.state()["channels"][0]
    txid, index = truth["channel_point"].split(":")
    code, _ = env.simnode.post(
        "/v1/chanpolicy",
        {
            "chan_point": {"funding_txid_str": txid, "output_index": int(index)},
            "base_fee_msat": str(truth["policy"]["base_msat"]),
            "fee_rate_ppm": truth["policy"]["ppm"] + 3,
            "time_lock_delta": truth["policy"]["cltv"],
        },
    )
    assert code == 200
    env.advance(hours=7)


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory):
    """simnode and an LNbits on which no run has happened yet (no quiet_schedule dry run)."""
    from devtools.testenv import NodeEnv
    from simnode.testing import start_simnode

    node = start_simnode(seed=7, speed=0)
    workdir = tmp_path_factory.mktemp("worker")
    clock_file = workdir / "clock-offset"
    env = NodeEnv(node, None, clock_file)  # type: ignore[arg-type]
    env.sync_clock()
    temp = workdir / "tmp"  # LNbits' temporary files: where the graph is streamed to
    temp.mkdir()
    env.session = start_host_session(
        workdir, backend="LndRestWallet", lnd_endpoint=node.url, macaroon=node.macaroon,
        extra_env={"FEEPILOT_CLOCK_FILE": str(clock_file), "TMPDIR": str(temp)},
    )
    env.temp = temp  # type: ignore[attr-defined]
    env.api("PUT", "/settings", json={"mode": "off"}).raise_for_status()
    yield env
    env.session.host.stop()
    node.stop()


def test_the_worker_is_a_spawned_child_of_lnbits_and_keeps_the_graph(fresh_env):
    # (That it starts only on first need is checked after a restart of the extension, below:
    # here the schedule's first cycle may already have needed it.)
    env = fresh_env
    run = env.dry_run()
    assert run["status"] == "completed", run
    after = worker(env)
    assert after["mode"] == "process" and after["fallback_reason"] is None
    assert after["running"] is True and after["pid"]
    lnbits_pid = env.session.host.process.pid
    assert parent_of(after["pid"]) == lnbits_pid
    cmdline = Path(f"/proc/{after['pid']}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert "multiprocessing.spawn" in cmdline, cmdline  # a fresh interpreter, not a fork of LNbits
    assert after["graph"]["edges"] > 10_000 and after["graph"]["fingerprint"].startswith("lnd:")
    assert run["summary"]["graph_fingerprint"] == after["graph"]["fingerprint"]

    # The next run reuses the worker, the graph and the metrics it holds (no second read).
    again = env.dry_run()
    assert again["status"] == "completed"
    assert worker(env)["pid"] == after["pid"] and worker(env)["restarts"] == 0
    log = env.session.host.log_path.read_text()
    assert log.count("heavy-work process started") == 1
    assert log.count("network graph read") == 1 and log.count("graph metrics computed") == 1, log[-3000:]
    # the graph went from the node to a temporary file and from there into the worker; none is left
    assert not list(env.temp.glob("feepilot-graph-*")), list(env.temp.iterdir())


def test_a_graph_download_cut_off_keeps_the_held_graph_and_leaves_no_file(fresh_env):
    env = fresh_env
    held = worker(env)["graph"]["fingerprint"]
    refresh_h = env.api("GET", "/settings").json()["graph_refresh_minutes"] / 60
    env.advance(hours=refresh_h + 1)  # the graph is due to be read again
    env.simnode.set_faults({"path": "/v1/graph", "drop": True, "times": 1})
    try:
        run = env.dry_run()
    finally:
        env.simnode.clear_faults()
    assert run["status"] == "completed", run
    assert run["summary"]["graph_fingerprint"] == held  # scored on the graph the worker holds
    log = env.session.host.log_path.read_text()
    assert "graph unavailable: GET /v1/graph" in log, log[-3000:]
    assert not list(env.temp.glob("feepilot-graph-*")), list(env.temp.iterdir())


def test_a_killed_worker_is_restarted_by_the_next_run(fresh_env):
    env = fresh_env
    first = worker(env)
    assert first["running"], first
    os.kill(first["pid"], signal.SIGKILL)
    assert gone(first["pid"])
    deadline = time.monotonic() + 10
    while worker(env)["running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    idle = worker(env)
    assert idle["running"] is False and idle["last_exit"] == "killed by SIGKILL", idle

    run = env.dry_run()
    assert run["status"] == "completed", run
    restarted = worker(env)
    assert restarted["running"] and restarted["pid"] != first["pid"] and restarted["restarts"] == 1
    assert restarted["graph"]["fingerprint"] == first["graph"]["fingerprint"]  # read again into the new one


def test_a_run_whose_worker_dies_mid_cycle_fails_with_a_message_and_the_next_run_works(fresh_env):
    env = fresh_env
    old = worker(env)
    make_graph_change(env)
    result: dict = {}

    def run() -> None:
        result["response"] = env.api("POST", "/runs", json={"dry_run": True})

    thread = threading.Thread(target=run)
    thread.start()
    # Once the new graph is in the worker, the run's next request computes its metrics
    # there (seconds): kill the worker inside that request.
    deadline = time.monotonic() + 120
    while True:
        current = worker(env)
        if current["graph"] and current["graph"]["fingerprint"] != old["graph"]["fingerprint"]:
            break
        assert time.monotonic() < deadline and thread.is_alive(), (current, result)
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(current["pid"], signal.SIGKILL)
    thread.join(120)
    response = result["response"]
    assert response.status_code == 201, response.text
    failed = response.json()
    assert failed["status"] == "failed", failed
    assert "heavy-work process stopped while it was working (killed by SIGKILL)" in failed["reason"], failed["reason"]
    assert "the next run starts a new one" in failed["reason"]

    run_after = env.dry_run()
    assert run_after["status"] == "completed", run_after
    assert worker(env)["running"] and worker(env)["pid"] != current["pid"]


def test_deactivating_the_extension_stops_the_worker(fresh_env):
    env = fresh_env
    pid = worker(env)["pid"]
    assert pid
    host = env.session.host
    with env.client() as client:
        client.put("/api/v1/extension/feepilot/deactivate").raise_for_status()
    assert gone(pid), "feepilot_stop left the worker running"
    assert not [c for c in children_of(host.process.pid) if "multiprocessing.spawn" in c]
    with env.client() as client:
        client.put("/api/v1/extension/feepilot/activate").raise_for_status()
    host.wait_extension_loaded(env.session.super_token)
    assert worker(env)["running"] is False and worker(env)["pid"] is None  # started on first need only
    assert env.dry_run()["status"] == "completed"
    assert worker(env)["running"] is True


def test_heavy_work_in_lnbits_threads_is_reported_and_runs_complete(tmp_path):
    from simnode.testing import start_simnode

    node = start_simnode(seed=7, speed=0)
    try:
        session = start_host_session(
            tmp_path, backend="LndRestWallet", lnd_endpoint=node.url, macaroon=node.macaroon,
            extra_env={"FEEPILOT_WORKER": "thread"},
        )
        try:
            with session.client(session.super_token) as client:
                quiet = {"mode": "off", **TEST_GRAPH_WORK}
                client.put("/feepilot/api/v1/settings", json=quiet).raise_for_status()
                run = client.post("/feepilot/api/v1/runs", json={"dry_run": True}, timeout=300)
                assert run.status_code == 201 and run.json()["status"] == "completed", run.text
                assert run.json()["counts"]["scored"] > 0
                state = client.get("/feepilot/api/v1/status").json()["worker"]
            assert state["mode"] == "thread" and state["running"] is False and state["pid"] is None
            assert "FEEPILOT_WORKER=thread" in state["fallback_reason"]
            assert state["graph"]["edges"] > 10_000  # the graph is in LNbits' process then
            assert not [c for c in children_of(session.host.process.pid) if "multiprocessing.spawn" in c]
        finally:
            session.host.stop()
    finally:
        node.stop()
