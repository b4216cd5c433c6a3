"""Issue 16: inbound fees managed end to end, in a real LNbits on simnode.

With management on, a proposal's inbound discount rides on the same `/v1/chanpolicy` body as its
outbound fee (cltv and HTLC limits sent back unchanged); a rollback restores both. An inbound fee
the operator set by hand is never overwritten: with management off, nor with it on (unless the
channel's override opts it in). A positive inbound value is refused wherever it can be entered.
"""

from __future__ import annotations

import time
from typing import Iterator

import pytest

from devtools.testenv import NodeEnv, start_node_env

KEPT = ("cltv", "min_htlc_msat", "max_htlc_msat")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[NodeEnv]:
    node_env = start_node_env(tmp_path_factory.mktemp("inbound"))
    try:
        yield node_env
    finally:
        node_env.session.host.stop()
        node_env.simnode.stop()


def settings(env: NodeEnv, patch: dict) -> None:
    response = env.api("PUT", "/settings", json=patch)
    assert response.status_code == 200, response.text


def set_inbound_by_hand(env: NodeEnv, chan_id: str, ppm: int) -> None:
    """What an operator does with lncli updatechanpolicy: the whole policy, a new inbound fee."""
    truth = env.channel_truth()[chan_id]
    txid, index = truth["channel_point"].split(":")
    policy = truth["policy"]
    status, body = env.simnode.post("/v1/chanpolicy", {
        "chan_point": {"funding_txid_str": txid, "output_index": int(index)},
        "base_fee_msat": str(policy["base_msat"]), "fee_rate_ppm": policy["ppm"], "time_lock_delta": policy["cltv"],
        "max_htlc_msat": str(policy["max_htlc_msat"]), "min_htlc_msat": str(policy["min_htlc_msat"]),
        "min_htlc_msat_specified": True, "inbound_fee": {"base_fee_msat": 0, "fee_rate_ppm": ppm},
    })
    assert status == 200 and not body.get("failed_updates"), body
    assert env.channel_truth()[chan_id]["policy"]["inbound_ppm"] == ppm


def inbound_proposals(run: dict) -> list[dict]:
    return [d for d in run["decisions"] if d["accepted"] and d["new_policy"]
            and (d["new_policy"]["inbound_ppm"], d["new_policy"]["inbound_base_msat"])
            != (d["old_policy"]["inbound_ppm"], d["old_policy"]["inbound_base_msat"])]


def test_positive_inbound_values_are_refused_where_they_can_be_entered(env):
    before = env.api("GET", "/settings").json()
    for field, label in (("inbound_min_ppm", "Deepest inbound discount (ppm, 0 or below)"),
                         ("inbound_min_base_msat", "Deepest inbound base discount (msat, 0 or below)")):
        response = env.api("PUT", "/settings", json={"engine": {"guardrails": {field: 5}}})
        assert response.status_code == 422, response.text
        body = response.json()
        assert label in response.text and f"engine.guardrails.{field}" in {e["field"] for e in body["errors"]}, body
    response = env.api("PUT", "/settings", json={"engine": {"inbound": {"manage": "always"}}})
    assert response.status_code == 422 and "Manage inbound fees" in response.text, response.text
    # a fee set by hand through the API takes the outbound fields only
    chan_id = env.dry_run()["decisions"][0]["chan_id"]
    response = env.api("PUT", f"/channels/{chan_id}/policy", json={"base_msat": 0, "ppm": 100, "inbound_ppm": 10})
    assert response.status_code == 400 and "inbound_ppm is not a field" in response.text, response.text
    after = env.api("GET", "/settings").json()
    assert {k: v for k, v in after.items() if k != "labels"} == {k: v for k, v in before.items() if k != "labels"}


def test_an_apply_writes_outbound_and_inbound_in_one_body_and_a_rollback_restores_both(env):
    settings(env, {"engine": {"inbound": {"manage": "on"}}})
    env.advance(hours=49)  # past every cooldown
    run = env.dry_run()
    chosen = inbound_proposals(run)
    assert chosen, [(d["chan_id"], d["reason"]) for d in run["decisions"]]
    decision = chosen[0]
    chan = decision["chan_id"]
    assert decision["new_policy"]["inbound_ppm"] < 0 and "inbound" in decision["reason"], decision
    before = env.channel_truth()[chan]
    requests = len(env.state()["chanpolicy_requests"])
    response = env.api("POST", f"/decisions/{decision['id']}/apply")
    assert response.status_code == 200, response.text
    outcome = response.json()["outcomes"][0]
    assert outcome["status"] == "applied", outcome

    bodies = env.state()["chanpolicy_requests"][requests:]
    assert len(bodies) == 1  # one update: outbound and inbound together
    body = bodies[0]["body"]
    assert body["fee_rate_ppm"] == decision["new_policy"]["ppm"]
    assert int(body["base_fee_msat"]) == decision["new_policy"]["base_msat"]
    assert body["inbound_fee"] == {"base_fee_msat": decision["new_policy"]["inbound_base_msat"],
                                   "fee_rate_ppm": decision["new_policy"]["inbound_ppm"]}
    assert body["time_lock_delta"] == before["policy"]["cltv"]
    assert int(body["max_htlc_msat"]) == before["policy"]["max_htlc_msat"]
    assert int(body["min_htlc_msat"]) == before["policy"]["min_htlc_msat"]
    after = env.channel_truth()[chan]["policy"]
    assert (after["ppm"], after["inbound_ppm"], after["inbound_base_msat"]) == (
        decision["new_policy"]["ppm"], decision["new_policy"]["inbound_ppm"], decision["new_policy"]["inbound_base_msat"])
    assert all(after[k] == before["policy"][k] for k in KEPT)
    change = env.api("GET", f"/changes/{outcome['change_id']}").json()
    assert change["old_policy"]["inbound_ppm"] == before["policy"]["inbound_ppm"]
    assert change["new_policy"]["inbound_ppm"] == after["inbound_ppm"]

    response = env.api("POST", f"/changes/{outcome['change_id']}/rollback", json={})
    assert response.status_code == 200, response.text
    restored = env.channel_truth()[chan]["policy"]
    assert {k: restored[k] for k in before["policy"] if k != "last_update"} == {
        k: before["policy"][k] for k in before["policy"] if k != "last_update"}


def test_an_inbound_fee_changed_between_the_run_and_the_apply_is_not_overwritten(env):
    env.advance(hours=49)
    chosen = inbound_proposals(env.dry_run())
    assert chosen, "no inbound proposal to race"
    decision = chosen[0]
    set_inbound_by_hand(env, decision["chan_id"], -123)  # the operator, after the run and before the apply
    requests = len(env.state()["chanpolicy_requests"])
    response = env.api("POST", f"/decisions/{decision['id']}/apply")
    assert response.status_code == 200, response.text
    outcome = response.json()["outcomes"][0]
    assert outcome["status"] == "skipped" and "inbound fee changed since the run" in outcome["message"], outcome
    assert len(env.state()["chanpolicy_requests"]) == requests
    assert env.channel_truth()[decision["chan_id"]]["policy"]["inbound_ppm"] == -123


def test_an_inbound_fee_set_by_hand_is_kept_while_management_is_on(env):
    env.advance(hours=49)
    chosen = inbound_proposals(env.dry_run())
    assert chosen, "no inbound proposal to take away"
    chan = chosen[0]["chan_id"]
    set_inbound_by_hand(env, chan, -900)  # far from any discount the rule would ask for
    env.advance(hours=25)  # past the cooldown after that change
    kept = next(d for d in env.dry_run()["decisions"] if d["chan_id"] == chan)
    assert not kept["new_policy"] or kept["new_policy"]["inbound_ppm"] == -900, kept
    # at the same moment, the operator opts the channel in: its inbound fee is Fee Autopilot's to set
    # (so what kept it above was whose it is, not the pacing rules)
    settings(env, {"engine": {"guardrails": {"channel_overrides": {chan: {"manage_inbound": True}}}}})
    opted = next(d for d in env.dry_run()["decisions"] if d["chan_id"] == chan)
    assert opted["accepted"] and opted["new_policy"]["inbound_ppm"] > -900, opted
    settings(env, {"engine": {"guardrails": {"channel_overrides": {}}}})


def test_with_management_off_an_operator_set_inbound_fee_survives_three_days_of_autopilot(env):
    settings(env, {"engine": {"inbound": {"manage": "off"}}})
    active = [c for c in env.state()["channels"] if c["active"]]
    hand = {c["chan_id"]: -(11 + i) for i, c in enumerate(active[:4])}
    for chan_id, ppm in hand.items():
        set_inbound_by_hand(env, chan_id, ppm)
    env.advance(hours=1)
    env.sync_clock()
    settings(env, {"mode": "autopilot", "interval_minutes": 720})
    try:
        seen = {r["id"] for r in env.api("GET", "/runs?limit=200").json()["data"]}
        for _ in range(6):  # 3 days, a cycle every 12 hours
            env.advance(hours=12)
            deadline = time.monotonic() + 120
            while True:
                fresh = [r for r in env.api("GET", "/runs?limit=200").json()["data"] if r["id"] not in seen]
                done = fresh and all(r["status"] != "running" for r in fresh)
                if done and not env.api("GET", "/status").json()["cycle_running"]:
                    break
                assert time.monotonic() < deadline, "no autopilot cycle ran after 12 hours"
                time.sleep(0.3)
            seen |= {r["id"] for r in fresh}
    finally:
        settings(env, {"mode": "off"})
    truth = env.channel_truth()
    assert {chan: truth[chan]["policy"]["inbound_ppm"] for chan in hand} == hand
    changed = env.api("GET", "/changes?limit=500").json()["data"]
    ours = [c for c in changed if c["source"] == "autopilot" and c["status"] == "applied" and c["chan_id"] in hand]
    assert ours, "autopilot changed none of these channels: the test proves little"
    assert all(c["new_policy"]["inbound_ppm"] == hand[c["chan_id"]] for c in ours)
