"""The oracle of a run's 30-day flows, written from the rule: a forward leaves through its
outgoing channel (its fee earned there) and arrives through its incoming one (its fee assisted
there). Shared by the LND and the Core Lightning tests; each turns its node's own forwarding
history into (outgoing chan_id, incoming chan_id, fee msat) first."""

from __future__ import annotations

from typing import Iterable


def assert_flows_are_the_sums(scores: dict, forwards: Iterable[tuple[str, str, int]]) -> None:
    forwards = list(forwards)
    checked = 0
    for channel in scores["channels"]:
        evidence = next(p for p in channel["parts"] if p["name"] == "activity")["evidence"]
        if evidence.get("yield_window_days") != 30:
            continue
        chan = channel["chan_id"]
        out = [fee for chan_out, _, fee in forwards if chan_out == chan]
        into = [fee for _, chan_in, fee in forwards if chan_in == chan]
        expected = (len(out), len(into), sum(out), sum(into))
        got = (evidence["forwards_out"], evidence["forwards_in"], evidence["fees_earned_msat"], evidence["fees_assisted_msat"])
        assert got == expected, (chan, got, expected)
        checked += bool(out or into)
    assert checked >= 5, "channels with forwards were compared"
