"""Issue 12: LNbits SIGKILLed at random points of 20 batches (applies and rollbacks, the
node slowed down): after every restart nothing is pending, the change log equals the
node on every channel, and every run's status matches its changes."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter

import httpx
import pytest

BATCHES = int(os.environ.get("FEEPILOT_CRASH_BATCHES", "20"))
IN_FLIGHT = ("applying", "rolling_back")
FINAL = ("applied", "partially_applied", "failed_apply", "rolled_back", "partially_rolled_back", "interrupted", "completed")


def send_and_kill(env, method: str, path: str, body: dict, kill_after_s: float) -> None:
    def call() -> None:
        try:
            with env.client() as client:
                client.request(method, f"/feepilot/api/v1{path}", json=body, timeout=60)
        except httpx.HTTPError:
            pass  # the server dies under us

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(kill_after_s)
    env.session.host.kill()
    worker.join()


def restart(env) -> None:
    host = env.session.host
    host.start()
    env.session.super_token = host.login("admin", env.session.super_password)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            pending = env.api("GET", "/changes?status=pending").json()["total"]
            runs = env.api("GET", "/runs?limit=200").json()["data"]
        except (httpx.HTTPError, KeyError):
            time.sleep(0.5)
            continue
        if pending == 0 and not any(r["status"] in IN_FLIGHT for r in runs):
            return
        time.sleep(0.5)
    raise AssertionError(f"still pending or in flight after the restart: {host.log_tail(30)}")


def check_run(env, run_id: str) -> str:
    run = env.api("GET", f"/runs/{run_id}").json()
    assert run["status"] in FINAL, run["status"]
    changes = env.api("GET", f"/changes?run_id={run_id}&limit=500").json()["data"]
    assert all(c["status"] != "pending" for c in changes)
    for batch in run["summary"].get("batches", []):
        rows = [c for c in changes if c["batch_id"] == batch["batch_id"]]
        if batch["status"] == "interrupted" and batch["by"] == "restart":
            # Counted from the change log after the restart's reconcile: exactly what is there.
            logged = Counter("unknown" if c["status"] == "pending" else c["status"] for c in rows)
            assert batch["counts"] == dict(logged), (batch, [(c["id"], c["status"]) for c in rows])
        elif batch.get("kind", "apply") == "apply":
            written = sum(v for k, v in batch["counts"].items() if k in ("applied", "restored", "failed", "unknown"))
            assert written == sum(1 for c in rows if not c.get("rollback_of")), (batch, rows)
    if run["status"] == "interrupted":
        assert run["summary"]["batches"][-1]["status"] == "interrupted"
    if run["status"] == "rolled_back":
        undone = {c["rollback_of"] for c in changes if c.get("rollback_of") and c["status"] == "applied"}
        assert not [c for c in changes if c["status"] == "applied" and not c.get("rollback_of") and c["id"] not in undone]
    return run["status"]


@pytest.mark.timeout(1500)  # 20 restarts of LNbits, each with a cold graph for the next run
def test_sigkill_at_random_points_of_20_batches(node_env):
    rng = random.Random(20261201)
    node_env.api("PUT", "/settings", json={
        "node_timeout_seconds": 3,  # unknown outcomes are proven within 6 s
        "engine": {"anti_oscillation": {"cooldown_hours": 0, "max_reversals": 1000}},
    }).raise_for_status()
    node_env.simnode.set_faults({"path": "/v1/chanpolicy", "latency_ms": 250})
    statuses: list[str] = []
    batches = 0

    def crash(path: str, body: dict, run_id: str, latest: float) -> None:
        nonlocal batches
        send_and_kill(node_env, "POST", path, body, rng.uniform(0.05, latest))
        batches += 1
        restart(node_env)
        node_env.assert_log_matches_node()
        statuses.append(check_run(node_env, run_id))

    try:
        while batches < BATCHES:
            node_env.advance(hours=25)
            run = node_env.dry_run()
            wanted = {d["id"] for d in run["decisions"] if d["accepted"]}
            # The batch is cut off and applied again until every decision of the run was
            # written once (a decision is applied once: the rest of the run goes on).
            for _ in range(3):
                written = {c["decision_id"] for c in node_env.api("GET", f"/changes?run_id={run['id']}&limit=500").json()["data"]}
                if batches >= BATCHES or not wanted - written:
                    break
                crash(f"/runs/{run['id']}/apply", {}, run["id"], 2.0)
            # Then the run is rolled back, cut off and rolled back again until nothing is left.
            for _ in range(3):
                applied = node_env.api("GET", f"/changes?run_id={run['id']}&status=applied").json()["data"]
                undone = {c["rollback_of"] for c in applied if c.get("rollback_of")}
                if batches >= BATCHES or not [c for c in applied if not c.get("rollback_of") and c["id"] not in undone]:
                    break
                crash(f"/runs/{run['id']}/rollback", {"force": True}, run["id"], 1.5)
    finally:
        node_env.simnode.clear_faults()
    interrupted = statuses.count("interrupted")
    assert batches == BATCHES
    # The kills landed inside batches, not only before or after them.
    assert interrupted >= BATCHES // 4, statuses
