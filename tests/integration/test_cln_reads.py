"""Issue 18: the read side on Core Lightning. A real LNbits 1.6.2 on CoreLightningWallet, on
simnode's Core Lightning face (lightningd v25.12's JSON-RPC on a unix socket): a dry run scores
every channel from the same inputs as on LND — complete policies, flows from the forwarding history
we keep (listforwards, incremental by created_index), failed forwards from it — in a fixed number of
calls; autopilot writes fees with setchannel, fee fields only. (The safety net's own suites run on
both backends: test_safety_net, test_executor, test_crash_recovery, test_authorization.)"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterator

import pytest

from devtools.testenv import NodeEnv, scid, start_node_env, wait_until
from tests.integration.flow_oracle import assert_flows_are_the_sums

DAY = 86400
NS = 1_000_000_000


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[NodeEnv]:
    node_env = start_node_env(tmp_path_factory.mktemp("cln-reads"), cln=True)
    try:
        yield node_env
    finally:
        node_env.session.host.stop()
        node_env.simnode.stop()


# what Fee Autopilot calls (LNbits' own wallet calls — waitanyinvoice, listfunds — are not ours)
OURS = ("cln getinfo", "cln listpeerchannels", "cln listnodes", "cln listchannels", "cln listforwards", "cln setchannel")
WEEK_MINUTES = 7 * 24 * 60


def cln_requests(env: NodeEnv) -> dict[str, int]:
    return {k: v for k, v in env.simnode.requests()["requests"].items() if k in OURS}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


def node_entries(env: NodeEnv) -> list[dict]:
    """Every listforwards entry the node has, oldest first (the oracle's source)."""
    return env.simnode.cln_call("listforwards")["result"]["forwards"]


def stored_snapshot(env: NodeEnv, run_id: str) -> tuple[int, dict]:
    with sqlite3.connect(env.session.host.data_folder / "ext_feepilot.sqlite3") as db:
        at, data = db.execute("SELECT taken_at, data FROM snapshots WHERE run_id = ?", (run_id,)).fetchone()
    return int(at), json.loads(data)


def ext_rows(env: NodeEnv, query: str) -> list[tuple]:
    with sqlite3.connect(env.session.host.data_folder / "ext_feepilot.sqlite3") as db:
        return db.execute(query).fetchall()


def chan_id(scid: str) -> str:
    block, tx, out = (int(x) for x in scid.split("x"))
    return str(block << 40 | tx << 16 | out)


def test_status_names_core_lightning_and_what_it_can_do(env):
    graph_calls = {k: v for k, v in cln_requests(env).items() if k in ("cln listchannels", "cln setchannel")}
    assert graph_calls == {"cln listchannels": 1}, graph_calls  # the start's dry run read the graph once; no write
    status = env.api("GET", "/status").json()
    assert status["backend"] == "CoreLightningWallet" and status["node_api_available"] is True, status
    truth = env.state()
    assert (status["node_id"], status["alias"], status["block_height"]) == (truth["node_id"], truth["alias"], truth["block_height"])
    assert status["capabilities"] == {"reads_forwards": True, "reads_graph": True, "writes_fees": True,
                                      "inbound_fees": False}
    assert status["sources"] == {"channels": True, "policies": True, "forwards": True, "graph": True, "htlc_events": True}
    assert status["channel_counts"] == {"active": 15, "inactive": 1, "pending": 3}


def test_a_dry_run_scores_every_open_channel_with_the_nodes_policies(env):
    run = env.dry_run()
    assert run["status"] == "completed", run
    assert run["summary"]["sources"] == {"channels": True, "policies": True, "forwards": True, "graph": True,
                                         "htlc_events": True}, run["summary"]
    truth = env.channel_truth()
    scores = env.api("GET", "/scores").json()
    assert scores["run"]["id"] == run["id"]
    assert {c["chan_id"] for c in scores["channels"]} == set(truth) and len(truth) == 16
    channels = {c["id"]: c for c in env.api("GET", "/channels").json()["channels"]}
    for chan, expected in truth.items():
        listed, policy = channels[chan], expected["policy"]
        assert listed["state"] == ("active" if expected["active"] else "inactive"), chan
        # CLN's balances add up to the capacity (the commitment fee is not taken from them, as LND's
        # remote_balance is): the peer's side is the rest of total_msat
        assert (listed["capacity_sat"], listed["local_sat"], listed["remote_sat"]) == (
            expected["capacity_sat"], expected["local_msat"] // 1000,
            (expected["capacity_sat"] * 1000 - expected["local_msat"]) // 1000)
        assert (listed["peer_id"], listed["channel_point"], listed["peer_alias"]) == (
            expected["peer"], expected["channel_point"], expected["peer_alias"])
        assert listed["short_id"].count("x") == 2 and chan_id(listed["short_id"]) == chan
        got = listed["policy"]
        assert (got["base_msat"], got["ppm"], got["cltv_delta"], got["min_htlc_msat"], got["max_htlc_msat"]) == (
            policy["base_msat"], policy["ppm"], policy["cltv"], policy["min_htlc_msat"], policy["max_htlc_msat"]), chan
        assert (got["inbound_base_msat"], got["inbound_ppm"]) == (0, 0)  # CLN has no inbound fees
    # the graph came from listchannels + listnodes, decoded in the heavy-work process
    worker = env.api("GET", "/status").json()["worker"]
    assert worker["graph"]["fingerprint"].startswith("cln:") and worker["graph"]["edges"] > 10_000, worker


def test_a_runs_flows_are_the_sums_of_the_nodes_forwards_in_its_window(env):
    """The oracle is the rule over the node's own listforwards: a settled forward, at its
    resolved_time, leaves through out_channel (its fee earned there) and arrives through in_channel."""
    env.advance(hours=3)
    run = env.dry_run()
    at = run["summary"]["forwards_sync"]["windows"][-1][1]
    settled = [f for f in node_entries(env) if f["status"] == "settled"
               and (at - 30 * DAY) * NS <= round(f["resolved_time"] * 1000) * 1_000_000 <= at * NS]
    assert_flows_are_the_sums(env.api("GET", "/scores").json(),
                              ((chan_id(f["out_channel"]), chan_id(f["in_channel"]), f["fee_msat"]) for f in settled))


def test_failed_forwards_reach_link_failures_and_the_runs_snapshot(env):
    env.advance(hours=12)
    run = env.dry_run()
    at, snapshot = stored_snapshot(env, run["id"])
    assert snapshot["sources"]["htlc_events"] is True
    failed = [f for f in node_entries(env) if f["status"] == "local_failed"]
    lacking = [f for f in failed if f["failcode"] == 4103
               and (at - DAY) * NS <= round(f["received_time"] * 1000) * 1_000_000 <= at * NS]
    assert lacking, "the node refused forwards for lack of balance in the last day"
    for channel in snapshot["channels"]:
        if channel["state"] not in ("active", "inactive"):
            assert channel["failed_out_1d"] is None
            continue
        mine = [f for f in lacking if chan_id(f["out_channel"]) == channel["chan_id"]]
        assert channel["failed_out_1d"] == len(mine), channel["chan_id"]
        assert channel["failed_out_amount_1d_sat"] == sum(f["in_msat"] for f in mine) // 1000, channel["chan_id"]
    # every local failure the node listed is a row of link_failures, with its reason mapped
    stored = {(int(ts), int(chan_in), int(htlc)): (int(out), detail, wire) for ts, chan_in, htlc, out, detail, wire in ext_rows(
        env, "SELECT ts_ns, chan_in, htlc_in, chan_out, failure_detail, wire_failure FROM link_failures")}
    for f in failed:
        key = (round(f["received_time"] * 1000) * 1_000_000, int(chan_id(f["in_channel"])), f["in_htlc_id"])
        detail = {4103: "INSUFFICIENT_BALANCE", 4108: "FEE_INSUFFICIENT"}[f["failcode"]]
        assert stored[key] == (int(chan_id(f["out_channel"])), detail, f["failreason"].removeprefix("WIRE_")), f
    # and a channel's detail says they are known (no stream to be heard on CLN)
    busiest = max(lacking, key=lambda f: sum(1 for g in lacking if g["out_channel"] == f["out_channel"]))["out_channel"]
    detail = env.api("GET", f"/channels/{chan_id(busiest)}/history?days=1").json()["failed_forwards"]
    assert detail["heard"] is True and detail["lack_of_balance_24h"]["count"] >= 1, detail


def test_a_cycle_after_the_first_reads_only_the_new_forwards(env):
    first = env.api("GET", "/runs?limit=200").json()["data"][-1]["summary"]["forwards_sync"]
    entries = node_entries(env)
    assert first["first"] and first["from_index"] == 1 and first["read"] >= 1000, first
    env.dry_run()  # up to date now
    held = len(node_entries(env))
    env.advance(hours=6)
    before = cln_requests(env)
    run = env.dry_run()
    calls = delta(cln_requests(env), before)
    sync = run["summary"]["forwards_sync"]
    entries = node_entries(env)
    new = [e for e in entries if e["created_index"] > held]
    assert new, "six hours of traffic"
    assert (sync["first"], sync["from_index"], sync["read"], sync["requests"]) == (False, held + 1, len(new), 1), sync
    assert sync["new"] == sum(1 for e in new if e["status"] == "settled")
    assert sync["failures"] == sum(1 for e in new if e["status"] == "local_failed")
    assert calls.get("cln listforwards") == 1, calls
    assert sync["read"] < len(entries) / 4  # not the whole history again


def test_autopilot_applies_through_setchannel_changing_only_the_fees(env):
    """The scheduled cycle in autopilot mode writes its proposals with setchannel: the fee fields
    and nothing else change in simnode's ground truth, and the log holds them applied, read back.
    Inbound management asked for in the settings is ignored here, and the run says why."""
    before = env.state()
    env.api("PUT", "/settings", json={"mode": "autopilot", "engine": {"inbound": {"manage": "on"}}}).raise_for_status()
    try:
        env.advance(hours=2)  # the cycle is due
        # a cycle's run is stored "completed" and then applied ("applying"): wait for where it ends
        cycle = wait_until(lambda: next((r for r in env.api("GET", "/runs?limit=5").json()["data"]
                                         if r["kind"] == "autopilot"
                                         and r["status"] not in ("running", "completed", "applying")), None),
                           timeout=180, what="an autopilot cycle's apply")
    finally:
        env.api("PUT", "/settings", json={"mode": "off", "engine": {"inbound": {"manage": "off"}}}).raise_for_status()
    assert cycle["status"] == "applied", cycle
    assert any("Inbound fees are not managed" in w for w in cycle["summary"]["warnings"]), cycle["summary"]["warnings"]
    after = env.state()
    changes = env.api("GET", f"/changes?run_id={cycle['id']}&limit=100").json()["data"]
    assert changes and all(c["status"] == "applied" and c["message"] == "verified by read-back" for c in changes), changes
    was = {c["chan_id"]: c["policy"] for c in before["channels"]}
    now = {c["chan_id"]: c["policy"] for c in after["channels"]}
    changed = {c["chan_id"] for c in changes}
    for chan, policy in now.items():
        old = was[chan]
        if chan in changed:
            change = next(c for c in changes if c["chan_id"] == chan)
            assert (policy["base_msat"], policy["ppm"]) == (change["new_policy"]["base_msat"], change["new_policy"]["ppm"])
            assert (old["base_msat"], old["ppm"]) == (change["old_policy"]["base_msat"], change["old_policy"]["ppm"])
            assert change["new_policy"]["inbound_ppm"] == change["new_policy"]["inbound_base_msat"] == 0
        else:
            assert (policy["base_msat"], policy["ppm"]) == (old["base_msat"], old["ppm"]), chan
        rest = ("cltv", "min_htlc_msat", "max_htlc_msat", "inbound_base_msat", "inbound_ppm")
        assert {k: policy[k] for k in rest} == {k: old[k] for k in rest}, chan
    writes = after["setchannel_requests"][len(before["setchannel_requests"]):]
    assert len(writes) == len(changes) and not any(w.get("error") for w in writes), writes
    # CLN's enforcedelay: the fee a raise replaced stays acceptable for lightningd's default 600 s
    raised = {c["chan_id"] for c in changes if c["new_policy"]["ppm"] > c["old_policy"]["ppm"]}
    assert raised, "the seed's first autopilot cycle raises a fee"
    for channel in (c for c in after["channels"] if c["chan_id"] in raised):
        assert channel["old_policy"]["ppm"] == was[channel["chan_id"]]["ppm"], channel
        assert 0 < channel["old_policy_until"] - after["now"] <= 600, channel
    # the run is rolled back by hand as on LND: the fees as they were, the rest untouched
    undo = env.api("POST", f"/runs/{cycle['id']}/rollback", json={})
    assert undo.status_code == 200 and undo.json()["status"] == "rolled_back", undo.text
    restored = {c["chan_id"]: c["policy"] for c in env.state()["channels"]}
    fields = ("base_msat", "ppm") + rest
    assert {c: {k: p[k] for k in fields} for c, p in restored.items()} == {c: {k: p[k] for k in fields} for c, p in was.items()}


def test_a_write_whose_own_read_fails_is_retried_not_left_unknown(env):
    """setchannel is sent only after the live policy is read (to refuse what it cannot write): when
    that read fails, nothing was sent, so the write is retried instead of left with an unknown outcome."""
    env.advance(hours=49)  # past the cooldowns of the autopilot test's changes
    run = env.dry_run()
    decision = next(d for d in run["decisions"] if d["accepted"])
    # the apply's own read of the channel passes; the write's read, the next one, is dropped
    env.simnode.set_faults({"method": "CLN", "path": "listpeerchannels", "params": {"short_channel_id": scid(decision["chan_id"])},
                            "skip": 1, "drop": True, "times": 1})
    try:
        outcome = env.api("POST", f"/decisions/{decision['id']}/apply").json()["outcomes"][0]
    finally:
        env.simnode.clear_faults()
    assert env.simnode.state()["faults"]["injected"] == 1
    assert outcome["status"] == "applied", outcome
    assert env.channel_truth()[decision["chan_id"]]["policy"]["ppm"] == decision["new_policy"]["ppm"]
    env.api("POST", f"/changes/{outcome['change_id']}/rollback", json={}).raise_for_status()


def _calls_per_cycle(env: NodeEnv) -> dict[str, int]:
    # the graph is read once per refresh interval (2 calls then: listchannels, listnodes); kept here
    env.api("PUT", "/settings", json={"graph_refresh_minutes": WEEK_MINUTES}).raise_for_status()
    env.dry_run()  # the sync is up to date, the graph loaded
    counts = []
    for _ in range(2):
        env.advance(hours=1)
        before = cln_requests(env)
        env.dry_run()
        counts.append(delta(cln_requests(env), before))
    assert counts[0] == counts[1], counts
    return counts[0]


def test_a_cycle_makes_the_same_calls_on_a_node_of_four_times_the_channels(env, tmp_path: Path):
    small = _calls_per_cycle(env)
    assert small == {"cln getinfo": 1, "cln listpeerchannels": 1, "cln listnodes": 1, "cln listforwards": 1}, small
    big = start_node_env(tmp_path, cln=True, channels=64)
    try:
        assert len(big.state()["channels"]) == 64
        assert _calls_per_cycle(big) == small
    finally:
        big.session.host.stop()
        big.simnode.stop()
