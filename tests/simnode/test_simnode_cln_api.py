"""The Core Lightning dispatcher in-process (pure): parameters, setchannel, enforcedelay, listforwards,
invoices, payments, faults, filters."""

from __future__ import annotations

import hashlib

import pytest

from simnode import SimNode, TrafficParams, load_graph
from simnode.cln_api import COMMANDS, handle_cln
from simnode.cln_shapes import channel_id, htlc_max_possible_msat, scid
from simnode.node import Channel


@pytest.fixture(scope="module")
def graph():
    return load_graph()


@pytest.fixture
def sim(graph) -> SimNode:
    return SimNode(graph, seed=13)


def result(sim: SimNode, method: str, params: object = None, **kw: object) -> dict:
    reply = handle_cln(sim, method, params, **kw).json()
    assert "result" in reply, reply
    return reply["result"]


def error(sim: SimNode, method: str, params: object = None, **kw: object) -> dict:
    reply = handle_cln(sim, method, params, **kw).json()
    assert "error" in reply, reply
    return reply["error"]


def active(sim: SimNode) -> list[Channel]:
    return [c for c in sim.channels if c.active]


def balanced(sim: SimNode) -> None:
    for c in sim.channels:
        c.local_msat = c.remote_msat = (c.local_msat + c.remote_msat) // 2


# ---------------------------------------------------------------- parameters and errors
def test_params_by_name_and_by_position_are_the_same_call(sim):
    c = active(sim)[0]
    by_name = result(sim, "setchannel", {"id": scid(c.chan_id), "feebase": 7, "feeppm": 300})
    by_position = result(sim, "setchannel", [scid(c.chan_id), 7, 300])
    assert by_name == by_position and by_name["channels"][0]["fee_proportional_millionths"] == 300
    sim.advance(hours=2)
    named = result(sim, "listforwards", {"status": "settled", "index": "created", "start": 3, "limit": 5})
    positional = result(sim, "listforwards", ["settled", None, None, "created", 3, 5])
    assert named == positional and len(named["forwards"]) == 5


def test_bad_calls_answer_cln_errors(sim):
    assert error(sim, "nosuchcommand", {}) == {"code": -32601, "message": "Unknown command 'nosuchcommand'"}
    assert error(sim, "getinfo", {"verbose": True})["message"].startswith("unknown parameter: verbose")
    assert error(sim, "listnodes", ["02" + "11" * 32, "extra"]) == {
        "code": -32602, "message": "too many parameters: got 2, expected 1"}
    assert error(sim, "setchannel", {"feeppm": 5}) == {"code": -32602, "message": "missing required parameter: id"}
    assert error(sim, "setchannel", {"id": "all", "feeppm": "lots"}) == {
        "code": -32602, "message": "feeppm: should be an integer: invalid token (see logs for details)"}
    assert error(sim, "setchannel", {"id": "all", "feebase": 2**32})["message"].startswith("feebase: exceeds u32 max")
    assert error(sim, "listforwards", {"in_channel": "12:3:4"})["message"].startswith(
        "in_channel: should be a short_channel_id of form NxNxN")
    assert error(sim, "listforwards", {"start": 5}) == {"code": -32602, "message": "Can only specify {start} with {index}"}
    assert error(sim, "getinfo", "not-an-array")["code"] == -32602


def test_amounts_take_cln_units(sim):
    c = active(sim)[1]
    answer = result(sim, "setchannel", {"id": scid(c.chan_id), "feebase": "2sat", "htlcmin": "1.500sat",
                                        "htlcmax": "0.0001btc"})["channels"][0]
    assert (answer["fee_base_msat"], answer["minimum_htlc_out_msat"], answer["maximum_htlc_out_msat"]) == (
        2000, 1500, 10_000_000)
    assert (c.policy.base_msat, c.policy.min_htlc_msat, c.policy.max_htlc_msat) == (2000, 1500, 10_000_000)


def test_help_names_every_command_with_its_parameters(sim):
    lines = [h["command"] for h in result(sim, "help")["help"]]
    assert sorted(line.split()[0] for line in lines) == sorted(COMMANDS)
    invoice_usage = result(sim, "help", ["invoice"])["help"][0]["command"]
    assert invoice_usage.startswith("invoice amount_msat label description [expiry]") and "deschashonly" in invoice_usage
    assert error(sim, "help", {"command": "frobnicate"}) == {"code": -32601, "message": "Unknown command frobnicate"}


def test_calls_are_counted_per_method(sim):
    for _ in range(3):
        handle_cln(sim, "getinfo")
    handle_cln(sim, "listforwards", {"bogus": 1})
    assert sim.request_counts["cln getinfo"] == 3 and sim.request_counts["cln listforwards"] == 1
    assert sim.state()["requests"]["cln getinfo"] == 3


def test_filter_keeps_only_what_was_asked(sim):
    got = result(sim, "listpeerchannels", {}, filter={"channels": [{"short_channel_id": True, "to_us_msat": True}]})
    assert got["channels"] and all(set(ch) <= {"short_channel_id", "to_us_msat"} for ch in got["channels"])
    assert result(sim, "getinfo", filter={"id": True, "blockheight": True}) == {
        "id": sim.pubkey, "blockheight": sim.block_height}
    misused = result(sim, "getinfo", filter={"address": {"type": True}})
    assert misused["warning_parameter_filter"] == ".address is an array"  # an object filter met an array
    assert error(sim, "getinfo", filter={"id": 1})["message"].startswith("filter: value must be true")


# ---------------------------------------------------------------- node, channels, funds
def test_getinfo_and_balances_are_the_ground_truth(sim):
    sim.advance(hours=3)
    info = result(sim, "getinfo")
    assert (info["id"], info["blockheight"], info["version"]) == (sim.pubkey, sim.block_height, "v25.12")
    assert info["fees_collected_msat"] == sum(f.fee_msat for f in sim.forwards)
    chans = {ch.get("short_channel_id"): ch for ch in result(sim, "listpeerchannels")["channels"]}
    for c in sim.channels:
        ch = chans[scid(c.chan_id)]
        reserve = c.reserve_sat * 1000
        assert ch["state"] == "CHANNELD_NORMAL" and ch["peer_connected"] == c.active
        assert (ch["to_us_msat"], ch["total_msat"]) == (c.local_msat, c.capacity * 1000)
        assert (ch["spendable_msat"], ch["receivable_msat"]) == (max(0, c.local_msat - reserve), max(0, c.remote_msat - reserve))
        assert ch["updates"]["local"] == {"htlc_minimum_msat": c.policy.min_htlc_msat, "htlc_maximum_msat": c.policy.max_htlc_msat,
                                          "cltv_expiry_delta": c.policy.cltv, "fee_base_msat": c.policy.base_msat,
                                          "fee_proportional_millionths": c.policy.ppm}
        assert (ch["funding_txid"], ch["funding_outnum"], ch["channel_id"]) == (c.txid, c.vout, channel_id(c.txid, c.vout))
    states = sorted(ch["state"] for ch in chans.values())
    assert states.count("CHANNELD_NORMAL") == 16 and {"CHANNELD_AWAITING_LOCKIN", "CLOSINGD_COMPLETE", "ONCHAIN"} <= set(states)
    funds = result(sim, "listfunds")
    assert sum(o["amount_msat"] for o in funds["outputs"]) == sim.onchain_sat * 1000
    assert sum(ch["our_amount_msat"] for ch in funds["channels"]) == sum(ch["to_us_msat"] for ch in chans.values())


def test_channel_id_is_the_funding_outpoint_xor():
    txid = "00" * 31 + "ff"  # internal order reverses it: the XOR lands on what was the first byte
    assert channel_id(txid, 1) == "ff" + "00" * 30 + "01"
    assert channel_id("ab" * 32, 0x0102) == "ab" * 30 + f"{0xab ^ 1:02x}{0xab ^ 2:02x}"


def test_listchannels_filters_and_our_directions(sim):
    c = active(sim)[2]
    both = result(sim, "listchannels", {"short_channel_id": scid(c.chan_id)})["channels"]
    mine = next(d for d in both if d["source"] == sim.pubkey)
    assert (mine["destination"], mine["fee_per_millionth"], mine["base_fee_millisatoshi"], mine["delay"]) == (
        c.peer, c.policy.ppm, c.policy.base_msat, c.policy.cltv)
    assert mine["direction"] == (0 if sim.pubkey < c.peer else 1) and mine["channel_flags"] & 1 == mine["direction"]
    out_of_us = result(sim, "listchannels", {"source": sim.pubkey})["channels"]
    assert sorted(d["short_channel_id"] for d in out_of_us) == sorted(scid(x.chan_id) for x in sim.channels)
    into_peer = result(sim, "listchannels", {"destination": c.peer})["channels"]
    assert mine in into_peer and all(d["destination"] == c.peer for d in into_peer)
    assert len(into_peer) > 20  # the snapshot's competitors into that peer too
    assert error(sim, "listchannels", {"source": sim.pubkey, "destination": c.peer})["code"] == -32602
    peer_node = result(sim, "listnodes", [c.peer])["nodes"]
    assert peer_node[0]["nodeid"] == c.peer and peer_node[0]["alias"] == sim.graph.aliases.get(c.peer, "")


# ---------------------------------------------------------------- setchannel
def test_setchannel_changes_only_what_is_given(sim):
    c = active(sim)[3]
    before = c.policy
    result(sim, "setchannel", {"id": scid(c.chan_id), "feebase": 1234, "feeppm": 567})
    after = c.policy
    assert (after.base_msat, after.ppm) == (1234, 567)
    assert (after.min_htlc_msat, after.max_htlc_msat, after.cltv) == (before.min_htlc_msat, before.max_htlc_msat, before.cltv)
    assert (after.inbound_base_msat, after.inbound_ppm) == (before.inbound_base_msat, before.inbound_ppm)
    result(sim, "setchannel", {"id": channel_id(c.txid, c.vout), "htlcmin": 5000})
    assert (c.policy.base_msat, c.policy.ppm, c.policy.min_htlc_msat) == (1234, 567, 5000)
    assert c.policy.max_htlc_msat == before.max_htlc_msat and c.policy.cltv == before.cltv
    log = sim.state()["setchannel_requests"]
    assert log[-1]["params"] == {"id": channel_id(c.txid, c.vout), "htlcmin": 5000} and "channels" in log[-1]


def test_setchannel_targets_all_a_peer_or_one_channel(sim):
    everyone = result(sim, "setchannel", {"id": "all", "feeppm": 42})["channels"]
    assert sorted(x["short_channel_id"] for x in everyone) == sorted(scid(c.chan_id) for c in sim.channels)
    assert all(c.policy.ppm == 42 for c in sim.channels)
    c = active(sim)[0]
    by_peer = result(sim, "setchannel", [c.peer, None, 43])["channels"]
    assert [x["channel_id"] for x in by_peer] == [channel_id(c.txid, c.vout)] and c.policy.ppm == 43
    assert sum(x.policy.ppm == 43 for x in sim.channels) == 1
    assert set(by_peer[0]) == {"peer_id", "channel_id", "short_channel_id", "fee_base_msat", "fee_proportional_millionths",
                               "minimum_htlc_out_msat", "maximum_htlc_out_msat", "ignore_fee_limits"}


def test_setchannel_refuses_what_cln_refuses(sim):
    assert error(sim, "setchannel", {"id": "1x2x3"}) == {
        "code": -32602, "message": "id: Short channel id not found: invalid token (see logs for details)"}
    assert error(sim, "setchannel", {"id": "ab" * 32})["message"].startswith("id: Channel id not found")
    pending_peer = sim.pending_open[0]["peer"]
    assert error(sim, "setchannel", {"id": pending_peer}) == {
        "code": -1, "message": "Could not find any active channels of peer with that id"}
    c = active(sim)[0]
    assert error(sim, "setchannel", {"id": scid(c.chan_id), "htlcmin": 9000, "htlcmax": 8000}) == {
        "code": -1, "message": "htlcmax cannot be less than htlcmin"}
    assert "error" in sim.state()["setchannel_requests"][-1]


def test_setchannel_clamps_htlc_limits_with_warnings(sim):
    c = active(sim)[4]
    answer = result(sim, "setchannel", {"id": scid(c.chan_id), "htlcmin": 0, "htlcmax": c.capacity * 1000})["channels"][0]
    assert answer["minimum_htlc_out_msat"] == 1 and "warning_htlcmin_too_low" in answer
    assert answer["maximum_htlc_out_msat"] == htlc_max_possible_msat(c) and "warning_htlcmax_too_high" in answer
    assert (c.policy.min_htlc_msat, c.policy.max_htlc_msat) == (1, htlc_max_possible_msat(c))
    plain = result(sim, "setchannel", {"id": scid(c.chan_id), "htlcmin": 2000})["channels"][0]
    assert not {"warning_htlcmin_too_low", "warning_htlcmax_too_high"} & set(plain)


def test_unchanged_setchannel_is_no_policy_update(sim):
    c = active(sim)[5]
    idx = sim.channels.index(c)
    result(sim, "setchannel", {"id": scid(c.chan_id), "feeppm": c.policy.ppm + 1})
    updates, last = sim.state()["channels"][idx]["policy_updates"], c.policy.last_update
    sim.advance(hours=1)
    result(sim, "setchannel", {"id": scid(c.chan_id), "feeppm": c.policy.ppm, "feebase": c.policy.base_msat})
    assert sim.state()["channels"][idx]["policy_updates"] == updates and c.policy.last_update == last
    result(sim, "setchannel", {"id": scid(c.chan_id), "ignorefeelimits": True})
    assert c.ignore_fee_limits and sim.state()["channels"][idx]["policy_updates"] == updates


# ---------------------------------------------------------------- enforcedelay in the forwarding decision
def _liquid_pair(sim: SimNode) -> tuple[Channel, Channel]:
    balanced(sim)
    out = active(sim)[0]
    inc = next(c for c in active(sim) if c is not out and c.policy.inbound_ppm == 0 and c.policy.inbound_base_msat == 0)
    return inc, out


def test_old_fee_accepted_for_enforcedelay_seconds_then_refused(sim):
    inc, out = _liquid_pair(sim)
    old = (out.policy.base_msat, out.policy.ppm)
    result(sim, "setchannel", {"id": scid(out.chan_id), "feeppm": out.policy.ppm + 500})  # enforcedelay: 600 by default
    t0, amt = sim.now, 50_000_000
    old_fee = old[0] + old[1] * amt // 1_000_000
    forwards, failed = len(sim.forwards), len(sim.failed)
    sim._forward(int((t0 + 599) * 1e9), inc, out, amt, believed=old)
    assert len(sim.forwards) == forwards + 1 and sim.forwards[-1].fee_msat == old_fee  # accepted at the old fee
    sim._forward(int((t0 + 601) * 1e9), inc, out, amt, believed=old)
    assert len(sim.forwards) == forwards + 1 and sim.failed[failed:][-1].reason == "FEE_INSUFFICIENT"
    rows = result(sim, "listforwards", {"index": "created", "start": len(sim.forward_log) - 1})["forwards"]
    assert [r["status"] for r in rows] == ["settled", "local_failed"]
    assert (rows[1]["failcode"], rows[1]["failreason"], rows[1]["in_msat"]) == (4108, "WIRE_FEE_INSUFFICIENT", amt + old_fee)


def test_enforcedelay_applies_to_raises_only_and_can_be_zero(sim):
    inc, out = _liquid_pair(sim)
    result(sim, "setchannel", {"id": scid(out.chan_id), "feeppm": max(0, out.policy.ppm - 1)})
    assert out.old_policy is None  # a cut: senders overpaying are always welcome
    old = (out.policy.base_msat, out.policy.ppm)
    result(sim, "setchannel", {"id": scid(out.chan_id), "feeppm": out.policy.ppm + 300, "enforcedelay": 0})
    sim._forward(int((sim.now + 1) * 1e9), inc, out, 20_000_000, believed=old)
    assert sim.failed[-1].reason == "FEE_INSUFFICIENT"
    # the LND face enforces a raise at once (old_fee_grace_minutes 0), even right after CLN's 600 s one
    from simnode import handle

    result(sim, "setchannel", {"id": scid(out.chan_id), "feeppm": out.policy.ppm + 100})
    old = (out.policy.base_msat, out.policy.ppm)
    handle(sim, "POST", "/v1/chanpolicy", body={"chan_point": {"funding_txid_str": out.txid, "output_index": out.vout},
                                                  "fee_rate_ppm": out.policy.ppm + 100, "time_lock_delta": 40})
    failed = len(sim.failed)
    sim._forward(int((sim.now + 1) * 1e9), inc, out, 20_000_000, believed=old)
    assert len(sim.failed) == failed + 1 and sim.failed[-1].reason == "FEE_INSUFFICIENT"


def test_enforcedelay_keeps_old_htlc_range_too(sim):
    inc, out = _liquid_pair(sim)
    result(sim, "setchannel", {"id": scid(out.chan_id), "htlcmax": 10_000_000})
    rejected = out.rejected_htlc_limits
    sim._forward(int((sim.now + 10) * 1e9), inc, out, 30_000_000, believed=(out.policy.base_msat, out.policy.ppm))
    assert out.rejected_htlc_limits == rejected and sim.forwards[-1].amt_out_msat == 30_000_000
    sim._forward(int((sim.now + 700) * 1e9), inc, out, 30_000_000, believed=(out.policy.base_msat, out.policy.ppm))
    assert out.rejected_htlc_limits == rejected + 1


def test_stale_senders_pass_during_enforcedelay_in_traffic(graph):
    """A raise that senders have not heard of yet: with CLN's 600 s nobody fails FEE_INSUFFICIENT in
    the first ten minutes; with enforcedelay 0 they do; after the delay the stale ones fail."""
    counts = {}
    for delay in (600, 0):
        sim = SimNode(graph, seed=7, params=TrafficParams(history_days=0, base_forwards_per_hour=20))
        balanced(sim)
        c = max(active(sim), key=lambda x: sum(sim._rates(x)))
        result(sim, "setchannel", {"id": scid(c.chan_id), "feeppm": c.policy.ppm * 3 + 100, "enforcedelay": delay})
        sim.advance(seconds=600)
        first = c.failed_fee
        sim.advance(seconds=600)
        counts[delay] = (first, c.failed_fee - first)
    assert counts[600][0] == 0 and counts[600][1] > 0
    assert counts[0][0] > 0


# ---------------------------------------------------------------- listforwards
def test_listforwards_pages_by_created_index_each_forward_once(sim):
    sim.advance(hours=24)
    everything = result(sim, "listforwards")["forwards"]
    assert [r["created_index"] for r in everything] == list(range(1, len(everything) + 1))
    pages, start = [], 1
    while True:
        page = result(sim, "listforwards", {"index": "created", "start": start, "limit": 97})["forwards"]
        if not page:
            break
        assert len(page) <= 97
        pages += page
        start = page[-1]["created_index"] + 1
    assert pages == everything
    sim.advance(hours=2)  # new forwards continue from where the pages stopped
    fresh = result(sim, "listforwards", {"index": "created", "start": start})["forwards"]
    assert fresh and fresh[0]["created_index"] == start and len(result(sim, "listforwards")["forwards"]) == len(pages) + len(fresh)


def test_listforwards_pages_by_updated_index(sim):
    sim.advance(hours=12)
    settled = result(sim, "listforwards", {"status": "settled"})["forwards"]
    assert [r["updated_index"] for r in settled] == list(range(1, len(settled) + 1))
    pages, start = [], 1
    while page := result(sim, "listforwards", {"index": "updated", "start": start, "limit": 50})["forwards"]:
        pages += page
        start = page[-1]["updated_index"] + 1
    assert pages == settled
    from_zero = result(sim, "listforwards", {"index": "updated"})["forwards"]
    assert all("updated_index" not in r for r in from_zero[: len(from_zero) - len(settled)])


def test_failed_forwards_are_local_failed_with_cln_failcodes(sim):
    sim.advance(hours=24)
    rows = result(sim, "listforwards")["forwards"]
    failed = [r for r in rows if r["status"] == "local_failed"]
    ours = [f for f in sim.failed if f.reason != "INCOMING_INSUFFICIENT"]
    assert failed and len(failed) == len(ours)
    assert len(rows) == len(sim.forwards) + len(ours)
    for row in failed:
        assert (row["failcode"], row["failreason"]) in {(4103, "WIRE_TEMPORARY_CHANNEL_FAILURE"), (4108, "WIRE_FEE_INSUFFICIENT")}
        assert not {"out_msat", "fee_msat", "out_htlc_id", "resolved_time", "updated_index"} & set(row)
    assert result(sim, "listforwards", {"status": "local_failed"})["forwards"] == failed
    assert result(sim, "listforwards", {"status": "failed"})["forwards"] == []  # no failures downstream of the peer
    f = ours[0]
    row = next(r for r in failed if r["in_channel"] == scid(f.chan_in) and r["in_htlc_id"] == f.in_htlc)
    assert row["out_channel"] == scid(f.chan_out) and row["in_msat"] >= f.amt_out_msat


def test_listforwards_channel_filters(sim):
    sim.advance(hours=12)
    out = scid(sim.forwards[0].chan_out)
    rows = result(sim, "listforwards", {"out_channel": out})["forwards"]
    assert rows and all(r["out_channel"] == out for r in rows)
    assert error(sim, "listforwards", {"out_channel": out, "index": "created", "start": 2})["message"] == \
        "Cannot use start with in_channel or out_channel"


# ---------------------------------------------------------------- invoices and payments
def test_invoice_lifecycle(sim):
    made = result(sim, "invoice", {"amount_msat": 21_000, "label": "coffee", "description": "a coffee"})
    assert error(sim, "invoice", [1000, "coffee", "again"]) == {"code": 900, "message": "Duplicate label 'coffee'"}
    pre = "11" * 32
    result(sim, "invoice", {"amount_msat": "any", "label": 7, "description": "tip", "preimage": pre})
    assert error(sim, "invoice", {"amount_msat": 5, "label": "x", "description": "y", "preimage": pre})["code"] == 901
    listed = result(sim, "listinvoices", {"payment_hash": made["payment_hash"]})["invoices"]
    assert listed[0]["status"] == "unpaid" and listed[0]["label"] == "coffee" and listed[0]["amount_msat"] == 21_000
    assert result(sim, "listinvoices", ["7"])["invoices"][0]["payment_hash"] == hashlib.sha256(bytes.fromhex(pre)).hexdigest()
    assert handle_cln(sim, "waitanyinvoice", {"lastpay_index": 0}).wait is not None  # nothing paid yet: blocks
    assert error(sim, "waitanyinvoice", {"timeout": 0}) == {
        "code": 904, "message": "Timed out while waiting for invoice to be paid"}
    sim.settle_invoice(bytes.fromhex(made["payment_hash"]))
    paid = result(sim, "waitanyinvoice", {"lastpay_index": 0})
    assert (paid["status"], paid["pay_index"], paid["amount_received_msat"]) == ("paid", 1, 21_000)
    assert hashlib.sha256(bytes.fromhex(paid["payment_preimage"])).hexdigest() == made["payment_hash"]
    assert handle_cln(sim, "waitanyinvoice", [1]).wait.lastpay_index == 1
    sim.advance(hours=8 * 24)  # past the default week: the unpaid one expires
    statuses = {i["label"]: i["status"] for i in result(sim, "listinvoices")["invoices"]}
    assert statuses == {"coffee": "paid", "7": "expired"}


def test_pay_fails_as_cln_does_without_a_route(sim):
    bolt11 = result(sim, "invoice", {"amount_msat": 5000, "label": "p", "description": "d"})["bolt11"]
    err = error(sim, "pay", {"bolt11": bolt11, "maxfee": 1000})
    assert err["code"] == 210 and err["message"] == "Ran out of routes to try after 1 attempt: see `paystatus`"
    assert err["data"]["attempts"][0]["status"] == "failed" and err["data"]["attempts"][0]["amount_msat"] == 5000
    assert error(sim, "pay", ["lnbcnonsense"])["code"] == -32602
    assert result(sim, "listpays", {"bolt11": bolt11}) == {"pays": []}
    assert result(sim, "listsendpays") == {"payments": []}


def test_channel_management_is_refused_in_cln_words(sim):
    peer = active(sim)[0].peer
    assert error(sim, "fundchannel", {"id": "02" + "55" * 32, "amount": 100000}) == {"code": 306, "message": "Unknown peer"}
    assert error(sim, "fundchannel", [peer, 100000])["code"] == -1
    assert error(sim, "close", ["1x1x1"])["message"].startswith("id: Short channel id not found")
    assert error(sim, "close", [scid(active(sim)[0].chan_id)])["code"] == -1
    newcomer = next(p for p in sim.graph.nodes if p not in {c.peer for c in sim.channels})
    joined = result(sim, "connect", [newcomer])
    assert joined["id"] == newcomer and any(p["id"] == newcomer and p["connected"] for p in result(sim, "listpeers")["peers"])
    assert result(sim, "disconnect", [newcomer]) == {}
    assert error(sim, "disconnect", [peer])["message"].startswith("Peer has (at least one) channel")


# ---------------------------------------------------------------- faults
def test_fault_rules_match_cln_method_names(sim):
    sim.faults.add({"method": "CLN", "path": "setchannel", "cln_code": -1, "message": "boom", "times": 1})
    sim.faults.add({"path": "/v1/*", "status": 500})  # an LND rule: never a CLN call
    assert error(sim, "setchannel", {"id": "all", "feeppm": 9}) == {"code": -1, "message": "boom"}
    assert result(sim, "setchannel", {"id": "all", "feeppm": 9})["channels"]
    assert "result" in handle_cln(sim, "getinfo").json()
    sim.faults.add({"path": "list*", "status": 503})
    assert error(sim, "listforwards") == {"code": -1, "message": "simnode fault: service unavailable"}


def test_fault_params_narrow_a_rule_to_the_calls_naming_them(sim):
    a, b = active(sim)[0], active(sim)[1]
    sim.faults.add({"method": "CLN", "path": "listpeerchannels", "params": {"short_channel_id": scid(a.chan_id)},
                    "status": 500})
    assert error(sim, "listpeerchannels", {"short_channel_id": scid(a.chan_id)})["code"] == -1
    assert result(sim, "listpeerchannels", {"short_channel_id": scid(b.chan_id)})["channels"]
    assert result(sim, "listpeerchannels")["channels"]  # the whole list names no channel
    assert result(sim, "listpeerchannels", [a.peer])["channels"]  # positional: never matched by name
    sim.faults.clear()
    sim.faults.add({"method": "CLN", "path": "listpeerchannels", "params": {"short_channel_id": "*"}, "status": 500})
    assert error(sim, "listpeerchannels", {"short_channel_id": scid(b.chan_id)})["code"] == -1
    assert result(sim, "listpeerchannels", {"id": a.peer})["channels"]
    sim.faults.clear()
    sim.faults.add({"method": "CLN", "path": "getinfo", "skip": 2, "status": 500, "times": 1})
    assert [("error" in handle_cln(sim, "getinfo").json()) for _ in range(4)] == [False, False, True, False]
    with pytest.raises(ValueError):
        sim.faults.add({"path": "setchannel", "parameters": {}})  # unknown field, named


def test_fault_setchannel_failures_and_warnings(sim):
    a, b = active(sim)[0], active(sim)[1]
    sim.faults.add({"path": "setchannel", "failed_updates": [scid(a.chan_id)]})
    before = a.policy.ppm
    answer = result(sim, "setchannel", {"id": "all", "feeppm": 321})["channels"]
    assert scid(a.chan_id) not in {x["short_channel_id"] for x in answer} and a.policy.ppm == before and b.policy.ppm == 321
    assert error(sim, "setchannel", {"id": scid(a.chan_id), "feeppm": 5})["message"] == \
        "id: Channel in state CHANNELD_SHUTTING_DOWN: invalid token (see logs for details)"
    sim.faults.clear()
    sim.faults.add({"path": "setchannel", "htlcmin_floor_msat": 50_000, "htlcmax_ceiling_msat": 200_000_000, "times": 1})
    warned = result(sim, "setchannel", {"id": scid(b.chan_id), "htlcmin": 1000, "htlcmax": 300_000_000})["channels"][0]
    assert (warned["minimum_htlc_out_msat"], warned["maximum_htlc_out_msat"]) == (50_000, 200_000_000)
    assert {"warning_htlcmin_too_low", "warning_htlcmax_too_high"} <= set(warned)
