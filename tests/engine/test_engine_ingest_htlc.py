"""engine.ingest_htlc: which messages of LND's HTLC event stream are failed forwards of ours."""

from __future__ import annotations

from engine.ingest_htlc import FAILED_DOWNSTREAM, HtlcFailures, LinkFailure, link_failure


def fail_event(**over) -> dict:
    event = {
        "incoming_channel_id": "111", "outgoing_channel_id": "222", "incoming_htlc_id": "7",
        "outgoing_htlc_id": "0", "timestamp_ns": "1700000000123456789", "event_type": "FORWARD",
        "link_fail_event": {
            "info": {"incoming_timelock": 0, "outgoing_timelock": 0, "incoming_amt_msat": "1001000",
                     "outgoing_amt_msat": "1000000"},
            "wire_failure": "TEMPORARY_CHANNEL_FAILURE", "failure_detail": "INSUFFICIENT_BALANCE",
            "failure_string": "insufficient bandwidth to route htlc",
        },
    }
    event.update(over)
    return event


def test_a_forward_our_channel_could_not_carry():
    failure = link_failure(fail_event())
    assert failure == LinkFailure(
        key="111:7:1700000000123456789", ts_ns=1700000000123456789, chan_id_out="222", chan_id_in="111",
        amount_msat=1_000_000, wire_failure="TEMPORARY_CHANNEL_FAILURE", failure_detail="INSUFFICIENT_BALANCE",
        htlc_in=7,
    )
    assert failure.lack_of_balance


def test_other_link_failures_are_kept_with_their_reason_but_are_not_lack_of_balance():
    event = fail_event()
    event["link_fail_event"] = {**event["link_fail_event"], "wire_failure": "FEE_INSUFFICIENT",
                                "failure_detail": "NO_DETAIL"}
    failure = link_failure(event)
    assert failure is not None and failure.failure_detail == "NO_DETAIL" and not failure.lack_of_balance


def test_the_identity_is_the_incoming_htlc_and_time():
    assert link_failure(fail_event()).key == link_failure(fail_event()).key
    assert link_failure(fail_event(incoming_htlc_id="8")).key != link_failure(fail_event()).key
    assert link_failure(fail_event(timestamp_ns="1700000000123456790")).key != link_failure(fail_event()).key


def test_messages_that_are_not_failed_forwards_of_ours():
    forward = {k: v for k, v in fail_event().items() if k != "link_fail_event"}
    assert link_failure({**forward, "forward_event": {"info": {}}}) is None
    assert link_failure({**forward, "forward_fail_event": {}}) is None  # failed downstream: no amount
    assert link_failure({**forward, "settle_event": {"preimage": ""}}) is None
    assert link_failure({"incoming_channel_id": "0", "outgoing_channel_id": "0", "event_type": "UNKNOWN",
                         "subscribed_event": {}}) is None
    assert link_failure(fail_event(event_type="SEND")) is None  # our own payment
    assert link_failure(fail_event(event_type="RECEIVE", outgoing_channel_id="0")) is None
    assert link_failure(fail_event(outgoing_channel_id="0")) is None


def forward(htlc: str = "7", chan_out: str = "222", amount: str = "500000", ts: str = "1700000000000000001") -> dict:
    return {"incoming_channel_id": "111", "outgoing_channel_id": chan_out, "incoming_htlc_id": htlc,
            "outgoing_htlc_id": "3", "timestamp_ns": ts, "event_type": "FORWARD",
            "forward_event": {"info": {"incoming_amt_msat": "501000", "outgoing_amt_msat": amount}}}


def later(kind: str, htlc: str = "7", ts: str = "1700000000900000000") -> dict:
    # LND's settle and forward-fail events name the HTLC only (no outgoing channel, no amounts)
    return {"incoming_channel_id": "111", "outgoing_channel_id": "222", "incoming_htlc_id": htlc,
            "outgoing_htlc_id": "3", "timestamp_ns": ts, "event_type": "FORWARD", kind: {}}


def test_a_forward_that_failed_further_along_gets_the_channel_and_amount_it_was_sent_with():
    seen = HtlcFailures()
    assert seen.observe(forward()) is None
    failure = seen.observe(later("forward_fail_event"))
    assert failure == LinkFailure(key="111:7:1700000000900000000", ts_ns=1700000000900000000, chan_id_out="222",
                                  chan_id_in="111", amount_msat=500_000, wire_failure="",
                                  failure_detail=FAILED_DOWNSTREAM, htlc_in=7)
    assert not failure.lack_of_balance
    assert seen.observe(later("forward_fail_event")) is None  # told once


def test_a_settled_or_unknown_forward_is_no_failure():
    seen = HtlcFailures()
    seen.observe(forward())
    assert seen.observe(later("settle_event")) is None
    assert seen.observe(later("forward_fail_event")) is None  # settled before: nothing to fail
    assert seen.observe(later("forward_fail_event", htlc="99")) is None  # sent before we subscribed
    assert seen.observe(fail_event()).failure_detail == "INSUFFICIENT_BALANCE"  # link failures as before


def test_at_most_capacity_forwards_are_remembered_the_oldest_forgotten_first():
    seen = HtlcFailures(capacity=2)
    for htlc in ("1", "2", "3"):
        seen.observe(forward(htlc=htlc))
    assert seen.observe(later("forward_fail_event", htlc="1")) is None
    assert seen.observe(later("forward_fail_event", htlc="2")) is not None
    assert seen.observe(later("forward_fail_event", htlc="3")) is not None
