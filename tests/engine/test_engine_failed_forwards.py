"""Failed forwards (LND's HTLC event stream) -> the snapshot's failed_out_*, and the fee
controller's optional use of them as missed demand (issue 16 item 1, engine side)."""

from __future__ import annotations

import dataclasses
import math

from hypothesis import given, strategies as st

from engine.evaluate import evaluate
from engine.ingest_htlc import LinkFailure, failed_out_by_channel, with_failed_out
from engine.settings import EngineSettings
from engine.snapshot import CLOSED, FailedOut

S = EngineSettings()
NOW = 1_700_000_000
DAY = 86_400


def failure(at: int, chan: str, amount_msat: int, detail: str) -> LinkFailure:
    return LinkFailure(key=f"{chan}:{at}", ts_ns=at * 10**9 + 123, chan_id_out=chan, chan_id_in="456",
                       amount_msat=amount_msat, wire_failure="TEMPORARY_CHANNEL_FAILURE", failure_detail=detail)


def test_counts_only_lack_of_balance_in_the_last_24_hours():
    failures = [
        failure(NOW - DAY, "a", 1_500, "INSUFFICIENT_BALANCE"),  # exactly 24 h ago: inside
        failure(NOW - DAY - 1, "a", 9_000_000, "INSUFFICIENT_BALANCE"),  # older: outside
        failure(NOW, "a", 2_000, "INSUFFICIENT_BALANCE"),
        failure(NOW + 1, "a", 9_000_000, "INSUFFICIENT_BALANCE"),  # after `now`: not yet
        failure(NOW - 10, "a", 9_000_000, "FEE_INSUFFICIENT"),  # not a balance failure
        failure(NOW - 10, "b", 700, "INSUFFICIENT_BALANCE"),
    ]
    # msat summed, then floored to sat: 1,500 + 2,000 msat = 3 sat; 700 msat = 0 sat but one failure
    assert failed_out_by_channel(failures, NOW) == {"a": FailedOut(2, 3), "b": FailedOut(1, 0)}


def test_open_channels_without_failures_get_known_zeros(mk):
    a, b = mk.channel(chan_id="a"), mk.channel(chan_id="b")
    closed = mk.channel(chan_id="z", state=CLOSED)
    out = with_failed_out([a, b, closed], {"a": FailedOut(3, 900)})
    assert [(c.failed_out_1d, c.failed_out_amount_1d_sat) for c in out] == [(3, 900), (0, 0), (None, None)]
    assert [dataclasses.replace(c, failed_out_1d=None, failed_out_amount_1d_sat=None) for c in out] == [a, b, closed]


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(NOW - 2 * DAY, NOW + 100), st.integers(0, 10**9),
                          st.sampled_from(["INSUFFICIENT_BALANCE", "FEE_INSUFFICIENT", ""])), max_size=30))
def test_the_counts_are_what_the_rule_says(rows):
    """Oracle from the rule: per channel, the INSUFFICIENT_BALANCE failures with now-24h <= at <= now."""
    failures = [failure(at, chan, amt, detail) for chan, at, amt, detail in rows]
    got = failed_out_by_channel(failures, NOW)
    for chan in "abc":
        inside = [amt for c, at, amt, d in rows if c == chan and d == "INSUFFICIENT_BALANCE" and NOW - DAY <= at <= NOW]
        if inside:
            assert got[chan] == FailedOut(len(inside), sum(inside) // 1000)
        else:
            assert chan not in got


# --- the fee controller: missed demand (decisions.flow_failed_weight) ---------------------------


def weight(w):
    return dataclasses.replace(S, decisions=dataclasses.replace(S.decisions, flow_failed_weight=w))


def test_missed_demand_counts_fully_by_default():
    assert S.decisions.flow_failed_weight == 1.0


def test_missed_demand_counts_as_outflow_the_channel_could_not_serve(mk):
    """20 % local (outside the censoring), out 100 k / in 100 k in a day on 1 M, 300 k failed for
    lack of balance; no graph (no market term). Rule: log step = ln((out + w·missed + k)/(in + k))
    + (0.5 − 0.2), k = 2 % of capacity = 20 k."""
    ch = mk.channel(chan_id="4", local=200_000, ppm=200, base=0, flow=mk.flows(out1=100_000, in1=100_000),
                    failed_out_1d=12, failed_out_amount_1d_sat=300_000)
    for w in (0.0, 0.5, 1.0):
        a = evaluate(mk.snapshot(ch), weight(w), [], None, mk.NOW).channel("4")
        step = math.log((100_000 + w * 300_000 + 20_000) / (100_000 + 20_000)) + 0.3
        step = min(step, math.log(2))
        assert a.proposal.requested_ppm == round(200 * math.exp(step)), w
        if w:
            assert f"with {int(w * 300):d} k sat that failed for lack of balance" in a.reason
        else:
            assert "failed for lack of balance)" not in a.reason


def test_missed_demand_lifts_the_censoring_of_a_drained_channel(mk):
    """Drained (5 %) with more coming in than going out: without the failures the low outflow is no
    signal (censored, balance term alone); with them the demand it could not serve raises it."""
    ch = mk.channel(chan_id="4", local=50_000, ppm=200, base=0, flow=mk.flows(out1=10_000, in1=60_000),
                    failed_out_1d=40, failed_out_amount_1d_sat=0)
    none = evaluate(mk.snapshot(ch), weight(1.0), [], None, mk.NOW).channel("4")
    assert "drained: its low outflow is not a signal" in none.reason
    assert none.proposal.requested_ppm == round(200 * math.exp(0.45))
    missed = dataclasses.replace(ch, failed_out_amount_1d_sat=400_000)
    a = evaluate(mk.snapshot(missed), weight(1.0), [], None, mk.NOW).channel("4")
    assert "not a signal" not in a.reason
    assert a.proposal.requested_ppm == 400  # ln(430 k / 80 k) + 0.45 > ln 2: x2 at most


def test_unknown_failures_add_nothing(mk):
    ch = mk.channel(chan_id="4", local=200_000, ppm=200, base=0, flow=mk.flows(out1=100_000, in1=100_000))
    assert ch.failed_out_amount_1d_sat is None
    on = evaluate(mk.snapshot(ch), weight(1.0), [], None, mk.NOW).channel("4")
    off = evaluate(mk.snapshot(ch), weight(0.0), [], None, mk.NOW).channel("4")
    assert on.proposal == off.proposal and on.reason == off.reason
