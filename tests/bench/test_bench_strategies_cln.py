"""The strategy benchmark on Core Lightning semantics (`--backend cln`).

Asserts the harness, not a result: the strategies read the node only through simnode's CLN face,
write only fee fields through setchannel (the HTLC limits passed as they are), read listforwards
incrementally by created_index, see the same flows and failed forwards as the LND face gives, and
the CLN report goes to its own files.
"""

from __future__ import annotations

import json
import time

import pytest

from bench import strategies
from engine.ingest_lnd import aggregate_forwards

FEE_FIELDS = {"id", "feebase", "feeppm", "htlcmin", "htlcmax"}


def test_feeadjuster_is_registered_for_cln_and_the_lnd_default_set_is_unchanged():
    assert strategies.CLASSES["feeadjuster"].name == "feeadjuster"
    assert "feeadjuster" in strategies.LABELS and "feeadjuster" in strategies.CADENCE_HOURS
    assert strategies.CLN_STRATEGIES == strategies.STRATEGIES + ("feeadjuster",)
    assert "feeadjuster" not in strategies.STRATEGIES


def test_inbound_variant_is_refused_on_cln(capsys):
    with pytest.raises(SystemExit):
        strategies.main(["--quick", "--backend", "cln", "--strategies", "fee_autopilot_inbound", "--out", "/nonexistent"])
    assert "not available on --backend cln: Core Lightning has no inbound fees" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_every_strategy_writes_only_fee_fields_through_setchannel():
    """Two simulated days of every CLN strategy (Fee Autopilot without graph metrics, to stay fast):
    no LND call is made, every write is one setchannel naming only the fee fields and the HTLC
    limits the channel has, and after it every channel keeps its cltv delta and HTLC limits."""
    ctx = strategies.seed_context("2024", 2, with_metrics=False, backend="cln")
    assert ctx.backend == "cln"
    for name in strategies.CLN_STRATEGIES:
        if name == "static":
            continue
        sim = strategies.new_sim("2024", 2)
        before = {c.chan_id: (c.policy.cltv, c.policy.min_htlc_msat, c.policy.max_htlc_msat) for c in sim.channels}
        strategy = strategies.CLASSES[name](strategies.Cln(sim), ctx)
        for _ in range(48):
            strategy.tick(int(sim.now))
            sim.advance(hours=1)
        assert sim.chanpolicy_requests == [], name
        assert all(not key.startswith(("GET /v1", "POST /v1")) for key in sim.request_counts), name
        requests = sim.setchannel_requests
        assert requests, f"{name} wrote nothing in two days"
        by_scid = {strategies.scid_from_chan_id(str(c.chan_id)): before[c.chan_id] for c in sim.channels}
        for r in requests:
            params = r["params"]
            assert set(params) == FEE_FIELDS and "error" not in r, (name, r)
            _, low, high = by_scid[params["id"]]
            assert (params["htlcmin"], params["htlcmax"]) == (low, high), (name, r)
            assert not any(k.startswith("warning_") for row in r["channels"] for k in row), (name, r)
        after = {c.chan_id: (c.policy.cltv, c.policy.min_htlc_msat, c.policy.max_htlc_msat) for c in sim.channels}
        assert after == before, name  # lndmanage's cltv 40 is not written on CLN


def test_forwards_are_read_incrementally_and_give_the_flows_of_the_lnd_face():
    """A ForwardBook over the CLN face reads each listforwards entry once (every page starts after
    the last created_index read), yet at every tick its flows equal aggregate_forwards of a full
    /v1/switch read of the same node, and the failures it keeps are the node's ground truth."""
    sim = strategies.new_sim("2024", 3)
    cln, lnd = strategies.Cln(sim), strategies.Lnd(sim)
    book = strategies.ForwardBook()
    windows = strategies.FLOW_WINDOWS_DAYS
    positions = []
    for hours in [1] * 4 + [48] + [1] * 3 + [24 * 6, 5]:
        sim.advance(hours=hours)
        now = int(sim.now)
        full = aggregate_forwards(
            strategies.read_forwards(lnd, now, start=now - max(windows) * 86_400), now, windows)
        starts_before = len(cln.listforwards_starts)
        assert book.flows(cln, now) == full, f"at {now}"
        assert cln.listforwards_starts[starts_before] == (positions[-1] if positions else 0) + 1
        positions.append(cln.position)
        assert cln.position == len(sim.forward_log)  # everything listed so far has been read
    assert cln.listforwards_starts[0] == 1 and len(set(positions)) == len(positions)  # new entries every time
    # the failures kept: lack of balance in the last day, per channel, as simnode counted them (the
    # amount is what the HTLC carried in, as listforwards reports a local failure)
    now = int(sim.now)
    kept = cln.liquidity_failures(now, now - 86_400)
    truth = [f for f in sim.failed if f.reason == "INSUFFICIENT_BALANCE" and now - 86_400 <= f.ts_ns / 1e9 <= now]
    assert kept and len(kept) == len(truth)
    assert sorted(f.chan_id_out for f in kept) == sorted(str(f.chan_out) for f in truth)
    log = sim.forward_log
    in_msat = {(r.chan_in, r.in_htlc): log.in_msat[i] for i, r in enumerate(log.rows)}
    assert sorted(f.amount_msat for f in kept) == sorted(in_msat[(f.chan_in, f.in_htlc)] for f in truth)


def test_fee_autopilot_snapshot_on_cln_carries_the_failed_forwards_of_listforwards():
    sim = strategies.new_sim("2024", 2)
    sim.advance(hours=30)
    snap = strategies.take_snapshot(strategies.Cln(sim), None, failed_forwards=True)
    assert snap.backend == "CoreLightningWallet" and snap.sources.get("htlc_events") is True
    now = int(sim.now)
    log = sim.forward_log
    in_msat = {(r.chan_in, r.in_htlc): log.in_msat[i] for i, r in enumerate(log.rows)}
    truth: dict = {}
    for f in sim.failed:
        if f.reason == "INSUFFICIENT_BALANCE" and now - 86_400 <= f.ts_ns // 10**9 <= now:
            row = truth.setdefault(str(f.chan_out), [0, 0])
            row[0] += 1
            row[1] += in_msat[(f.chan_in, f.in_htlc)]
    assert truth
    for c in snap.channels:
        if c.state in ("active", "inactive"):
            count, msat = truth.get(c.chan_id, (0, 0))
            assert (c.failed_out_1d, c.failed_out_amount_1d_sat) == (count, msat // 1000), c.chan_id
    lnd_snap = strategies.take_snapshot(strategies.Lnd(sim), None)
    assert {c.chan_id: c.flow for c in snap.channels if c.state == "active"} == \
        {c.chan_id: c.flow for c in lnd_snap.channels if c.state == "active"}  # one node, one history


@pytest.mark.timeout(120)
def test_quick_cln_writes_its_own_report(tmp_path):
    """`--quick --backend cln`, cheaply (no Fee Autopilot, so no graph metrics; 2 days): the CLN
    files only, saying which semantics and which gossip behaviour apply."""
    t0 = time.time()
    assert strategies.main(["--quick", "--backend", "cln", "--strategies", "static,clboss_budget,feeadjuster",
                            "--days", "2", "--out", str(tmp_path), "--workers", "1"]) == 0
    assert time.time() - t0 < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["strategies_cln.json", "strategies_cln.md"]
    data = json.loads((tmp_path / "strategies_cln.json").read_text())
    assert data["backend"] == "cln" and data["days"] == 2
    rows = data["results"]
    assert [r["strategy"] for r in rows] == ["static", "clboss_budget", "feeadjuster"]
    assert all(r["backend"] == "cln" for r in rows)
    assert next(r for r in rows if r["strategy"] == "feeadjuster")["updates"] > 0
    assert next(r for r in rows if r["strategy"] == "clboss_budget")["updates_not_relayed"] == 0
    report = (tmp_path / "strategies_cln.md").read_text()
    assert report.startswith("# Fee Autopilot vs baseline fee strategies on simnode, Core Lightning semantics")
    for words in ("setchannel", "enforcedelay", "600 simulated seconds", "local_failed", "failcode 4103",
                  "v24.02 and later have no token bucket", strategies.LABELS["feeadjuster"],
                  "Generated by `bench/strategies.py --quick --backend cln"):
        assert words in report, words
