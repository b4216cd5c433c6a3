"""LND REST semantics (chanpolicy, switch pagination, filters) and fault injection."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from simnode import SimNode, handle, load_graph
from simnode.testing import start_simnode


@pytest.fixture
def sim():
    return SimNode(load_graph(), seed=13)


def _point(c) -> dict:
    return {"funding_txid_str": c.txid, "output_index": c.vout}


def test_chanpolicy_overwrites_and_keeps_max_htlc(sim):
    c = sim.channels[2]
    old_max = c.policy.max_htlc_msat
    r = handle(sim, "POST", "/v1/chanpolicy", body={"chan_point": _point(c), "fee_rate_ppm": 350, "time_lock_delta": 60})
    assert r.status == 200 and r.json() == {"failed_updates": []}
    assert (c.policy.base_msat, c.policy.ppm, c.policy.cltv) == (0, 350, 60)  # omitted base → 0
    assert c.policy.max_htlc_msat == old_max  # max 0/omitted = keep
    # fee_rate (fraction) path, bytes chan point (reversed), min htlc only when specified
    txb = base64.b64encode(bytes.fromhex(c.txid)[::-1]).decode()
    r = handle(sim, "POST", "/v1/chanpolicy", body={
        "chanPoint": {"fundingTxidBytes": txb, "outputIndex": c.vout}, "baseFeeMsat": "10", "fee_rate": 0.000123,
        "time_lock_delta": 40, "min_htlc_msat": "5000", "max_htlc_msat": "100000000"})
    assert r.status == 200, r.json()
    assert (c.policy.base_msat, c.policy.ppm, c.policy.min_htlc_msat, c.policy.max_htlc_msat) == (10, 123, 1000, 100_000_000)
    r = handle(sim, "POST", "/v1/chanpolicy", body={"chan_point": _point(c), "time_lock_delta": 40,
                                                     "min_htlc_msat": "5000", "min_htlc_msat_specified": True})
    assert c.policy.min_htlc_msat == 5000 and c.policy.ppm == 0  # both rates omitted → 0
    # inbound fee: absent = keep, present = set, positive = rejected
    handle(sim, "POST", "/v1/chanpolicy", body={"chan_point": _point(c), "time_lock_delta": 40, "inbound_fee": {"fee_rate_ppm": -30}})
    assert c.policy.inbound_ppm == -30
    handle(sim, "POST", "/v1/chanpolicy", body={"chan_point": _point(c), "time_lock_delta": 40})
    assert c.policy.inbound_ppm == -30
    r = handle(sim, "POST", "/v1/chanpolicy", body={"chan_point": _point(c), "time_lock_delta": 40, "inbound_fee": {"base_fee_msat": 5}})
    assert r.status == 500
    assert len(sim.state()["channels"][2]["policy_update_times"]) == 5


def test_chanpolicy_validation_and_failed_updates(sim):
    c = sim.channels[0]
    cases = [
        ({"chan_point": _point(c), "time_lock_delta": 23}, 500, "too small, minimum supported is 24"),
        ({"chan_point": _point(c), "time_lock_delta": 70000}, 500, "too big, maximum supported is 65535"),
        ({"chan_point": _point(c), "time_lock_delta": 3000}, 500, "exceeds max-cltv-expiry of 2016"),
        ({"chan_point": _point(c), "fee_rate": 0.1, "fee_rate_ppm": 5, "time_lock_delta": 40}, 400, "cannot set both"),
        ({"time_lock_delta": 40}, 500, "unknown scope: <nil>"),
        ({"global": False, "chan_point": _point(c), "time_lock_delta": 40}, 400, "oneof"),
        ({"chan_point": _point(c), "time_lock_delta": 40, "bogus": 1}, 400, 'unknown field "bogus"'),
        ({"chan_point": _point(c), "time_lock_delta": -1}, 400, "invalid value"),
    ]
    for body, status, msg in cases:
        r = handle(sim, "POST", "/v1/chanpolicy", body=body)
        assert r.status == status and msg in r.json()["message"], (body, r.json())
    assert len(c.update_times) == 0
    pend = sim.pending_open[0]
    r = handle(sim, "POST", "/v1/chanpolicy", body={"chan_point": {"funding_txid_str": pend["txid"], "output_index": pend["vout"]}, "time_lock_delta": 40})
    fu = r.json()["failed_updates"]
    assert r.status == 200 and fu[0]["reason"] == "UPDATE_FAILURE_PENDING" and fu[0]["update_error"] == "not yet confirmed"
    assert fu[0]["outpoint"]["txid_str"] == pend["txid"]
    r = handle(sim, "POST", "/v1/chanpolicy", body={"chan_point": _point(c), "time_lock_delta": 40, "max_htlc_msat": str(c.capacity * 1000)})
    assert r.json()["failed_updates"][0]["reason"] == "UPDATE_FAILURE_INVALID_PARAMETER"
    r = handle(sim, "POST", "/v1/chanpolicy", body={"chan_point": _point(c), "time_lock_delta": 40, "min_htlc_msat": "0", "min_htlc_msat_specified": True})
    assert "below min htlc parameter" in r.json()["failed_updates"][0]["update_error"]
    # global: every open channel, counted once each
    r = handle(sim, "POST", "/v1/chanpolicy", body={"global": False, "fee_rate_ppm": 9, "time_lock_delta": 40})
    assert r.status == 200 and all(x.policy.ppm == 9 for x in sim.channels)
    assert all(len(x.update_times) == 1 for x in sim.channels)
    # fee view updated at once
    fees = handle(sim, "GET", "/v1/fees").json()["channel_fees"]
    assert {f["fee_per_mil"] for f in fees} == {"9"}
    edge = handle(sim, "GET", f"/v1/graph/edge/{c.chan_id}").json()
    mine = edge["node1_policy"] if edge["node1_pub"] == sim.pubkey else edge["node2_policy"]
    assert mine["fee_rate_milli_msat"] == "9" and mine["last_update"] == c.update_times[-1]


def test_switch_pagination_and_filters(sim):
    sim.advance(hours=48)
    all_ev = handle(sim, "POST", "/v1/switch", body={"num_max_events": 100000}).json()["forwarding_events"]
    assert len(all_ev) == len(sim.forwards) > 150
    ts = [int(e["timestamp_ns"]) for e in all_ev]
    assert ts == sorted(ts)
    # default page size 100, paging with last_offset_index until empty
    pages, offset = [], 0
    while True:
        r = handle(sim, "POST", "/v1/switch", body={"index_offset": offset, "num_max_events": 0}).json()
        if not r["forwarding_events"]:
            assert r["last_offset_index"] == offset
            break
        assert len(r["forwarding_events"]) <= 100
        pages += r["forwarding_events"]
        offset = r["last_offset_index"]
    assert pages == all_ev
    # time window (seconds, inclusive) and channel filters count toward the offset only when matching
    start = int(all_ev[50]["timestamp"])
    end = int(all_ev[120]["timestamp"])
    win = handle(sim, "POST", "/v1/switch", body={"start_time": str(start), "end_time": end, "num_max_events": 1000}).json()
    assert all(start * 10**9 <= int(e["timestamp_ns"]) <= end * 10**9 for e in win["forwarding_events"])
    out_id = all_ev[0]["chan_id_out"]
    flt = handle(sim, "POST", "/v1/switch", body={"outgoing_chan_ids": [out_id], "num_max_events": 1000}).json()["forwarding_events"]
    assert flt and all(e["chan_id_out"] == out_id for e in flt)
    second = handle(sim, "POST", "/v1/switch", body={"outgoing_chan_ids": [int(out_id)], "index_offset": 1, "num_max_events": 1}).json()
    assert second["forwarding_events"] == flt[1:2] and second["last_offset_index"] == 2
    for e in all_ev[:20]:
        assert int(e["fee_msat"]) == int(e["amt_in_msat"]) - int(e["amt_out_msat"])
        assert int(e["fee"]) == int(e["fee_msat"]) // 1000
    named = handle(sim, "POST", "/v1/switch", body={"peer_alias_lookup": True, "num_max_events": 3}).json()["forwarding_events"]
    assert all(e["peer_alias_in"] for e in named)
    # fee sums match the truth
    fees = handle(sim, "GET", "/v1/fees").json()
    assert int(fees["day_fee_sum"]) == sim.fee_sum_msat(86400) // 1000
    assert int(fees["month_fee_sum"]) >= int(fees["week_fee_sum"]) >= int(fees["day_fee_sum"]) > 0


def test_channels_filters_and_peer_base64(sim):
    c = sim.channels[4]
    raw = bytes.fromhex(c.peer)
    for enc in (base64.urlsafe_b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("=")):
        r = handle(sim, "GET", "/v1/channels", query={"peer": [enc]})
        assert [x["chan_id"] for x in r.json()["channels"]] == [str(c.chan_id)]
    assert len(handle(sim, "GET", "/v1/channels", query={"active_only": ["true"]}).json()["channels"]) == 15
    assert len(handle(sim, "GET", "/v1/channels", query={"inactive_only": ["1"]}).json()["channels"]) == 1
    r = handle(sim, "GET", "/v1/channels", query={"active_only": ["maybe"]})
    assert r.status == 400 and r.json()["code"] == 3
    ch = handle(sim, "GET", "/v1/channels").json()["channels"][0]
    assert int(ch["lifetime"]) > 0 and 0 < int(ch["uptime"]) <= int(ch["lifetime"])
    assert int(ch["local_balance"]) + int(ch["remote_balance"]) + int(ch["commit_fee"]) <= int(ch["capacity"])


@pytest.fixture(scope="module")
def node():
    with start_simnode(seed=17, speed=0, start="snapshot") as n:
        yield n


def test_faults_status_latency_and_clear(node):
    c = httpx.Client(base_url=node.url, headers=node.headers, timeout=10)
    node.set_faults({"path": "/v1/getinfo", "status": 503})
    r = c.get("/v1/getinfo")
    assert r.status_code == 503 and r.json()["code"] == 14
    assert c.get("/v1/fees").status_code == 200  # other endpoints unaffected
    node.clear_faults()
    assert c.get("/v1/getinfo").status_code == 200
    node.set_faults({"path": "/v1/fees", "latency_ms": 600})
    t = time.monotonic()
    assert c.get("/v1/fees").status_code == 200
    assert time.monotonic() - t >= 0.6
    node.set_faults({"path": "/v1/*", "method": "GET", "status": 500, "times": 2}, replace=True)
    assert [c.get("/v1/getinfo").status_code for _ in range(3)] == [500, 500, 200]
    node.clear_faults()


def test_faults_hang_and_drop(node):
    c = httpx.Client(base_url=node.url, headers=node.headers)
    node.set_faults({"path": "/v1/channels", "hang": True, "hang_seconds": 30})
    with pytest.raises(httpx.ReadTimeout):
        c.get("/v1/channels", timeout=1.0)
    node.set_faults({"path": "/v1/channels", "drop": True}, replace=True)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        c.get("/v1/channels", timeout=5)
    node.clear_faults()
    assert c.get("/v1/channels", timeout=5).status_code == 200


def test_fault_error_rate_is_seeded(node):
    c = httpx.Client(base_url=node.url, headers=node.headers, timeout=10)
    seqs = []
    for _ in range(2):
        node.clear_faults()  # also re-seeds the fault RNG
        node.set_faults({"path": "/v1/balance/*", "error_rate": 0.5})
        seqs.append([c.get("/v1/balance/channels").status_code for _ in range(30)])
    assert seqs[0] == seqs[1]
    assert 5 < seqs[0].count(500) < 25
    node.clear_faults()


def test_fault_failed_updates(node):
    st = node.state()
    a, b = st["channels"][0], st["channels"][1]
    node.set_faults({"path": "/v1/chanpolicy", "failed_updates": [a["chan_id"]]})
    status, body = node.post("/v1/chanpolicy", {"global": True, "fee_rate_ppm": 77, "time_lock_delta": 40})
    assert status == 200
    assert [f["outpoint"]["txid_str"] for f in body["failed_updates"]] == [a["channel_point"].split(":")[0]]
    after = {c["chan_id"]: c for c in node.state()["channels"]}
    assert after[a["chan_id"]]["policy"]["ppm"] == a["policy"]["ppm"]
    assert after[b["chan_id"]]["policy"]["ppm"] == 77
    node.clear_faults()


def test_sim_control_routes(node):
    r = httpx.post(node.url + "/sim/advance", json={"hours": 1})
    assert r.status_code == 200 and r.json()["steps"] == 6
    assert httpx.post(node.url + "/sim/advance", json={"weeks": 1}).status_code == 400
    assert httpx.post(node.url + "/sim/faults", json={"path": "/x", "nonsense": 1}).status_code == 400
    st = node.state()
    for key in ("channels", "totals", "failed_forwards", "policy_log", "chanpolicy_requests", "faults", "params"):
        assert key in st
    ch = st["channels"][0]
    for key in ("policy", "local_msat", "remote_msat", "forwards_out", "failed_out", "revenue_msat",
                "policy_updates", "policy_update_times"):
        assert key in ch
    assert set(ch["policy"]) >= {"cltv", "min_htlc_msat", "max_htlc_msat", "inbound_base_msat", "inbound_ppm"}


def test_htlcevents_stream_shows_liquidity_failures(node):
    with httpx.Client(base_url=node.url, headers=node.headers, timeout=20) as c:
        with c.stream("GET", "/v2/router/htlcevents") as r:
            it = r.iter_lines()
            first = json.loads(next(it))
            assert first["result"]["subscribed_event"] == {}
            httpx.post(node.url + "/sim/advance", json={"hours": 24})
            kinds = set()
            for line in it:
                ev = json.loads(line)["result"]
                kinds |= {k for k in ("forward_event", "link_fail_event") if k in ev}
                if len(kinds) == 2:
                    break
    assert kinds == {"forward_event", "link_fail_event"}


def test_speed_clock_runs():
    with start_simnode(seed=3, speed=3600, extra_args=("--history-days", "0")) as n:
        t0 = n.state()["now"]
        time.sleep(2.2)
        assert n.state()["now"] - t0 >= 3600
        print(f"\nsimnode startup (history 0 d): {n.startup_seconds:.2f}s")
