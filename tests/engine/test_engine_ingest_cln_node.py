"""Core Lightning's answers about our node -> the engine's types and the rows we keep (pure)."""

from __future__ import annotations

import pytest

from engine.ingest_cln import (
    FAILED_DOWNSTREAM,
    ForwardRow,
    FailureRow,
    channels_from_listpeerchannels,
    chan_id_from_scid,
    failure_detail,
    forward_page,
    graph_from_cln,
    scid_from_chan_id,
    time_ns,
)
from engine.ingest_htlc import LIQUIDITY_FAILURE_DETAILS
from engine.snapshot import ACTIVE, INACTIVE, PENDING

US, PEER = "02" + "11" * 32, "03" + "22" * 32


def test_scid_and_chan_id_are_lnds_integer_both_ways():
    assert chan_id_from_scid("840000x1234x1") == str(840000 << 40 | 1234 << 16 | 1)
    assert chan_id_from_scid("840000:1234:1") == chan_id_from_scid("840000x1234x1")
    assert scid_from_chan_id(chan_id_from_scid("905123x2987x65535")) == "905123x2987x65535"
    for bad in ("840000x1", "ax1x1", "16777216x0x0", "1x1x65536", ""):
        with pytest.raises(ValueError):
            chan_id_from_scid(bad)


def peer_channel(**over):
    entry = {
        "peer_id": PEER, "peer_connected": True, "state": "CHANNELD_NORMAL", "short_channel_id": "850000x10x1",
        "funding_txid": "ab" * 32, "funding_outnum": 1, "private": False, "opener": "local",
        "to_us_msat": 600_000_500, "total_msat": 1_000_000_000,
        "updates": {"local": {"htlc_minimum_msat": 1000, "htlc_maximum_msat": 990_000_000, "cltv_expiry_delta": 40,
                              "fee_base_msat": 500, "fee_proportional_millionths": 120},
                    "remote": {"htlc_minimum_msat": 1, "htlc_maximum_msat": 980_000_000, "cltv_expiry_delta": 80,
                               "fee_base_msat": 1000, "fee_proportional_millionths": 7}},
        # the top-level fee fields are not what is read when `updates` is there
        "fee_base_msat": 999, "fee_proportional_millionths": 999,
    }
    entry.update(over)
    return entry


def test_listpeerchannels_gives_complete_policies_and_lnds_chan_id():
    (channel,) = channels_from_listpeerchannels({"channels": [peer_channel()]}, {PEER: "bob"})
    assert channel.chan_id == str(850000 << 40 | 10 << 16 | 1) and channel.short_id == "850000x10x1"
    assert (channel.channel_point, channel.peer_alias, channel.state) == ("ab" * 32 + ":1", "bob", ACTIVE)
    assert (channel.capacity_sat, channel.local_sat, channel.remote_sat) == (1_000_000, 600_000, 399_999)
    policy = channel.local_policy
    assert (policy.base_msat, policy.ppm, policy.cltv_delta, policy.min_htlc_msat, policy.max_htlc_msat) == (
        500, 120, 40, 1000, 990_000_000)
    assert (policy.inbound_base_msat, policy.inbound_ppm) == (0, 0)
    assert channel.peer_policy.ppm == 7 and channel.peer_policy.cltv_delta == 80
    assert channel.funding_height == 850000 and channel.initiator is True and channel.peer_online is True


def test_channel_states():
    offline, opening, closing = channels_from_listpeerchannels({"channels": [
        peer_channel(peer_connected=False),
        peer_channel(state="CHANNELD_AWAITING_LOCKIN", short_channel_id=None),
        peer_channel(state="ONCHAIN"),
    ]}, {})
    assert offline.state == INACTIVE and offline.local_policy is not None
    assert opening.state == closing.state == PENDING
    assert opening.chan_id == closing.chan_id == "ab" * 32 + ":1"  # named by the outpoint, as LND's pending ones
    assert opening.local_policy is None and closing.peer_alias == ""


def test_a_channel_without_updates_reads_the_older_fields():
    entry = peer_channel(minimum_htlc_out_msat=5, maximum_htlc_out_msat="7000msat")
    del entry["updates"]
    (channel,) = channels_from_listpeerchannels({"channels": [entry]}, {})
    assert (channel.local_policy.base_msat, channel.local_policy.ppm, channel.local_policy.min_htlc_msat,
            channel.local_policy.max_htlc_msat) == (999, 999, 5, 7000)
    assert channel.peer_policy is None


def test_failcodes_map_to_the_engines_failure_details():
    assert failure_detail("local_failed", 4103, "WIRE_TEMPORARY_CHANNEL_FAILURE") == "INSUFFICIENT_BALANCE"
    assert "INSUFFICIENT_BALANCE" in LIQUIDITY_FAILURE_DETAILS
    assert failure_detail("local_failed", 4108, "WIRE_FEE_INSUFFICIENT") == "FEE_INSUFFICIENT"
    assert failure_detail("local_failed", 16394, "WIRE_UNKNOWN_NEXT_PEER") == "UNKNOWN_NEXT_PEER"
    assert failure_detail("local_failed", None, None) == "UNKNOWN"
    assert failure_detail("failed", 4103, "WIRE_TEMPORARY_CHANNEL_FAILURE") == FAILED_DOWNSTREAM


IN, OUT = "850000x10x1", "850001x3x0"


def test_listforwards_page_to_rows():
    page = forward_page([
        {"created_index": 7, "updated_index": 3, "in_channel": IN, "in_htlc_id": 4, "out_channel": OUT, "out_htlc_id": 9,
         "in_msat": 100_120, "out_msat": 100_000, "fee_msat": 120, "status": "settled", "received_time": 1700000000.123,
         "resolved_time": 1700000001.5},
        {"created_index": 8, "in_channel": IN, "in_htlc_id": 5, "out_channel": OUT, "in_msat": 50_000,
         "status": "local_failed", "failcode": 4103, "failreason": "WIRE_TEMPORARY_CHANNEL_FAILURE",
         "received_time": 1700000002.25},
        {"created_index": 9, "in_channel": IN, "in_htlc_id": 6, "out_channel": OUT, "in_msat": 10, "status": "offered",
         "received_time": 1700000003.0},
        {"created_index": 10, "in_channel": IN, "in_htlc_id": 7, "in_msat": 10, "status": "local_failed",
         "failcode": 16394, "failreason": "WIRE_UNKNOWN_NEXT_PEER", "received_time": 1700000004.0},
        {"created_index": 11, "in_channel": IN, "in_htlc_id": 8, "out_channel": OUT, "out_htlc_id": 10, "in_msat": 2000,
         "out_msat": 1990, "fee_msat": 10, "status": "failed", "failcode": 8194, "received_time": 1700000005.0,
         "resolved_time": 1700000006.0},
    ])
    chan_in, chan_out = int(chan_id_from_scid(IN)), int(chan_id_from_scid(OUT))
    # settled: stamped when it settled (resolved_time), as LND stamps its forwarding events
    assert page.settled == (ForwardRow(1_700_000_001_500_000_000, chan_out, chan_in, 9, 4, 100_000, 120),)
    assert page.failed == (
        FailureRow(1_700_000_002_250_000_000, chan_in, 5, chan_out, 50_000, "TEMPORARY_CHANNEL_FAILURE",
                   "INSUFFICIENT_BALANCE"),
        FailureRow(1_700_000_006_000_000_000, chan_in, 8, chan_out, 1990, "FAILCODE_8194", FAILED_DOWNSTREAM),
    )  # the one with no out_channel has no channel of ours to count on
    assert (page.read, page.last_index, page.first_offered) == (5, 11, 9)


def test_times_are_whole_milliseconds_in_ns():
    assert time_ns(1700000000.123) == 1_700_000_000_123_000_000
    assert time_ns(0) == 0 and time_ns(None) == 0


def test_graph_from_listchannels_and_listnodes():
    direction = {"source": US, "destination": PEER, "short_channel_id": "1x1x1", "amount_msat": 5_000_000,
                 "active": True, "base_fee_millisatoshi": 1, "fee_per_millionth": 2, "delay": 40,
                 "htlc_minimum_msat": 0, "htlc_maximum_msat": 4_000_000}
    graph = graph_from_cln({"channels": [direction]}, {"nodes": [{"nodeid": PEER, "alias": "bob"}, {"nodeid": US}]}, 5)
    (edge,) = graph.edges
    assert (edge.node1, edge.capacity_sat, edge.policy1.ppm, edge.policy2) == (US, 5000, 2, None)
    assert graph.aliases == {PEER: "bob", US: ""} and graph.taken_at == 5


# --- setchannel: the write ------------------------------------------------------------------


def _policy(**over):
    from engine.snapshot import Policy

    base = dict(base_msat=500, ppm=120, cltv_delta=40, min_htlc_msat=1000, max_htlc_msat=990_000_000)
    return Policy(**{**base, **over})


def _answer_row(**over):
    row = {"peer_id": PEER, "channel_id": "cd" * 32, "short_channel_id": "850000x10x1", "fee_base_msat": 700,
           "fee_proportional_millionths": 150, "minimum_htlc_out_msat": 1000, "maximum_htlc_out_msat": 990_000_000,
           "ignore_fee_limits": False}
    return {**row, **over}


def test_setchannel_names_the_fees_and_both_htlc_limits_and_nothing_else():
    from engine.ingest_cln import setchannel_params

    assert setchannel_params("850000x10x1", _policy(base_msat=700, ppm=150)) == {
        "id": "850000x10x1", "feebase": 700, "feeppm": 150, "htlcmin": 1000, "htlcmax": 990_000_000}


def test_what_setchannel_cannot_write_is_named():
    from engine.ingest_cln import unwritable

    live = _policy()
    assert unwritable(live, _policy(ppm=999)) is None
    assert "no inbound fees" in unwritable(live, _policy(inbound_ppm=-10))
    assert "no inbound fees" in unwritable(live, _policy(inbound_base_msat=-1))
    assert "cltv" in unwritable(live, _policy(cltv_delta=144)) and "144" in unwritable(live, _policy(cltv_delta=144))


def test_setchannel_answers_read_as_lightningd_means_them():
    from engine.ingest_cln import is_setchannel_answer, setchannel_left_out, setchannel_problem

    wanted = _policy(base_msat=700, ppm=150)
    assert not is_setchannel_answer(["garbled"]) and not is_setchannel_answer({"channels": {}})
    answer = {"channels": [_answer_row()]}
    assert is_setchannel_answer(answer) and not setchannel_left_out(answer, "850000x10x1")
    assert setchannel_left_out(answer, "850000x10x2") and setchannel_left_out({"channels": []}, "850000x10x1")
    assert setchannel_problem(answer, "850000x10x1", wanted) is None
    assert setchannel_problem({"channels": [_answer_row(fee_base_msat="700msat")]}, "850000x10x1", wanted) is None
    clamped = {"channels": [_answer_row(minimum_htlc_out_msat=50_000,
                                        warning_htlcmin_too_low="Set minimum_htlc_out_msat to minimum allowed by peer")]}
    problem = setchannel_problem(clamped, "850000x10x1", wanted)
    assert "htlc 50000..990000000" in problem and "minimum allowed by peer" in problem
    assert "150 ppm" in setchannel_problem({"channels": [_answer_row(fee_proportional_millionths=99)]}, "850000x10x1", wanted)


def test_without_inbound_management_leaves_every_inbound_fee_alone():
    from engine.guardrails import inbound_managed
    from engine.settings import ChannelOverride, EngineSettings, InboundSettings, without_inbound_management
    from engine.snapshot import Channel

    settings = dataclasses_replace_guardrails(EngineSettings(inbound=InboundSettings(manage="on")),
                                              {"1": ChannelOverride(manage_inbound=True, max_ppm=900),
                                               "2": ChannelOverride(manage_inbound=False)})
    channel = Channel(chan_id="1", short_id="0x0x1", channel_point="aa:0", peer_id=PEER, peer_alias="", state=ACTIVE,
                      capacity_sat=1_000_000, local_sat=500_000, remote_sat=500_000, local_policy=_policy())
    assert inbound_managed(channel, settings)
    off = without_inbound_management(settings)
    assert off.inbound.manage == "off" and not inbound_managed(channel, off)
    assert off.guardrails.channel_overrides["1"] == ChannelOverride(max_ppm=900)  # its bounds stay
    assert off.guardrails.channel_overrides["2"].manage_inbound is False
    assert off.weights == settings.weights and off.guardrails.max_ppm == settings.guardrails.max_ppm


def dataclasses_replace_guardrails(settings, overrides):
    import dataclasses

    return dataclasses.replace(settings, guardrails=dataclasses.replace(settings.guardrails, channel_overrides=overrides))
