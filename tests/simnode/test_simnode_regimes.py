"""Market regimes (simnode/regimes.py, README "Market regimes"): each does what it names, the same
whoever sets the fees, and `stationary` is the model as it was before regimes existed."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict

import pytest

from simnode import SimNode, TrafficParams, load_graph
from simnode.__main__ import build_parser
from simnode.node import Channel, Policy
from simnode.regimes import REGIMES, MissionControl, daily_rhythm

# sha256 of the forwards, failures and balances of `_pinned_run` (HTLC ids left out: they number the
# HTLCs, they are not the model) computed with simnode as of commit 98d5f1f, whose whole digest was the
# one pinned at 94651bd, before regimes existed: the stationary regime must keep producing exactly
# this. (Issue 16 gave a failed forward its incoming HTLC id, as LND numbers every HTLC it adds.)
PRE_REGIME_DIGEST = "d0b9ccdc3d153b40e25acbc9ba75fdf30f6047f48a1f41f3b64d216a35a7963b"
HTLC_IDS = ("in_htlc", "out_htlc")


@pytest.fixture(scope="module")
def graph():
    return load_graph()


def _set_ppm(sim: SimNode, ch: Channel, ppm: int) -> None:
    p = ch.policy
    sim.set_policy(ch, Policy(p.base_msat, ppm, p.cltv, p.min_htlc_msat, p.max_htlc_msat, p.inbound_base_msat, p.inbound_ppm))


def _digest(sim: SimNode) -> str:
    def model(event) -> dict:
        return {k: v for k, v in asdict(event).items() if k not in HTLC_IDS}

    blob = json.dumps([[model(f) for f in sim.forwards], [model(f) for f in sim.failed],
                       [(c.chan_id, c.local_msat, c.revenue_msat) for c in sim.channels]], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _pinned_run(graph, **params) -> SimNode:
    sim = SimNode(graph, seed=7, params=TrafficParams(history_days=2, **params))
    sim.advance(hours=24)
    ch = sim.channels[0]
    _set_ppm(sim, ch, ch.policy.ppm * 2 + 10)
    sim.advance(hours=24)
    return sim


def _drain(ch: Channel) -> None:
    ch.remote_msat += ch.local_msat - ch.reserve_sat * 1000
    ch.local_msat = ch.reserve_sat * 1000


def _busiest(sim: SimNode) -> Channel:
    return max((c for c in sim.channels if c.active), key=lambda c: sum(sim._rates(c)))


# --- stationary ------------------------------------------------------------------------------------


def test_stationary_is_the_pre_regime_model_bit_for_bit(graph):
    assert TrafficParams().regime == "stationary"
    assert _digest(_pinned_run(graph)) == PRE_REGIME_DIGEST


def test_stationary_ignores_every_regime_knob(graph):
    sim = _pinned_run(graph, regime="stationary", rhythm_amplitude=0.9, mc_sender_classes=1, comp_balance_share=1.0,
                      shift_peers=15, regime_days=2)
    assert _digest(sim) == PRE_REGIME_DIGEST
    assert sim.mc is None and sim.comp is None and sim.shifts == []
    assert sim.state()["regime"] == {"name": "stationary"}


def test_unknown_regime_is_refused(graph):
    with pytest.raises(ValueError, match="unknown regime 'bull_market'"):
        SimNode(graph, seed=1, params=TrafficParams(history_days=0, regime="bull_market"))


def test_cli_selects_a_regime():
    assert build_parser().parse_args([]).regime == "stationary"
    for name in REGIMES:
        assert build_parser().parse_args(["--regime", name]).regime == name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--regime", "nope"])


def test_every_regime_is_deterministic_from_the_seed(graph):
    for regime in REGIMES[1:]:
        states = []
        for _ in range(2):
            sim = SimNode(graph, seed=4, params=TrafficParams(history_days=1, regime=regime, regime_days=2))
            sim.advance(hours=30)
            states.append(json.dumps(sim.state(include_forwards=True), sort_keys=True))
        assert states[0] == states[1], regime


# --- mission_control --------------------------------------------------------------------------------


def test_penalty_covers_the_failed_amount_and_up_and_halves_every_hour():
    p = TrafficParams(regime="mission_control")
    from simnode.traffic import AmountBuckets

    buckets = AmountBuckets.build(p)
    mc = MissionControl(p, buckets)
    amt = int(buckets.reps_msat[6])
    mc.failure(chan_id=1, cls=2, t=1000.0, amt_msat=amt, fee_failure=False)
    fresh, _ = mc.bucket_factors(1, 1000.0)
    k = p.mc_sender_classes
    assert fresh[:6] == [1.0] * 6  # smaller payments are still tried (LND: amt < FailAmt is "untried")
    assert fresh[6:] == pytest.approx([1 - 1 / k] * 6)  # the failing class offers nothing more, the others all
    hour, _ = mc.bucket_factors(1, 1000.0 + 3600)
    assert hour[6] == pytest.approx(1 - 0.5 / k)  # one half-life later: half the penalty
    two, _ = mc.bucket_factors(1, 1000.0 + 7200)
    assert two[6] == pytest.approx(1 - 0.25 / k)
    assert mc.bucket_factors(1, 1000.0 + 21 * 3600) is None  # recovered: the entry is gone
    mc.failure(chan_id=1, cls=0, t=0.0, amt_msat=amt, fee_failure=True)
    half, _ = mc.bucket_factors(1, 0.0)
    assert half[6] == pytest.approx(1 - p.mc_fee_failure_penalty / k)  # LND's half penalty for a policy failure
    mc.success(chan_id=1, cls=0, amt_msat=amt)  # it carried the failed amount after all: FailAmt moves above it
    lifted, _ = mc.bucket_factors(1, 0.0)
    assert lifted[6] == 1.0


def test_failure_on_a_channel_lowers_its_offered_demand_for_the_next_hour_then_it_recovers(graph):
    sim = SimNode(graph, seed=3, params=TrafficParams(history_days=0, regime="mission_control",
                                                      base_forwards_per_hour=6))
    ch = _busiest(sim)
    _drain(ch)
    while ch.failed_out == 0:
        sim.advance(hours=1)
    failure = next(f for f in reversed(sim.failed) if f.chan_out == ch.chan_id and f.reason == "INSUFFICIENT_BALANCE")
    full = sum(sim._rates(ch))
    offered = lambda t: sum(sim._offered_rates(sim._rates(ch), sim.mc.bucket_factors(ch.chan_id, t)))  # noqa: E731
    t_fail = failure.ts_ns / 1e9
    ch.local_msat, ch.remote_msat = ch.local_msat + ch.remote_msat - ch.reserve_sat * 1000, ch.reserve_sat * 1000
    assert offered(t_fail + 600) < full  # the failing sender steers away from this channel
    assert offered(t_fail + 600) < offered(t_fail + 3600) < offered(t_fail + 4 * 3600)  # and comes back
    # refilled, the channel stops failing and the penalties of its senders wear off
    sim.advance(hours=24)
    assert sim.mc.bucket_factors(ch.chan_id, sim.now + 21 * 3600) is None
    assert offered(sim.now + 21 * 3600) == pytest.approx(full)
    assert sim.state()["regime"]["mission_control"]["failures_recorded"] > 0


def test_senders_with_memory_try_a_drained_channel_less(graph):
    failed = {}
    for regime in ("stationary", "mission_control"):
        sim = SimNode(graph, seed=3, params=TrafficParams(history_days=1, regime=regime, base_forwards_per_hour=6))
        ch = _busiest(sim)
        _drain(ch)
        before = ch.failed_out
        sim.advance(hours=48)
        failed[regime] = ch.failed_out - before
    assert failed["mission_control"] < 0.8 * failed["stationary"], failed


# --- competitors_move -------------------------------------------------------------------------------


def _moving(graph, fees: int | None) -> SimNode:
    sim = SimNode(graph, seed=5, params=TrafficParams(history_days=1, regime="competitors_move", regime_days=4))
    for day in range(4):
        if fees is not None:  # a fee setter that changes every fee daily
            for ch in sim.channels:
                _set_ppm(sim, ch, fees + 40 * day)
        sim.advance(hours=24)
    return sim


def test_competitor_fees_move_over_the_run_the_same_for_any_fee_setter(graph):
    still, busy = _moving(graph, None), _moving(graph, 300)
    log = still.comp.log
    assert len(log) > 100 and {e["kind"] for e in log} == {"balance", "walk", "step"}
    assert all(e["time"] >= still.start_ts for e in log)  # the snapshot market until the start
    assert log == busy.comp.log  # our fees play no part in when and how competitors re-price
    assert still.comp.markets == busy.comp.markets
    steps = still.state()["regime"]["competitors"]["steps"]
    assert len(steps) == len({c.peer for c in still.channels})  # one step per peer, inside regime_days
    assert all(still.start_ts <= e["time"] <= still.start_ts + 4 * 86400 for e in steps)
    # the market our channels face is no longer the snapshot's, and demand follows it
    changed = [c for c in still.channels if still._mkt(c.peer).comp_sum != still.comp.static[c.peer].comp_sum]
    assert changed
    ch = changed[0]
    from simnode.node import _market
    from simnode.traffic import bucket_rates

    snapshot = bucket_rates(_market(graph, ch.peer, still.params, still.buckets, still.pubkey), ch.demand, ch.capacity,
                            ch.policy.base_msat, ch.policy.ppm, still.params, still.buckets)
    assert still._rates(ch) != snapshot


def test_competitor_sums_stay_those_of_the_current_fees(graph):
    """The incremental market update equals the sums rebuilt from the competitors' current fees (at the
    snapshot's τ: senders' price sensitivity is the market's, it does not follow the moves)."""
    import math

    from simnode.traffic import eff_ppm, weight

    sim = _moving(graph, None)
    peer = max(sim.comp.movers, key=lambda p: len(sim.comp.movers[p]))
    market = sim.comp.markets[peer]
    assert market.tau == sim.comp.static[peer].tau
    fees = {i: m.ppm for i, m in sim.comp.movers[peer].items()}
    assert any(m.ppm != m.ppm0 for m in sim.comp.movers[peer].values())
    comps = [c for c in graph.inbound[peer] if c.source != sim.pubkey]
    rebuilt = [sum(weight(c.capacity, sim.params.capacity_alpha)
                   * math.exp(-min(eff_ppm(c.base_msat, fees.get(i, c.ppm), rep), 50 * market.tau) / market.tau)
                   for i, c in enumerate(comps)) for rep in sim.buckets.reps_msat]
    assert market.comp_sum == pytest.approx(rebuilt, rel=1e-9)


# --- demand_shifts ----------------------------------------------------------------------------------


def test_daily_rhythm_averages_one_and_peaks_at_the_peak_hour():
    p = TrafficParams(regime="demand_shifts")
    hours = [daily_rhythm(h * 3600, p) for h in range(24)]
    assert sum(hours) / 24 == pytest.approx(1.0)
    assert max(range(24), key=lambda h: hours[h]) == int(p.rhythm_peak_hour_utc)
    assert max(hours) == pytest.approx(1 + p.rhythm_amplitude) and min(hours) == pytest.approx(1 - p.rhythm_amplitude)


def _attempts_by_hour(sim: SimNode) -> Counter:
    hours = Counter((f.ts_ns // 10**9 % 86400) // 3600 for f in sim.forwards)
    hours.update((f.ts_ns // 10**9 % 86400) // 3600 for f in sim.failed if f.reason != "INCOMING_INSUFFICIENT")
    return hours


def test_hourly_demand_differs_by_hour_of_day(graph):
    counts = {}
    for regime in ("stationary", "demand_shifts"):
        sim = SimNode(graph, seed=2, params=TrafficParams(history_days=6, regime=regime, base_forwards_per_hour=2))
        by_hour = _attempts_by_hour(sim)
        peak = sum(by_hour[h] for h in (16, 17, 18, 19, 20))
        trough = sum(by_hour[h] for h in (4, 5, 6, 7, 8))
        counts[regime] = peak / trough
    assert counts["demand_shifts"] > 1.5, counts  # 1.3 / 0.7 expected around the peak and the trough
    assert 0.85 < counts["stationary"] < 1.15, counts


def test_mid_run_change_of_peers_demand_the_same_for_any_fee_setter(graph):
    runs = []
    for fees in (None, 900):
        sim = SimNode(graph, seed=8, params=TrafficParams(history_days=0, regime="demand_shifts", regime_days=2))
        before = {c.chan_id: (c.bias, c.demand, c.source_size) for c in sim.channels}
        if fees is not None:
            for ch in sim.channels:
                _set_ppm(sim, ch, fees)
        sim.advance(hours=23)
        assert sim.shift_log == [] and {c.chan_id: (c.bias, c.demand, c.source_size) for c in sim.channels} == before
        sim.advance(hours=2)  # day 1 of 2: mid-run
        runs.append(sim.state()["regime"]["shifts_applied"])
        changed = {int(e["chan_id"]) for e in sim.shift_log}
        assert len(changed) == sim.params.shift_peers
        for c in sim.channels:
            if c.chan_id not in changed:
                assert (c.bias, c.demand, c.source_size) == before[c.chan_id]
        for e in sim.shift_log:
            b, a = e["before"], e["after"]
            if e["kind"] == "flip":
                assert a["bias"] == pytest.approx(-b["bias"]) and a["demand"] == pytest.approx(b["source_size"])
            else:
                assert a["demand"] == pytest.approx(b["demand"] * e["factor"]) and a["bias"] == b["bias"]
    assert runs[0] == runs[1]
