"""Issue 16: forwards that failed on our side, from LND's HTLC event stream, in a real LNbits.

The listener keeps one subscription to simnode's `/v2/router/htlcevents` (simnode emits a
`link_fail_event` for every forward our channel could not carry); the failures land in the
extension's table, the engine's snapshot and a channel's detail. A cut stream is resumed within a
minute, and the listener ends with the extension.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from typing import Callable, Iterator

import pytest

from devtools.testenv import NodeEnv, start_node_env, wait_until

NS = 1_000_000_000
STREAM = "GET /v2/router/htlcevents"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[NodeEnv]:
    node_env = start_node_env(tmp_path_factory.mktemp("htlc-events"))
    try:
        yield node_env
    finally:
        node_env.session.host.stop()
        node_env.simnode.stop()


def listener(env: NodeEnv) -> dict:
    response = env.api("GET", "/status")
    assert response.status_code == 200, response.text
    return response.json()["htlc_events"]


def wait_for(check: Callable[[], object], what: str, timeout: float = 60.0) -> object:
    return wait_until(check, timeout, what, every=0.25)


def stream_requests(env: NodeEnv) -> int:
    return env.simnode.requests()["requests"].get(STREAM, 0)


def liquidity_failures(env: NodeEnv, since_s: int) -> list[dict]:
    """simnode's ground truth: the forwards our outgoing channel could not carry, since `since_s`."""
    return [f for f in env.simnode.state(forwards=True)["failed_forwards"]
            if f["reason"] == "INSUFFICIENT_BALANCE" and f["ts_ns"] >= since_s * NS]


def stored_rows(env: NodeEnv) -> list[tuple]:
    with sqlite3.connect(env.session.host.data_folder / "ext_feepilot.sqlite3") as db:
        return db.execute("SELECT chan_in || ':' || htlc_in || ':' || ts_ns, ts_ns, CAST(chan_out AS TEXT), amount_msat, "
                          "failure_detail FROM link_failures").fetchall()


def test_a_day_of_failed_forwards_is_stored_carried_and_shown_as_simnode_lists_them(env):
    wait_for(lambda: listener(env)["live"], "the HTLC event stream to be live")
    start = int(env.state()["now"])
    env.advance(hours=24)
    truth = liquidity_failures(env, start)
    assert len(truth) >= 10, f"only {len(truth)} liquidity failures in a day: the test proves little"
    wait_for(lambda: len(stored_rows(env)) >= len(truth), f"{len(truth)} stored failures", timeout=30)
    time.sleep(1)  # nothing more arrives
    rows = stored_rows(env)
    assert len(rows) == len(truth)
    # the same failures: time, outgoing channel and amount, one row each
    assert sorted((ts, chan, amount) for _, ts, chan, amount, _ in rows) == sorted(
        (f["ts_ns"], str(f["chan_out"]), f["amt_out_msat"]) for f in truth)
    assert {detail for *_, detail in rows} == {"INSUFFICIENT_BALANCE"}

    per_channel: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f in truth:
        per_channel[str(f["chan_out"])][0] += 1
        per_channel[str(f["chan_out"])][1] += f["amt_out_msat"]
    status = listener(env)
    assert status["failed_24h"] == len(truth) and status["stored"] >= len(truth), status

    # a channel's detail (GET /channels/{id}/history) counts them
    open_ids = [c["chan_id"] for c in env.state()["channels"] if c["active"]]
    quiet = next(chan for chan in open_ids if chan not in per_channel)
    for chan_id in [*per_channel, quiet]:
        history = env.api("GET", f"/channels/{chan_id}/history?days=30").json()
        failures = history["failed_forwards"]
        count, amount_msat = per_channel.get(chan_id, (0, 0))
        assert failures["heard"] is True
        assert failures["lack_of_balance_24h"] == {"count": count, "amount_sat": amount_msat // 1000}, chan_id
        assert len(failures["recent"]) == min(count, 10)
        assert [f["at"] for f in failures["recent"]] == sorted((f["at"] for f in failures["recent"]), reverse=True)

    # the engine's snapshot carries them: the run's stored snapshot, per channel
    run = env.dry_run()
    with sqlite3.connect(env.session.host.data_folder / "ext_feepilot.sqlite3") as db:
        at, data = db.execute("SELECT taken_at, data FROM snapshots WHERE run_id = ?", (run["id"],)).fetchone()
    snapshot = json.loads(data)
    assert snapshot["sources"]["htlc_events"] is True
    window = liquidity_failures(env, at - 86400)
    for channel in snapshot["channels"]:
        if channel["state"] not in ("active", "inactive"):
            continue
        mine = [f for f in window if str(f["chan_out"]) == channel["chan_id"] and f["ts_ns"] <= at * NS]
        assert channel["failed_out_1d"] == len(mine), channel["chan_id"]
        assert channel["failed_out_amount_1d_sat"] == sum(f["amt_out_msat"] for f in mine) // 1000


def test_a_cut_stream_is_resumed_within_a_minute_without_duplicates(env):
    wait_for(lambda: listener(env)["live"], "the HTLC event stream to be live")
    before = listener(env)
    asked = stream_requests(env)
    stored = len(stored_rows(env))
    # the next two subscriptions are refused, then the node answers again
    env.simnode.set_faults({"path": "/v2/router/htlcevents", "status": 503, "times": 2})
    cut_at = time.monotonic()
    assert env.simnode.drop_streams("/v2/router/htlcevents") == 1, "the listener held one subscription"
    wait_for(lambda: (s := listener(env))["live"] and s["connects"] == before["connects"] + 1,
             "the listener to resume", timeout=60)
    assert time.monotonic() - cut_at < 60
    assert stream_requests(env) == asked + 3  # two refused, one live: one listener, one subscription
    env.simnode.clear_faults()

    start = int(env.state()["now"])
    env.advance(hours=6)
    truth = liquidity_failures(env, start)
    assert truth, "no failure in 6 hours: the test proves little"
    wait_for(lambda: len(stored_rows(env)) >= stored + len(truth), "the new failures", timeout=30)
    time.sleep(1)
    rows = stored_rows(env)
    assert len(rows) == stored + len(truth) == len({row[0] for row in rows})


def test_the_listener_stops_with_the_extension_and_starts_with_it(env):
    wait_for(lambda: listener(env)["live"], "the HTLC event stream to be live")
    host = env.session.host
    with env.client() as client:
        client.put("/api/v1/extension/feepilot/deactivate").raise_for_status()
    try:
        wait_for(lambda: "HTLC event listener stopped" in host.log_path.read_text(errors="replace"),
                 "the listener's stop in the log", timeout=30)
        asked = stream_requests(env)
        assert env.simnode.drop_streams("/v2/router/htlcevents") == 0, "the subscription was closed with the extension"
        env.advance(hours=2)
        time.sleep(BACKOFF_PROOF_S)
        assert stream_requests(env) == asked, "the listener reconnected after the extension was deactivated"
        log = host.log_path.read_text(errors="replace")
        after = log[log.rindex("HTLC event listener stopped"):]
        assert "HTLC event stream live" not in after and "reconnecting" not in after, after[-2000:]
    finally:
        with env.client() as client:
            client.put("/api/v1/extension/feepilot/activate").raise_for_status()
        host.wait_extension_loaded(env.session.super_token)
    wait_for(lambda: listener(env)["live"], "the listener to start with the extension", timeout=60)
    assert stream_requests(env) == asked + 1


# A running listener reconnects within 1 s of losing a live subscription (htlc_listener.RECONNECT):
# 5 s is 5 chances.
BACKOFF_PROOF_S = 5.0
