"""Issue 5: LNbits killed in the middle of a batch; after a restart every change
is reconciled against the node — none is left pending, and each status tells
the truth. On LND and on Core Lightning (issue 18)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest


@pytest.fixture(scope="module")
def node_env(node_env_both):
    return node_env_both


def test_a_crash_mid_batch_leaves_nothing_pending(node_env):
    node_env.advance(hours=49)
    run = node_env.dry_run()
    chosen = [d for d in run["decisions"] if d["accepted"]][:5]
    assert len(chosen) >= 3
    host = node_env.session.host
    # Slow the node so the kill lands while a change is in flight.
    node_env.simnode.set_faults(node_env.write_fault(latency_ms=1500))

    def apply() -> None:
        try:
            with node_env.client() as client:
                client.post(f"/feepilot/api/v1/runs/{run['id']}/apply", json={"decision_ids": [d["id"] for d in chosen]})
        except httpx.HTTPError:
            pass  # the server dies under us: expected

    worker = threading.Thread(target=apply)
    worker.start()
    deadline = time.monotonic() + 60
    seen = {}
    with node_env.client() as client:
        while time.monotonic() < deadline:
            changes = client.get(f"/feepilot/api/v1/changes?run_id={run['id']}").json()["data"]
            seen = {c["status"] for c in changes}
            if "applied" in seen and "pending" in seen:
                break
            time.sleep(0.05)
    assert "pending" in seen and "applied" in seen, seen
    host.kill()
    worker.join()
    node_env.simnode.clear_faults()

    host.start()
    token = host.login(host_user := "admin", node_env.session.super_password)
    assert host_user == "admin"
    node_env.session.super_token = token
    deadline = time.monotonic() + 60
    with host.client(token) as client:
        while time.monotonic() < deadline:
            response = client.get("/feepilot/api/v1/changes?status=pending")
            if response.status_code == 200 and response.json()["total"] == 0:
                break
            time.sleep(0.5)
        assert response.json()["total"] == 0, response.text
        changes = client.get(f"/feepilot/api/v1/changes?run_id={run['id']}").json()["data"]
    truth = node_env.channel_truth()
    assert changes
    for change in changes:
        live = truth[change["chan_id"]]["policy"]
        if change["status"] == "applied":
            assert (live["base_msat"], live["ppm"]) == (change["new_policy"]["base_msat"], change["new_policy"]["ppm"])
        else:
            assert change["status"] in ("failed", "conflict"), change
            assert (live["base_msat"], live["ppm"]) == (change["old_policy"]["base_msat"], change["old_policy"]["ppm"])
    assert "reconciled" in host.log_path.read_text()
