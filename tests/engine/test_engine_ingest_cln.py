"""CLN listchannels -> NetworkGraph."""

from __future__ import annotations

from engine.ingest_cln import graph_from_listchannels

A, B = "02" + "11" * 32, "03" + "22" * 32


def entry(src, dst, scid="1x1x1", active=True, ppm=100, base=1000):
    return {"source": src, "destination": dst, "short_channel_id": scid, "satoshis": 500_000,
            "active": active, "base_fee_millisatoshi": base if active else 0,
            "fee_per_millionth": ppm if active else 0, "delay": 40 if active else 0,
            "htlc_minimum_msat": 1000, "htlc_maximum_msat": "495000000msat"}


def test_pairs_directions_by_node_order():
    g = graph_from_listchannels([entry(B, A, ppm=7), entry(A, B, ppm=5)], {A: "alice"})
    (e,) = g.edges
    assert (e.node1, e.node2, e.capacity_sat) == (A, B, 500_000)
    assert e.policy1.ppm == 5 and e.policy2.ppm == 7  # policy1 = from the smaller id
    assert e.policy1.max_htlc_msat == 495_000_000
    assert g.aliases[A] == "alice" and g.fingerprint.startswith("cln:1:")


def test_disabled_half_and_single_direction():
    g = graph_from_listchannels([entry(A, B, active=False), entry(A, B, scid="2x2x2")])
    first, second = g.edges
    assert first.policy1.disabled and first.policy2 is None
    assert not second.policy1.disabled and second.policy2 is None


def test_skips_malformed_and_is_deterministic():
    entries = [entry(A, A), {"source": A}, entry(A, B)]
    assert len(graph_from_listchannels(entries).edges) == 1
    assert graph_from_listchannels(entries).fingerprint == graph_from_listchannels(entries).fingerprint
    assert graph_from_listchannels([entry(A, B, ppm=6)]).fingerprint != graph_from_listchannels(entries).fingerprint
