"""The strategy benchmark's harness works end to end (`--quick`: one seed, 7 days).

Asserts the harness, not a result: every strategy ran, wrote complete policies only through
/v1/chanpolicy, and the report has a row per strategy.
"""

from __future__ import annotations

import json
import time

import pytest

from bench import strategies


@pytest.mark.timeout(180)
def test_quick_mode_runs_every_strategy(tmp_path):
    t0 = time.time()
    assert strategies.main(["--quick", "--out", str(tmp_path), "--workers", "1"]) == 0
    assert time.time() - t0 < 120
    data = json.loads((tmp_path / "strategies.json").read_text())
    assert data["days"] == 7
    rows = data["results"]
    assert {r["strategy"] for r in rows} == set(strategies.STRATEGIES)
    for r in rows:
        assert r["seed"] == 1 and r["graph"] == "2024"
        assert r["fees_sat"] >= 0 and r["volume_sat"] >= 0 and r["forwards"] >= 0
        assert r["updates_per_channel_day"] >= 0 and r["max_updates_24h"] >= 0
    static = next(r for r in rows if r["strategy"] == "static")
    assert static["updates"] == 0  # the do-nothing baseline never writes
    assert any(r["updates"] > 0 for r in rows if r["strategy"] != "static")
    report = (tmp_path / "strategies.md").read_text()
    for label in strategies.LABELS.values():
        assert label in report


def test_baselines_write_complete_policies():
    """A baseline's write keeps every non-fee field of the live policy (cltv, HTLC limits, inbound)."""
    sim = strategies.new_sim("2024", 2)
    lnd = strategies.Lnd(sim)
    our_id = lnd.get("/v1/getinfo")["identity_pubkey"]
    channel = next(c for c in strategies.read_channels(lnd, our_id) if c.state == "active")
    live, new = strategies.write_fees(lnd, our_id, channel.chan_id, channel.channel_point,
                                      channel.local_policy.base_msat, channel.local_policy.ppm + 7)
    after, _ = strategies.edge_policies(lnd.get(f"/v1/graph/edge/{channel.chan_id}"), our_id)
    assert after.ppm == live.ppm + 7
    assert (after.cltv_delta, after.min_htlc_msat, after.max_htlc_msat, after.inbound_ppm, after.inbound_base_msat) == (
        live.cltv_delta, live.min_htlc_msat, live.max_htlc_msat, live.inbound_ppm, live.inbound_base_msat)
