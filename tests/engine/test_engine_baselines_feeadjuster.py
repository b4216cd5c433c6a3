"""The feeadjuster baseline follows the plugin's rule as its README and prior-art §2.4 state it.

Expected values are worked out by hand from the rule (median strategy, default adjustment method
50^(0.5 − p), threshold 5 % or 0.001 BTC, fee-base 1000 msat, fee-per-satoshi 10), not by running
the code.
"""

from __future__ import annotations

import math

from engine.baselines import feeadjuster
from engine.snapshot import ACTIVE, CLOSED, INACTIVE, PENDING, Channel, GraphEdge, NetworkGraph, Policy

PEER = "02" + "11" * 32
OTHER = "02" + "22" * 32
US = "03" + "ff" * 32


def chan(chan_id="1", local=250_000, capacity=1_000_000, ppm=100, base=0, state=ACTIVE, peer=PEER) -> Channel:
    return Channel(chan_id=chan_id, short_id="1x1x1", channel_point=f"{'ab' * 32}:0", peer_id=peer, peer_alias="",
                   state=state, capacity_sat=capacity, local_sat=local, remote_sat=capacity - local,
                   local_policy=Policy(base, ppm, 40, 1000, capacity * 990))


MEDIAN_200 = {PEER: [(1000, 100), (0, 200), (0, 300)]}


def test_the_default_ratio_is_50_to_the_half_less_our_share():
    assert math.isclose(feeadjuster.ratio(0.0), math.sqrt(50))  # 7.07x when we hold nothing
    assert feeadjuster.ratio(0.5) == 1.0
    assert math.isclose(feeadjuster.ratio(1.0), 1 / math.sqrt(50))  # 0.14x when we hold everything
    assert math.isclose(feeadjuster.ratio(0.25), 50 ** 0.25)


def test_the_median_strategy_takes_the_plain_median_of_the_peers_other_fees_between_0_and_5000():
    # 0 and 5000 ppm are left out; the base fee plays no part in the ppm
    assert feeadjuster.base_ppm([(1000, 100), (0, 200), (1000, 0), (0, 5000), (0, 300)]) == 200
    assert feeadjuster.base_ppm([(0, 100), (0, 200), (0, 300), (0, 400)]) == 250  # an even count: the mean of the two
    assert feeadjuster.base_ppm([]) == 10  # no other channel into the peer: fee-per-satoshi
    assert feeadjuster.base_ppm([(0, 0), (0, 9000)]) == 10  # none in range: fee-per-satoshi


def test_the_first_call_sets_every_open_channel_to_the_median_times_the_ratio_with_the_nodes_base_fee():
    # p = 0.25: 200 x 50^0.25 = 200 x 2.659 = 531.8 -> 531 (truncated); base = fee-base 1000 msat
    settings = feeadjuster.propose([chan()], MEDIAN_200, {}, touched=None)
    assert [(s.chan_id, s.base_msat, s.ppm) for s in settings] == [("1", 1000, 531)]
    # p = 0.9: 200 x 50^-0.4 = 200 x 0.2091 = 41.8 -> 41
    settings = feeadjuster.propose([chan(local=900_000)], MEDIAN_200, {}, touched=None)
    assert [(s.base_msat, s.ppm) for s in settings] == [(1000, 41)]


def test_the_median_is_truncated_before_the_ratio():
    # median of 100 and 103 = 101.5 -> 101; at p = 0.5 the ratio is 1: 101, not 101.5 -> 101 by chance
    fees = {PEER: [(0, 100), (0, 103)]}
    assert [s.ppm for s in feeadjuster.propose([chan(local=500_000)], fees, {}, None)] == [101]
    # p = 0: 101 x 7.071 = 714.2 -> 714 (101.5 x 7.071 would be 717)
    assert [s.ppm for s in feeadjuster.propose([chan(local=0)], fees, {}, None)] == [714]


def test_a_peer_without_other_channels_is_priced_from_fee_per_satoshi():
    # 10 x 50^0.25 = 26.6 -> 26
    assert [(s.base_msat, s.ppm) for s in feeadjuster.propose([chan()], {}, {}, None)] == [(1000, 26)]


def test_fees_already_at_the_target_are_not_set_again():
    assert feeadjuster.propose([chan(ppm=531, base=1000)], MEDIAN_200, {}, None) == []


def test_the_balance_must_move_5_percent_of_the_channel_or_0_001_btc_since_the_last_change():
    # last change at 250,000 sat of 1 M: 290,000 moved 4 % and 40,000 sat -> nothing, whatever the fees
    assert feeadjuster.propose([chan(local=290_000)], MEDIAN_200, {"1": 250_000}, None) == []
    # 310,000: 6 % -> recomputed (p = 0.31: 200 x 50^0.19 = 200 x 2.104 = 420.8 -> 420)
    assert [s.ppm for s in feeadjuster.propose([chan(local=310_000)], MEDIAN_200, {"1": 250_000}, None)] == [420]
    # a 10 M sat channel: 150,000 sat is 1.5 %, but more than 0.001 BTC -> recomputed
    big = chan(local=2_650_000, capacity=10_000_000)
    assert len(feeadjuster.propose([big], MEDIAN_200, {"1": 2_500_000}, None)) == 1
    # 90,000 sat on it: 0.9 % and under 0.001 BTC -> nothing
    big = chan(local=2_590_000, capacity=10_000_000)
    assert feeadjuster.propose([big], MEDIAN_200, {"1": 2_500_000}, None) == []


def test_after_the_start_only_the_channels_with_a_settled_forward_are_looked_at():
    channels = [chan("1"), chan("2", peer=OTHER)]
    assert [s.chan_id for s in feeadjuster.propose(channels, MEDIAN_200, {}, touched={"2"})] == ["2"]
    assert feeadjuster.propose(channels, MEDIAN_200, {}, touched=set()) == []


def test_open_channels_count_whether_the_peer_is_connected_or_not_and_others_never():
    channels = [chan("1", state=INACTIVE), chan("2", state=PENDING), chan("3", state=CLOSED)]
    assert [s.chan_id for s in feeadjuster.propose(channels, MEDIAN_200, {}, None)] == ["1"]


def test_competitor_fees_lists_every_other_direction_into_each_peer():
    off = Policy(5, 50, 40, 1, 1, disabled=True)
    graph = NetworkGraph(edges=(  # node1 < node2; policy1 is node1 -> node2
        GraphEdge("a", PEER, OTHER, 1, policy1=Policy(2, 999, 40, 1, 1), policy2=Policy(1, 100, 40, 1, 1)),
        GraphEdge("b", PEER, US, 1, policy1=Policy(3, 300, 40, 1, 1), policy2=Policy(4, 400, 40, 1, 1)),
        GraphEdge("c", PEER, "02" + "33" * 32, 1, policy1=None, policy2=off),
    ))
    fees = feeadjuster.competitor_fees(graph, US, [PEER])
    # OTHER -> PEER and the disabled 33.. -> PEER; PEER's own directions and ours are not competitors
    assert sorted(fees[PEER]) == [(1, 100), (5, 50)]
