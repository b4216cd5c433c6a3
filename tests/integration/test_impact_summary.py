"""Issue 13, "did it help / is it earning": GET /summary and the impact of applied changes,
against simnode's ground truth — real LNbits + simnode on one simulated clock.

Ground truth is simnode's own record of its forwards (GET /sim/revenue: the forwards whose
second is in [from, to), node-wide and per outgoing channel), never the extension's
reading of /v1/switch. The tests share one node (`node_env`) and run in order: a manual
change, two simulated days, a run applied as a batch, a later change of the same channel,
then a rollback, a change made elsewhere, a blocked and a failed apply for the activity
counts.
"""

from __future__ import annotations

import pytest

from tests.integration.answer_oracle import assert_is_the_models_json

DAY = 86_400
# The extension's clock runs on in real time between simnode's steps and is set back to
# simnode's at each advance (devtools/testenv.py): a window measured "now" differs from the
# simulated time by a few seconds (a slow machine: minutes).
SLACK_S = 600

pytestmark = pytest.mark.timeout(900)

state: dict = {}


def truth(env, start: int, end: int, chan: str | None = None) -> dict:
    revenue = env.simnode.revenue(start, end)
    if chan is None:
        return revenue
    return revenue["channels"].get(chan, {"forwards": 0, "fees_msat": 0, "volume_out_sat": 0})


def assert_matches(window: dict, expected: dict, what: str) -> None:
    got = (window["fees_sat"], window["forwards"], window["volume_sat"])
    want = (expected["fees_msat"] / 1000, expected["forwards"], expected["volume_out_sat"])
    assert got == want, (what, window, expected)


def summary(env, **params) -> dict:
    response = env.api("GET", "/summary", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def share(channel: dict) -> float:
    local, remote = channel["local_msat"] // 1000, channel["remote_msat"] // 1000
    return local / (local + remote)


def assert_summary_is_simnodes(env, body: dict) -> None:
    at = body["at"]
    assert [p["key"] for p in body["periods"]] == ["1d", "7d", "30d"]
    assert [(p["label"], p["days"]) for p in body["periods"]] == [("Last 24 h", 1), ("Last 7 days", 7), ("Last 30 days", 30)]
    for period in body["periods"]:
        span = period["days"] * DAY
        current, previous = truth(env, at - span, at + 1), truth(env, at - 2 * span, at - span)
        assert_matches(period, current, period["key"])
        assert (period["previous_fees_sat"], period["previous_forwards"], period["previous_volume_sat"]) == (
            previous["fees_msat"] / 1000, previous["forwards"], previous["volume_out_sat"]), period
        if previous["fees_msat"]:
            expected = (current["fees_msat"] - previous["fees_msat"]) / previous["fees_msat"] * 100
            assert period["change_pct"] == pytest.approx(expected), period
        else:
            assert period["change_pct"] is None, period
    # The channels now: simnode's open channels (it lists neither pending nor closed ones here).
    channels = env.state()["channels"]
    assert body["capacity_sat"] == sum(c["capacity_sat"] for c in channels)
    assert body["channels"]["open"] == len(channels)
    assert body["channels"]["active"] == sum(1 for c in channels if c["active"])
    assert body["channels"]["drained"] == sum(1 for c in channels if share(c) < body["drained_below"])
    assert body["channels"]["full"] == sum(1 for c in channels if share(c) > body["full_above"])
    month = truth(env, at - 30 * DAY, at + 1)
    assert body["yield_annual_pct"] == pytest.approx(month["fees_msat"] / 1000 / body["capacity_sat"] * 365 / 30 * 100)


def test_the_summary_is_simnodes_revenue_over_every_window(node_env):
    # Everything this module does comes after this second (the start-up runs are in earlier ones).
    startup = node_env.api("GET", "/runs").json()["data"]
    state["module_start"] = max(r["created_at"] for r in startup) + 1
    first = summary(node_env)
    assert first["drained_below"] == 0.15 and first["full_above"] == 0.85  # the engine's flow_censor_share
    assert first["since"] is None and first["activity_since"] == first["at"] - 7 * DAY
    assert_summary_is_simnodes(node_env, first)
    # simnode's history reaches 14 days back: the week and the day before it earned something
    assert first["periods"][1]["fees_sat"] > 0 and first["periods"][1]["previous_fees_sat"] > 0
    node_env.advance(hours=26)
    later = summary(node_env)
    assert later["at"] >= first["at"] + 26 * 3600 - SLACK_S
    assert_summary_is_simnodes(node_env, later)
    day = later["periods"][0]
    assert day["forwards"] > 0 and day["previous_forwards"] > 0 and day["fees_sat"] != first["periods"][0]["fees_sat"]


def busiest_channel(env) -> dict:
    """The active channel that forwarded most in the last two days (both windows have forwards)."""
    now = int(env.state()["now"])
    per = truth(env, now - 2 * DAY, now + 1)["channels"]
    active = {c["chan_id"]: c for c in env.state()["channels"] if c["active"]}
    chan = max((c for c in per if c in active), key=lambda c: per[c]["forwards"])
    return active[chan]


def raised(policy: dict) -> dict:
    """A raise every guardrail lets through: at least the minimum change, at most the max step."""
    return {"base_msat": policy["base_msat"], "ppm": policy["ppm"] + max(10, round(policy["ppm"] * 0.2))}


def impact_of(env, change_id: str) -> dict:
    response = env.api("GET", f"/changes/{change_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["impact_error"] is None, body
    return body["impact"]


def assert_impact_is_simnodes(env, impact: dict, chan: str) -> None:
    at, w = impact["at"], impact["window_s"]
    assert (impact["before"]["from"], impact["before"]["to"]) == (at - w, at)
    assert (impact["after"]["from"], impact["after"]["to"]) == (at, at + w)
    assert_matches(impact["before"], truth(env, at - w, at, chan), "before")
    assert_matches(impact["after"], truth(env, at, at + w, chan), "after")


def test_a_changes_impact_is_simnodes_outgoing_forwards_of_the_channel_before_and_after(node_env):
    channel = busiest_channel(node_env)
    chan = channel["chan_id"]
    response = node_env.api("PUT", f"/channels/{chan}/policy", json=raised(channel["policy"]))
    assert response.status_code == 200, response.text
    change = response.json()
    assert change["status"] == "applied"
    at = change["settled_at"]
    state.update(chan=chan, change=change)

    # Just applied: windows of a few seconds, not complete.
    fresh = impact_of(node_env, change["id"])
    assert fresh["at"] == at and 0 <= fresh["window_s"] < SLACK_S and not fresh["complete"]
    assert_impact_is_simnodes(node_env, fresh, chan)

    # A day later a run stores a snapshot (the after-window's local share), a day after that we look.
    node_env.advance(hours=24)
    node_env.dry_run()
    share_then = share(node_env.channel_truth()[chan])
    node_env.advance(hours=24)

    impact = impact_of(node_env, change["id"])
    assert abs(impact["window_s"] - 2 * DAY) < SLACK_S and not impact["complete"]
    assert impact["superseded_at"] is None
    assert_impact_is_simnodes(node_env, impact, chan)
    # simnode stopped at at + 2 days: the after-window holds every forward since the change. (The
    # window itself comes from the extension's clock, which may be a second past simnode's, so
    # simnode's last second can fall inside it; compare with all simnode did, not with [at, at + 2 d).)
    assert_matches(impact["after"], truth(node_env, at, at + 2 * DAY + SLACK_S, chan), "after: every forward since")
    assert impact["before"]["forwards"] > 0 and impact["after"]["forwards"] > 0
    # only the forwards that left through this channel: the node earned more than it in the window
    assert truth(node_env, at, at + 2 * DAY + SLACK_S)["fees_msat"] > impact["after"]["fees_sat"] * 1000
    assert impact["after"]["local_share"] == pytest.approx(share_then, abs=1e-6)

    # The before-window's share: the start-up runs' snapshots, each holding until the next, the last until `at`.
    history = node_env.api("GET", f"/channels/{chan}/history", params={"days": 30}).json()
    points = [p for p in history["points"] if at - impact["window_s"] <= p["at"] < at]
    assert points, history["points"]
    ends = [p["at"] for p in points[1:]] + [at]
    expected = sum(p["local_sat"] / (p["local_sat"] + p["remote_sat"]) * (end - p["at"]) for p, end in zip(points, ends))
    assert impact["before"]["local_share"] == pytest.approx(expected / (at - points[0]["at"]))

    # The same impact in the list and the channel's history.
    listed = node_env.api("GET", "/changes", params={"chan_id": chan}).json()
    assert listed["impact_error"] is None
    assert next(c for c in listed["data"] if c["id"] == change["id"])["impact"] == impact
    assert history["impact_error"] is None
    assert next(c for c in history["changes"] if c["id"] == change["id"])["impact"] == impact


def test_a_runs_impact_sums_its_applied_changes_over_one_window(node_env):
    run = node_env.dry_run()
    assert node_env.api("GET", f"/runs/{run['id']}").json()["impact"] is None  # nothing applied
    chosen = [d["id"] for d in run["decisions"] if d["accepted"] and d["chan_id"] != state["chan"]]
    assert len(chosen) >= 2, [(d["chan_id"], d["reason"]) for d in run["decisions"]]
    applied = node_env.api("POST", f"/runs/{run['id']}/apply", json={"decision_ids": chosen[:3]})
    assert applied.status_code == 200, applied.text
    outcomes = [o for o in applied.json()["outcomes"] if o["status"] == "applied"]
    assert len(outcomes) >= 2, applied.json()
    node_env.advance(hours=24)

    response = node_env.api("GET", f"/runs/{run['id']}")
    assert_is_the_models_json(response, "RunDetail")  # the impact too: its `from`, `to` aliases
    body = response.json()
    impact = body["impact"]
    assert body["impact_error"] is None and impact["changes"] == len(outcomes)
    changes = [impact_of(node_env, o["change_id"]) | {"chan_id": o["chan_id"]} for o in outcomes]
    w = impact["window_s"]
    assert w == min(c["window_s"] for c in changes) and abs(w - DAY) < SLACK_S and not impact["complete"]
    assert impact["at"] == min(c["at"] for c in changes)
    before = {"fees_msat": 0, "forwards": 0, "volume_out_sat": 0}
    after = dict(before)
    for change in changes:
        for total, start, end in ((before, change["at"] - w, change["at"]), (after, change["at"], change["at"] + w)):
            row = truth(node_env, start, end, change["chan_id"])
            for key in total:
                total[key] += row[key]
    assert (impact["before"]["forwards"], impact["before"]["volume_sat"]) == (before["forwards"], before["volume_out_sat"])
    assert (impact["after"]["forwards"], impact["after"]["volume_sat"]) == (after["forwards"], after["volume_out_sat"])
    assert impact["before"]["fees_sat"] == pytest.approx(before["fees_msat"] / 1000)
    assert impact["after"]["fees_sat"] == pytest.approx(after["fees_msat"] / 1000)
    assert impact["before"]["forwards"] + impact["after"]["forwards"] > 0
    state["run_changes"] = len(outcomes)


def test_a_later_change_of_the_channel_supersedes_without_cutting_the_window(node_env):
    chan, first = state["chan"], state["change"]
    live = node_env.channel_truth()[chan]["policy"]
    response = node_env.api("PUT", f"/channels/{chan}/policy", json=raised(live))
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["status"] == "applied"
    state["second"] = second
    # At the second it is applied it is at the after-window's end (excluded): nothing it affected yet.
    node_env.advance(hours=1)
    impact = impact_of(node_env, first["id"])
    assert impact["superseded_at"] == second["settled_at"]
    assert impact["window_s"] >= 3 * DAY and impact["after"]["to"] == impact["at"] + impact["window_s"] > second["settled_at"]
    assert_impact_is_simnodes(node_env, impact, chan)
    assert impact_of(node_env, second["id"])["superseded_at"] is None


def test_the_summarys_activity_counts_what_the_log_and_the_runs_hold(node_env):
    env, chan, since = node_env, state["chan"], state["module_start"]
    # A rollback (restored), then somebody else's change found by reconcile (external).
    rollback = env.api("POST", f"/changes/{state['second']['id']}/rollback", json={})
    assert rollback.status_code == 200 and rollback.json()["status"] == "applied", rollback.text
    live = env.channel_truth()[chan]
    txid, index = live["channel_point"].split(":")
    status, _ = env.simnode.post("/v1/chanpolicy", {
        "chan_point": {"funding_txid_str": txid, "output_index": int(index)},
        "base_fee_msat": str(live["policy"]["base_msat"]), "fee_rate_ppm": live["policy"]["ppm"] + 50,
        "time_lock_delta": live["policy"]["cltv"], "max_htlc_msat": str(live["policy"]["max_htlc_msat"]),
        "min_htlc_msat": str(live["policy"]["min_htlc_msat"]), "min_htlc_msat_specified": True,
    })
    assert status == 200
    assert [c["chan_id"] for c in env.api("POST", "/reconcile", json={}).json()["external"]] == [chan]

    # A proposal blocked at apply time (its channel pinned since the run) and a write the node refuses.
    env.advance(hours=49)
    run = env.dry_run()
    decision = next(d for d in run["decisions"] if d["accepted"])
    assert env.api("PUT", f"/channels/{decision['chan_id']}/pin", json={"pinned": True}).status_code == 200
    try:
        outcome = env.api("POST", f"/decisions/{decision['id']}/apply").json()["outcomes"][0]
        assert outcome["status"] == "blocked" and outcome["rule"] == "pinned", outcome
    finally:
        assert env.api("PUT", f"/channels/{decision['chan_id']}/pin", json={"pinned": False}).status_code == 200
    other = next(c for c in env.state()["channels"] if c["active"] and c["chan_id"] not in (chan, decision["chan_id"]))
    env.simnode.set_faults({"path": "/v1/chanpolicy", "status": 400, "times": 1})
    try:
        failed = env.api("PUT", f"/channels/{other['chan_id']}/policy", json=raised(other["policy"]))
    finally:
        env.simnode.clear_faults()
    assert failed.status_code == 200 and failed.json()["status"] == "failed", failed.text

    body = summary(env, since=since)
    assert body["since"] == since and body["activity_since"] == since
    activity = body["activity"]
    log = env.api("GET", "/changes", params={"since": since, "limit": 500}).json()
    # The log's own rows, counted here from the rules.
    assert activity["applied"] == 2 + state["run_changes"] == sum(
        1 for c in log["data"] if c["source"] in ("autopilot", "manual") and c["status"] == "applied" and not c["rollback_of"])
    assert activity["restored"] == 1 and activity["external"] == 1 and activity["failed"] == 1
    assert (activity["blocked_at_apply"], activity["blocked_in_cycles"], activity["blocked"]) == (1, 0, 1)
    runs = env.api("GET", "/runs", params={"limit": 200}).json()["data"]
    assert activity["runs"] == sum(1 for r in runs if r["created_at"] >= since) == 3, ([(r["kind"], r["created_at"], r["status"]) for r in runs], since)
    # Only applied changes have an impact.
    for change in log["data"]:
        assert (change["impact"] is not None) == (change["status"] == "applied"), change
    # From a later `since`, the earlier activity is left out.
    recent = summary(env, since=run["created_at"])["activity"]
    assert (recent["applied"], recent["restored"], recent["external"], recent["failed"], recent["blocked"]) == (0, 0, 0, 1, 1)
    assert recent["runs"] == 1



def test_the_change_log_stays_readable_when_the_forwarding_history_is_not(node_env):
    env = node_env
    env.simnode.set_faults({"path": "/v1/switch", "status": 500})
    try:
        page = env.api("GET", "/changes")
        one = env.api("GET", f"/changes/{state['change']['id']}")
        run = env.api("GET", "/runs", params={"limit": 1}).json()["data"][0]
        detail = env.api("GET", f"/runs/{run['id']}")
        summary_answer = env.api("GET", "/summary")
    finally:
        env.simnode.clear_faults()
    assert page.status_code == 200 and one.status_code == 200 and detail.status_code == 200
    assert "did not answer" in page.json()["impact_error"], page.json()["impact_error"]
    assert all(c["impact"] is None for c in page.json()["data"])
    assert one.json()["impact"] is None and one.json()["impact_error"]
    # the summary is only about the node: its error, as GET /earnings answers it
    assert summary_answer.status_code == 502, summary_answer.text
    assert impact_of(env, state["change"]["id"]) is not None  # and back once the node answers

# --- the same queries on Postgres ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_session(simnode, tmp_path_factory):
    from devtools.postgres import TempPostgres
    from devtools.testenv import quiet_schedule, start_host_session

    with TempPostgres() as postgres:
        session = start_host_session(
            tmp_path_factory.mktemp("lnbits-pg-insights"),
            backend="LndRestWallet",
            lnd_endpoint=simnode.url,
            macaroon=simnode.macaroon,
            extra_env={"LNBITS_DATABASE_URL": postgres.url},
        )
        quiet_schedule(session)
        yield session
        session.host.stop()


def test_summary_and_impact_on_postgres(pg_session, simnode):
    api = "/feepilot/api/v1"
    with pg_session.client(pg_session.super_token) as client:
        run = client.post(f"{api}/runs", json={"dry_run": True}, timeout=300).json()
        decision = next(d for d in run["decisions"] if d["accepted"])
        outcome = client.post(f"{api}/decisions/{decision['id']}/apply").json()["outcomes"][0]
        assert outcome["status"] == "applied", outcome
        rollback = client.post(f"{api}/changes/{outcome['change_id']}/rollback", json={})
        assert rollback.status_code == 200 and rollback.json()["status"] == "applied", rollback.text

        body = client.get(f"{api}/summary", params={"since": 0})
        assert body.status_code == 200, body.text
        body = body.json()
        activity = body["activity"]
        assert (activity["applied"], activity["restored"], activity["failed"], activity["external"]) == (1, 1, 0, 0)
        assert activity["blocked_at_apply"] == 0 and activity["blocked_in_cycles"] >= 0
        assert activity["runs"] == client.get(f"{api}/runs").json()["total"]
        day = body["periods"][0]
        truth = simnode.revenue(body["at"] - DAY, body["at"] + 1)
        assert (day["fees_sat"], day["forwards"]) == (truth["fees_msat"] / 1000, truth["forwards"])

        changes = client.get(f"{api}/changes").json()
        assert changes["impact_error"] is None and len(changes["data"]) == 2
        assert all(c["impact"] is not None for c in changes["data"])
        applied = next(c for c in changes["data"] if c["id"] == outcome["change_id"])
        undone_at, impact = rollback.json()["settled_at"], applied["impact"]
        # the rollback supersedes it once its second is inside the after-window (not in the same second as now)
        expected = undone_at if undone_at < impact["at"] + impact["window_s"] else None
        assert impact["superseded_at"] == expected, (impact, undone_at)
        detail = client.get(f"{api}/runs/{run['id']}").json()
        assert detail["impact_error"] is None and detail["impact"]["changes"] == 1
        history = client.get(f"{api}/channels/{decision['chan_id']}/history").json()
        assert [c["impact"] is not None for c in history["changes"]] == [True, True]
