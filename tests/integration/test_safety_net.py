"""Issue 12: the safety net holds where operators (and attackers) step — real LNbits + simnode.

Each test reproduces one way the net broke and checks simnode's ground truth, on LND and on Core
Lightning (issue 18: `node_env_both`). They share one node (`node_env`) and run in order; each moves
simulated time past the cooldowns it needs and restores the settings it changes.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest


@pytest.fixture(scope="module")
def node_env(node_env_both):
    return node_env_both

FEE_FIELDS = ("base_msat", "ppm")
WRITTEN_FIELDS = ("base_msat", "ppm", "cltv", "min_htlc_msat", "max_htlc_msat", "inbound_base_msat", "inbound_ppm")


def accepted(run: dict) -> list[dict]:
    return [d for d in run["decisions"] if d["accepted"]]


def fees(truth: dict, chan_id: str) -> tuple[int, int]:
    return truth[chan_id]["policy"]["base_msat"], truth[chan_id]["policy"]["ppm"]


def policy_updates(env) -> int:
    return env.state()["totals"]["policy_updates"]


def fresh_run(env, at_least: int) -> dict:
    env.advance(hours=49)
    run = env.dry_run()
    assert len(accepted(run)) >= at_least, [(d["chan_id"], d["reason"]) for d in run["decisions"]]
    return run


def put_settings(env, patch: dict) -> dict:
    response = env.api("PUT", "/settings", json=patch)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def restore_settings(node_env):
    before = node_env.api("GET", "/settings").json()
    yield
    # Lists are replaced, not merged: put the whole document back.
    node_env.api("PUT", "/settings", json=before).raise_for_status()


def test_a_pinned_channel_is_never_changed_by_a_stored_decision(node_env, restore_settings):
    run = fresh_run(node_env, 1)
    decision = accepted(run)[0]
    chan = decision["chan_id"]
    pin = node_env.api("PUT", f"/channels/{chan}/pin", json={"pinned": True})
    assert pin.status_code == 200, pin.text
    before = policy_updates(node_env)
    response = node_env.api("POST", f"/decisions/{decision['id']}/apply")
    assert response.status_code == 200, response.text
    outcome = response.json()["outcomes"][0]
    assert outcome["status"] == "blocked" and outcome["rule"] == "pinned", outcome
    assert policy_updates(node_env) == before
    assert fees(node_env.channel_truth(), chan) == (decision["old_policy"]["base_msat"], decision["old_policy"]["ppm"])
    # The run's record and the page say why.
    shown = next(d for d in node_env.api("GET", f"/runs/{run['id']}").json()["decisions"] if d["id"] == decision["id"])
    assert shown["status"] == "blocked" and shown["blocked_by"] == "pinned", shown


def test_a_lowered_max_ppm_blocks_a_stored_raise(node_env, restore_settings):
    run = fresh_run(node_env, 1)
    raises = [d for d in accepted(run) if d["new_policy"]["ppm"] > d["old_policy"]["ppm"]]
    assert raises, "the seed's first proposals include a raise"
    decision = raises[0]
    put_settings(node_env, {"engine": {"guardrails": {"max_ppm": decision["old_policy"]["ppm"]}}})
    before = policy_updates(node_env)
    outcome = node_env.api("POST", f"/runs/{run['id']}/apply", json={"decision_ids": [decision["id"]]}).json()["outcomes"][0]
    assert outcome["status"] == "blocked" and outcome["rule"] == "ppm_bounds", outcome
    assert policy_updates(node_env) == before


def test_rollback_and_reapply_loop_respects_spacing_budget_cooldown_and_daily_limit(node_env, restore_settings):
    first = fresh_run(node_env, 1)
    second = node_env.dry_run()  # a second run, before any change: the same proposals
    decision = accepted(first)[0]
    chan = decision["chan_id"]
    twin = next(d for d in accepted(second) if d["chan_id"] == chan)
    assert twin["new_policy"]["ppm"] == decision["new_policy"]["ppm"]
    applied = node_env.api("POST", f"/decisions/{decision['id']}/apply").json()["outcomes"][0]
    assert applied["status"] == "applied", applied
    undo = node_env.api("POST", f"/changes/{applied['change_id']}/rollback", json={})
    assert undo.status_code == 200 and undo.json()["status"] == "applied", undo.text
    counted = policy_updates(node_env)
    # The same decision is applied at most once.
    same = node_env.api("POST", f"/decisions/{decision['id']}/apply").json()["outcomes"][0]
    assert same["status"] == "unchanged" and "rolled back" in same["message"], same
    # The other run's identical decision: the cooldown (24 h by default) of the change we just made holds.
    outcome = node_env.api("POST", f"/decisions/{twin['id']}/apply").json()["outcomes"][0]
    assert outcome["status"] == "blocked" and outcome["rule"] == "cooldown", outcome
    # Without a cooldown, the change and its rollback just now hold it for the minimum spacing (10 min).
    put_settings(node_env, {"engine": {"anti_oscillation": {"cooldown_hours": 0}}})
    outcome = node_env.api("POST", f"/decisions/{twin['id']}/apply").json()["outcomes"][0]
    assert outcome["status"] == "blocked" and outcome["rule"] == "min_spacing", outcome
    # The relay budget is re-checked when applied: with 24 tokens an update and a bucket of 48, the
    # change and its rollback spent it all.
    put_settings(node_env, {"engine": {"anti_oscillation": {"cooldown_hours": 0, "min_update_spacing_minutes": 0,
                                                            "relay_tokens_per_update": 24}}})
    outcome = node_env.api("POST", f"/decisions/{twin['id']}/apply").json()["outcomes"][0]
    assert outcome["status"] == "blocked" and outcome["rule"] == "relay_budget", outcome
    # Without those, a daily limit of 2 still holds: two updates in 24 h already.
    put_settings(node_env, {"engine": {"anti_oscillation": {"relay_tokens_per_update": 12, "max_updates_per_day": 2}}})
    outcome = node_env.api("POST", f"/decisions/{twin['id']}/apply").json()["outcomes"][0]
    assert outcome["status"] == "blocked" and outcome["rule"] == "max_updates_per_day", outcome
    assert policy_updates(node_env) == counted
    day = [c for c in node_env.api("GET", f"/changes?chan_id={chan}").json()["data"] if c["status"] == "applied"]
    assert len(day) == 2


@pytest.mark.parametrize("delay_s", [0.0, 0.3, 0.9, 2.0])
def test_a_rollback_racing_an_apply_never_reports_what_is_not_true(node_env, delay_s):
    run = fresh_run(node_env, 4)
    node_env.simnode.set_faults(node_env.write_fault(latency_ms=150))
    results: dict[str, object] = {}

    def apply() -> None:
        results["apply"] = node_env.api("POST", f"/runs/{run['id']}/apply", json={})

    worker = threading.Thread(target=apply)
    worker.start()
    try:
        time.sleep(delay_s)
        rollback = node_env.api("POST", f"/runs/{run['id']}/rollback", json={})
        worker.join()
    finally:
        node_env.simnode.clear_faults()
    assert results["apply"].status_code == 200, results["apply"].text
    truth = node_env.channel_truth()
    changes = node_env.api("GET", f"/changes?run_id={run['id']}&limit=500").json()["data"]
    undone = {c["rollback_of"] for c in changes if c.get("rollback_of") and c["status"] == "applied"}
    live_changes = [c for c in changes if c["status"] == "applied" and not c.get("rollback_of") and c["id"] not in undone]
    if rollback.status_code == 200:
        # It took the lock after the batch: it undid every change the batch made.
        assert rollback.json()["status"] == "rolled_back", rollback.text
        assert live_changes == [], live_changes
        for decision in accepted(run):
            assert fees(truth, decision["chan_id"]) == (decision["old_policy"]["base_msat"], decision["old_policy"]["ppm"])
        assert node_env.api("GET", f"/runs/{run['id']}").json()["status"] == "rolled_back"
    else:
        # It ran before the batch wrote anything: nothing to roll back, and it said so.
        assert rollback.status_code == 409 and "no applied change" in rollback.json()["detail"], rollback.text
        assert live_changes and node_env.api("GET", f"/runs/{run['id']}").json()["status"] == "applied"
        for change in live_changes:
            assert fees(truth, change["chan_id"]) == (change["new_policy"]["base_msat"], change["new_policy"]["ppm"])
        node_env.api("POST", f"/runs/{run['id']}/rollback", json={}).raise_for_status()


def test_reconcile_during_an_inflight_apply_waits_and_settles_nothing_wrongly(node_env):
    run = fresh_run(node_env, 3)
    node_env.simnode.set_faults(node_env.write_fault(latency_ms=600))
    results: dict[str, object] = {}

    def apply() -> None:
        results["apply"] = node_env.api("POST", f"/runs/{run['id']}/apply", json={})

    worker = threading.Thread(target=apply)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pending = node_env.api("GET", f"/changes?run_id={run['id']}&status=pending").json()["total"]
            if pending:
                break
            time.sleep(0.05)
        assert pending, "the apply has a write in flight"
        reconcile = node_env.api("POST", "/reconcile", json={})
        worker.join()
    finally:
        node_env.simnode.clear_faults()
    assert reconcile.status_code == 200, reconcile.text
    assert reconcile.json()["settled"] == [], "reconcile waited for the batch: nothing was pending any more"
    batch = results["apply"].json()
    assert batch["status"] == "applied", batch
    for outcome in batch["outcomes"]:
        change = node_env.api("GET", f"/changes/{outcome['change_id']}").json()
        assert change["status"] == "applied"
        assert [e["status"] for e in change["events"]] == ["pending", "applied"], change["events"]
    node_env.assert_log_matches_node()


def test_a_hung_write_that_lands_late_is_caught_as_drift(node_env, restore_settings):
    run = fresh_run(node_env, 1)
    decision = accepted(run)[0]
    chan = decision["chan_id"]
    put_settings(node_env, {"node_timeout_seconds": 2})  # unknown outcomes stay unknown 2 x 2 s
    node_env.simnode.set_faults(node_env.write_fault(hang=True, hang_seconds=9, times=1))
    try:
        started = time.monotonic()
        batch = node_env.api("POST", f"/decisions/{decision['id']}/apply").json()
        outcome = batch["outcomes"][0]
        # Not retried, not reported applied: unknown, and the channel is closed to other writes.
        assert outcome["status"] == "unknown", outcome
        assert node_env.api("GET", f"/changes/{outcome['change_id']}").json()["status"] == "pending"
        manual = node_env.api("PUT", f"/channels/{chan}/policy", json={"base_msat": 0, "ppm": 77})
        assert manual.status_code == 409 and "unknown outcome" in manual.json()["detail"], manual.text
        rollback = node_env.api("POST", f"/runs/{run['id']}/rollback", json={})
        assert rollback.status_code == 409, rollback.text
        # Past the grace, a reconcile before the write lands sees the old policy: failed.
        time.sleep(max(0.0, 4.5 - (time.monotonic() - started)))
        # (The schedule's tick settles pending changes too; whichever came first, it is failed.)
        node_env.api("POST", "/reconcile", json={}).raise_for_status()
        settled = node_env.api("GET", f"/changes/{outcome['change_id']}").json()
        assert settled["status"] == "failed" and "old policy" in settled["message"], settled
        deadline = started + 30
        while fees(node_env.channel_truth(), chan)[1] != decision["new_policy"]["ppm"]:
            assert time.monotonic() < deadline, "the hung write lands once its 9 s are over"
            time.sleep(0.2)
        second = node_env.api("POST", "/reconcile", json={}).json()
    finally:
        node_env.simnode.clear_faults()
    assert [c["chan_id"] for c in second["external"]] == [chan], second
    external = second["external"][0]
    assert external["source"] == "external" and "landed late" in external["reason"], external
    assert external["requested_by_name"] == "Outside Fee Autopilot", external
    assert external["old_policy"]["ppm"] == decision["old_policy"]["ppm"]
    assert external["new_policy"]["ppm"] == decision["new_policy"]["ppm"]
    assert node_env.api("GET", f"/changes/{external['id']}").json()["events"][0]["status"] == "detected"
    status = node_env.api("GET", "/status").json()
    assert status["external_changes_7d"] >= 1 and status["pending_changes"] == 0
    assert any(f"1 channel was changed outside Fee Autopilot ({chan})" in n["message"] for n in status["notifications"])
    # Found once: a reconcile later records nothing new.
    assert node_env.api("POST", "/reconcile", json={}).json()["external"] == []
    node_env.assert_log_matches_node()


def test_a_change_made_elsewhere_counts_for_the_cooldown_and_the_spacing(node_env):
    run = fresh_run(node_env, 1)
    decision = accepted(run)[0]
    chan = decision["chan_id"]
    # Drift is measured against what our log left: make a change of ours first, a day ago.
    assert node_env.api("POST", f"/decisions/{decision['id']}/apply").json()["outcomes"][0]["status"] == "applied"
    node_env.advance(hours=25)
    truth = node_env.channel_truth()
    # Somebody changes the fee with lncli / lightning-cli: straight to the node.
    live = truth[chan]
    node_env.change_elsewhere(chan, ppm=live["policy"]["ppm"] + 50)
    found = node_env.api("POST", "/reconcile", json={}).json()["external"]
    assert [c["chan_id"] for c in found] == [chan]
    # The external change was an update of this channel a moment ago: the cooldown and the minimum spacing
    # hold a manual one.
    manual = node_env.api("PUT", f"/channels/{chan}/policy", json={"base_msat": live["policy"]["base_msat"], "ppm": live["policy"]["ppm"] + 60})
    # (other rules may refuse it too, e.g. the smallest change against the external fee: not what this pins)
    assert manual.status_code == 409 and {"cooldown", "min_spacing"} <= set(manual.json()["rules"]), manual.text


def test_concurrent_pins_and_settings_writes_are_all_kept(node_env, restore_settings):
    channels = [c["id"] for c in node_env.api("GET", "/channels").json()["channels"] if c["state"] in ("active", "inactive")]
    assert len(channels) >= 16
    chosen = channels[:16]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda c: node_env.api("PUT", f"/channels/{c}/pin", json={"pinned": True}), chosen))
    assert [a.status_code for a in answers] == [200] * 16
    pins = node_env.api("GET", "/settings").json()["engine"]["guardrails"]["pinned_channels"]
    assert sorted(pins) == sorted(chosen)

    patches = [
        {"interval_minutes": 61},
        {"retention_days": 91},
        {"history_days": 29},
        {"notification_min_interval_minutes": 59},
        {"engine": {"guardrails": {"max_ppm": 4999}}},
        {"engine": {"anti_oscillation": {"min_change_ppm": 11}}},
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda p: node_env.api("PUT", "/settings", json=p), patches))
    assert [a.status_code for a in answers] == [200] * 6
    document = node_env.api("GET", "/settings").json()
    assert (document["interval_minutes"], document["retention_days"], document["history_days"]) == (61, 91, 29)
    assert document["notification_min_interval_minutes"] == 59
    assert document["engine"]["guardrails"]["max_ppm"] == 4999
    assert document["engine"]["anti_oscillation"]["min_change_ppm"] == 11
    assert sorted(document["engine"]["guardrails"]["pinned_channels"]) == sorted(chosen), "the pins survived too"


def test_an_unexpected_error_mid_batch_restores_the_batch(node_env):
    run = fresh_run(node_env, 3)
    chosen = accepted(run)[:3]
    before = node_env.channel_truth()
    # The node answers the third channel's policy read with nonsense. On LND that is not a node
    # error the code knows (the edge's shape is not checked): an exception from the middle of the
    # batch. Fee Autopilot's Core Lightning client checks each answer's shape, so there it is a
    # failed read (retried, then failed) that ends the batch as any failure does.
    unexpected = node_env.backend == "lnd"
    node_env.simnode.set_faults(node_env.policy_read_fault(chosen[2]["chan_id"], garbled=True,
                                                           **({"times": 1} if unexpected else {})))
    try:
        response = node_env.api("POST", f"/runs/{run['id']}/apply", json={"decision_ids": [d["id"] for d in chosen]})
    finally:
        node_env.simnode.clear_faults()
    assert response.status_code == 200, response.text
    batch = response.json()
    ended = "interrupted" if unexpected else "rolled_back"
    assert batch["status"] == ended and (batch["error"] or not unexpected), batch
    statuses = {o["decision_id"]: o["status"] for o in batch["outcomes"]}
    third = "skipped" if unexpected else "failed"
    assert [statuses[d["id"]] for d in chosen] == ["restored", "restored", third], batch["outcomes"]
    after = node_env.channel_truth()
    for decision in chosen:
        assert fees(after, decision["chan_id"]) == fees(before, decision["chan_id"])
    assert node_env.api("GET", "/changes?status=pending").json()["total"] == 0
    record = node_env.api("GET", f"/runs/{run['id']}").json()
    assert record["status"] == ended and record["summary"]["batches"][-1]["status"] == ended


def test_a_garbled_write_answer_is_an_unknown_outcome_not_a_success(node_env):
    run = fresh_run(node_env, 2)
    chosen = accepted(run)[:2]
    node_env.simnode.set_faults(node_env.write_fault(garbled=True, times=1))
    try:
        batch = node_env.api("POST", f"/runs/{run['id']}/apply", json={"decision_ids": [d["id"] for d in chosen]}).json()
    finally:
        node_env.simnode.clear_faults()
    first = batch["outcomes"][0]
    # The garbled answer did not act, but that is not proven until the grace is over:
    # unknown, and the batch is not reported applied.
    assert first["status"] == "unknown" and batch["status"] != "applied", batch
    assert node_env.api("POST", "/reconcile", json={}).json()["settled"] == []
    node_env.advance(hours=0.1)  # past the grace (2 x the node timeout)
    settled = node_env.api("POST", "/reconcile", json={}).json()["settled"]
    # settled as failed: by this reconcile, or by the schedule's own tick (every 2 s) just before it
    assert [(c["id"], c["status"]) for c in settled] in ([(first["change_id"], "failed")], []), settled
    change = node_env.api("GET", f"/changes/{first['change_id']}").json()
    assert change["status"] == "failed" and "still has the old policy" in change["message"], change
    node_env.assert_log_matches_node()


def test_concurrent_applies_of_one_run_all_land_in_its_record(node_env):
    run = fresh_run(node_env, 4)
    ids = [d["id"] for d in accepted(run)]
    halves = [ids[: len(ids) // 2], ids[len(ids) // 2:]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda part: node_env.api("POST", f"/runs/{run['id']}/apply", json={"decision_ids": part}), halves))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    batches = node_env.api("GET", f"/runs/{run['id']}").json()["summary"]["batches"]
    assert sorted(b["batch_id"] for b in batches) == sorted(a.json()["batch_id"] for a in answers)
    assert sum(b["counts"].get("applied", 0) for b in batches) == sum(
        sum(1 for o in a.json()["outcomes"] if o["status"] == "applied") for a in answers
    )


def test_a_closed_channel_is_a_4xx_that_says_so(node_env):
    channels = node_env.api("GET", "/channels").json()["channels"]
    closed = [c for c in channels if c["state"] in ("pending", "closed")]
    assert closed, "simnode's node has pending and closed channels"
    for channel in closed:
        response = node_env.api("PUT", f"/channels/{channel['id']}/policy", json={"base_msat": 0, "ppm": 10})
        assert response.status_code == 409, response.text
        assert channel["state"] in response.json()["detail"]


def test_an_unknown_channel_id_is_a_404_on_every_route_that_takes_one(node_env):
    unknown = "123"
    assert node_env.api("GET", f"/channels/{unknown}/history").status_code == 404
    assert node_env.api("PUT", f"/channels/{unknown}/pin", json={"pinned": True}).status_code == 404
    assert node_env.api("PUT", f"/channels/{unknown}/policy", json={"base_msat": 0, "ppm": 10}).status_code == 404
    known = next(c["id"] for c in node_env.api("GET", "/channels").json()["channels"] if c["state"] == "active")
    assert node_env.api("GET", f"/channels/{known}/history").status_code == 200


def test_a_disabled_flag_the_node_set_does_not_block_a_rollback_or_look_like_drift(node_env):
    run = fresh_run(node_env, 1)
    decision = accepted(run)[0]
    chan = decision["chan_id"]
    applied = node_env.api("POST", f"/decisions/{decision['id']}/apply").json()["outcomes"][0]
    assert applied["status"] == "applied", applied
    # The peer goes offline: the node disables our direction (LND's routerrpc UpdateChanStatus; on Core
    # Lightning simnode's LND face stands in for lightningd doing the same, which listpeerchannels never shows).
    txid, index = node_env.channel_truth()[chan]["channel_point"].split(":")
    point = {"funding_txid_str": txid, "output_index": int(index)}
    assert node_env.simnode.post("/v2/router/updatechanstatus", {"chan_point": point, "action": "DISABLE"})[0] == 200
    try:
        assert node_env.channel_truth()[chan]["policy"]["disabled"] is True
        assert node_env.api("POST", "/reconcile", json={}).json()["external"] == [], "a flag the node manages is not drift"
        rollback = node_env.api("POST", f"/changes/{applied['change_id']}/rollback", json={})
        assert rollback.status_code == 200 and rollback.json()["status"] == "applied", rollback.text
        assert fees(node_env.channel_truth(), chan) == (decision["old_policy"]["base_msat"], decision["old_policy"]["ppm"])
    finally:
        node_env.simnode.post("/v2/router/updatechanstatus", {"chan_point": point, "action": "ENABLE"})
