"""The simulated node and its traffic: determinism, price response, liquidity failures."""

from __future__ import annotations

import json

import pytest

from simnode import SimNode, TrafficParams, handle, load_graph
from simnode.node import Policy
from simnode.testing import start_simnode


@pytest.fixture(scope="module")
def graph():
    return load_graph()


def _set_ppm(sim: SimNode, idx: int, ppm: int) -> None:
    c = sim.channels[idx]
    p = c.policy
    sim.set_policy(c, Policy(p.base_msat, ppm, p.cltv, p.min_htlc_msat, p.max_htlc_msat, p.inbound_base_msat, p.inbound_ppm))


def _balanced(sim: SimNode) -> None:
    for c in sim.channels:
        c.local_msat = c.remote_msat = (c.local_msat + c.remote_msat) // 2


def test_same_seed_same_node_and_state(graph):
    a, b = SimNode(graph, seed=5), SimNode(graph, seed=5)
    assert a.pubkey == b.pubkey
    for sim in (a, b):
        sim.advance(hours=30)
        handle(sim, "POST", "/v1/chanpolicy", body={"global": True, "base_fee_msat": 0, "fee_rate_ppm": 120, "time_lock_delta": 40})
        sim.advance(hours=18)
    assert json.dumps(a.state(include_forwards=True), sort_keys=True) == json.dumps(b.state(include_forwards=True), sort_keys=True)
    # whole-step processing: one 48 h advance equals 48 one-hour advances
    c, d = SimNode(graph, seed=9), SimNode(graph, seed=9)
    c.advance(hours=48)
    for _ in range(48):
        d.advance(hours=1)
    assert c.state(include_forwards=True) == d.state(include_forwards=True)
    assert SimNode(graph, seed=6).pubkey != a.pubkey


def test_node_shape(graph):
    sim = SimNode(graph, seed=7)
    st = sim.state()
    chans = st["channels"]
    assert len(chans) == 16 and sum(not c["active"] for c in chans) == 1
    assert all(1_000_000 <= c["capacity_sat"] <= 10_000_000 for c in chans)
    assert len({c["peer"] for c in chans}) == 16
    ages = sorted((sim.start_ts - c["open_ts"]) / 86400 for c in chans)
    assert ages[0] <= 2 and ages[-1] > 60  # one or two fresh channels, others old
    assert sum(c["policy"]["inbound_ppm"] < 0 for c in chans) >= 1
    ratios = [c["policy"]["ppm"] / max(1, c["market"]["median_ppm"]) for c in chans]
    assert max(ratios) > 3 and min(ratios) < 0.3  # something to fix for a fee manager
    assert sim.pending_open and sim.closed and sim.waiting_close and sim.force_closing
    assert st["totals"]["forwards"] > 0  # history before the start


def test_price_response_over_seven_days(graph):
    """A channel priced far above its competitors forwards less than at a competitive fee (same seed)."""
    base = SimNode(graph, seed=7)
    idx = max(range(16), key=lambda i: base.market_info(base.channels[i])["expected_forwards_per_day"])
    med = int(base.market_info(base.channels[idx])["median_ppm"]) or 1
    results = {}
    for label, ppm in [("competitive", med), ("expensive", med * 10 + 500)]:
        sim = SimNode(graph, seed=7)
        _balanced(sim)
        _set_ppm(sim, idx, ppm)
        f0 = sim.channels[idx].fwd_out
        sim.advance(hours=7 * 24)
        results[label] = sim.channels[idx].fwd_out - f0
    assert results["competitive"] >= 10
    assert results["expensive"] < results["competitive"] / 3, results


def test_revenue_has_interior_optimum(graph):
    """Neither the cheapest nor the dearest price maximises revenue."""
    base = SimNode(graph, seed=7)
    idx = max(range(16), key=lambda i: base.market_info(base.channels[i])["median_ppm"] if base.channels[i].active else 0)
    med = base.market_info(base.channels[idx])["median_ppm"]
    revenue = []
    for mult in (0.05, 1.0, 8.0):
        sim = SimNode(graph, seed=7)
        _balanced(sim)
        _set_ppm(sim, idx, int(med * mult))
        r0 = sim.channels[idx].revenue_msat
        sim.advance(hours=7 * 24)
        revenue.append(sim.channels[idx].revenue_msat - r0)
    assert revenue[1] > revenue[0] and revenue[1] > revenue[2], revenue


def test_depleted_channel_records_failed_forwards(graph):
    sim = SimNode(graph, seed=7)
    c = max((c for c in sim.channels if c.active), key=lambda c: sum(sim._rates(c)))
    c.remote_msat += c.local_msat - c.reserve_sat * 1000
    c.local_msat = c.reserve_sat * 1000  # nothing spendable
    f0, x0 = c.fwd_out, c.failed_out
    sim.advance(hours=48)
    # inbound forwards refill it a little, so some outgoing ones still succeed
    assert c.failed_out - x0 > c.fwd_out - f0 >= 0
    st = sim.state()
    failed = [f for f in st["failed_forwards"] if f["chan_out"] == c.chan_id and f["reason"] == "INSUFFICIENT_BALANCE"]
    assert failed and st["totals"]["failed_since_start"] > 0


def test_balances_conserve_and_fees_accrue(graph):
    sim = SimNode(graph, seed=3)
    total = {c.chan_id: c.local_msat + c.remote_msat for c in sim.channels}
    r0 = sim.state()["totals"]["revenue_msat"]
    sim.advance(hours=72)
    for c in sim.channels:
        assert c.local_msat + c.remote_msat == total[c.chan_id]
        assert c.local_msat >= 0 and c.remote_msat >= 0
    st = sim.state()
    assert st["totals"]["revenue_msat"] > r0
    fwd = sim.forwards[-1]
    assert fwd.amt_in_msat - fwd.amt_out_msat == fwd.fee_msat


def test_peer_bias_moves_liquidity(graph):
    """Same channel, same seed: as a net sink it ends with less local balance than as a source."""
    local = {}
    for bias in (0.6, -0.6):
        sim = SimNode(graph, seed=7)
        _balanced(sim)
        c = max((c for c in sim.channels if c.active), key=lambda c: sum(sim._rates(c)))
        size = c.demand / (1 + c.bias)
        c.bias, c.demand, c.source_size, c.rates = bias, size * (1 + bias), size * (1 - bias), None
        sim._src_cache = None
        sim.advance(hours=5 * 24)
        local[bias] = c.local_msat
    assert local[0.6] < local[-0.6]


def test_http_determinism_same_seed_same_state():
    states = []
    for _ in range(2):
        with start_simnode(seed=21, speed=0, start="snapshot") as n:
            n.advance(hours=12)
            n.post("/v1/chanpolicy", {"global": True, "fee_rate_ppm": 42, "time_lock_delta": 40})
            n.advance(hours=12)
            states.append(n.state(forwards=True))
    assert states[0] == states[1]
    assert states[0]["totals"]["forwards"] > 0


# --- how senders learn our policy (gossip realism) ---------------------------------------------


def test_cln_token_bucket_relays_burst_of_four_then_two_a_day(graph):
    sim = SimNode(graph, seed=7)
    c = next(c for c in sim.channels if c.active)
    for i in range(6):  # six updates within the hour: burst of 4 relayed, 2 stored but not relayed
        _set_ppm(sim, sim.channels.index(c), c.policy.ppm + 10)
    g = sim.state()["channels"][sim.channels.index(c)]["gossip"]
    assert (g["relayed"], g["suppressed"]) == (4, 2)
    assert [e["relayed"] for e in sim.policy_log[-6:]] == [True] * 4 + [False] * 2
    sim.advance(hours=12)  # +12 tokens: one more update is relayed, the next is not
    _set_ppm(sim, sim.channels.index(c), c.policy.ppm + 10)
    _set_ppm(sim, sim.channels.index(c), c.policy.ppm + 10)
    assert [e["relayed"] for e in sim.policy_log[-2:]] == [True, False]


def test_senders_learn_updates_after_their_lag(graph):
    sim = SimNode(graph, seed=7)
    idx = next(i for i, c in enumerate(sim.channels) if c.active)
    c = sim.channels[idx]
    old = (c.policy.base_msat, c.policy.ppm)
    _set_ppm(sim, idx, c.policy.ppm * 2 + 50)
    new = (c.policy.base_msat, c.policy.ppm)
    assert sim._believed(c, sim.now) == [(old, 1.0)]  # nobody knows yet
    mid = dict(sim._believed(c, sim.now + 3600))  # the 10 min and 60 min classes know it
    assert abs(mid[new] - 0.8) < 1e-9 and abs(mid[old] - 0.2) < 1e-9
    assert sim._believed(c, sim.now + 5 * 3600) is None  # everyone (relayed update)


def test_fee_raise_fails_stale_senders_fee_insufficient_counted_apart(graph):
    """A raise makes senders with the old policy fail FEE_INSUFFICIENT (not a liquidity failure);
    some retry through us at the new fee. Without gossip realism nobody is stale."""
    out = {}
    for realism in (True, False):
        sim = SimNode(graph, seed=7, params=TrafficParams(gossip_realism=realism))
        _balanced(sim)
        idx = max(range(16), key=lambda i: sum(sim._rates(sim.channels[i])) if sim.channels[i].active else 0)
        for _ in range(8):  # eight raises in a row, one per 3 h: half of them beyond the CLN budget
            _set_ppm(sim, idx, int(sim.channels[idx].policy.ppm * 1.15) + 5)
            sim.advance(hours=3)
        c, st = sim.channels[idx], sim.state()
        out[realism] = (c.failed_fee, c.fee_retries_won, st["totals"]["failed_fee_since_start"],
                        st["totals"]["failed_liquidity_since_start"])
        fee_failures = [f for f in st["failed_forwards"] if f["reason"] == "FEE_INSUFFICIENT"]
        assert len(fee_failures) == st["totals"]["failed_fee_since_start"]
    assert out[True][0] > 0 and 0 < out[True][1] <= out[True][0] and out[True][2] == out[True][0]
    assert out[False][0] == 0 and out[False][2] == 0
