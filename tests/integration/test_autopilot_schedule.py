"""Issue 6: the schedule in simulated time, shadow/autopilot/off, activation,
a host without a node API, the event loop while a cycle thinks, settings."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest

from devtools.testenv import start_host_session, start_node_env

DAY = 86400
TICK_S = 2.0  # tasks.TICK_S
# A live schedule starts a cycle that is due within this: it looks every TICK_S, and a cycle
# first settles with the node. The tests that check that nothing runs watch this long, and
# each proves in the same test that a due cycle is indeed seen within it.
WINDOW_S = 4 * TICK_S
FIRST_CYCLE_DELAY_S = 30  # tasks.FIRST_CYCLE_DELAY_S: a schedule (re)started waits this long


def runs(env, kind: str | None = None) -> list[dict]:
    data = env.api("GET", "/runs?limit=200").json()["data"]
    return [r for r in data if kind is None or r["kind"] == kind]


def wait_for_runs(env, kind: str, count: int, timeout: float = 180) -> list[dict]:
    # generous: a cycle whose graph cache expired recomputes the metrics (~15 s, ~50 s on a busy machine)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in runs(env, kind) if r["status"] not in ("running",)]
        # and the cycle has ended: an autopilot run's batch (and a rollback of it) comes after
        # its scores, and a clock moved during the batch would write at the next simulated step
        if len(found) >= count and not status(env)["cycle_running"]:
            return found
        time.sleep(0.3)
    raise AssertionError(f"expected {count} {kind} runs, have {len(runs(env, kind))}: {env.session.host.log_tail(20)}")


def status(env) -> dict:
    return env.api("GET", "/status").json()


def ext_now(env) -> float:
    """The extension's clock (clock.py): real time plus the simulated offset."""
    return time.time() + float(env.clock_file.read_text())


def wait_status(env, predicate, what: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        current = status(env)
        if predicate(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"the status never showed {what}: {current}")
        time.sleep(0.2)


def wait_idle(env, timeout: float = 120) -> None:
    """No run is computing."""
    deadline = time.monotonic() + timeout
    while any(r["status"] == "running" for r in runs(env)):
        assert time.monotonic() < deadline, runs(env)[:3]
        time.sleep(0.3)


def new_run_within(env, known: set, seconds: float) -> dict:
    """The first run not in `known`, which must appear within `seconds`."""
    started = time.monotonic()
    while True:
        fresh = [r for r in runs(env) if r["id"] not in known]
        if fresh:
            return fresh[-1]  # newest first: the oldest of the new ones
        elapsed = time.monotonic() - started
        assert elapsed < seconds, f"no new run within {seconds} s: {env.session.host.log_tail(20)}"
        time.sleep(0.2)


def no_new_run_for(env, known: set, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fresh = [r for r in runs(env) if r["id"] not in known]
        assert fresh == [], f"a run started: {fresh}"
        time.sleep(0.5)


def test_shadow_mode_records_runs_over_days_and_never_writes(node_env):
    node_env.api("PUT", "/settings", json={"mode": "shadow", "interval_minutes": 60}).raise_for_status()
    try:
        # The cycle's forwarding-history read answers 4 s late (only a cycle reads it, status does
        # not), so the status must show the cycle running, then ended. A cached graph makes a cycle
        # too quick to catch otherwise.
        node_env.simnode.set_faults({"path": "/v1/switch", "latency_ms": 4000, "times": 1})
        try:
            node_env.advance(hours=6)
            wait_status(node_env, lambda st: st["cycle_running"], "a cycle running", timeout=60)
            wait_for_runs(node_env, "shadow", 1)
        finally:
            node_env.simnode.clear_faults()
        assert status(node_env)["cycle_running"] is False
        for step in range(2, 9):  # two simulated days, a cycle every 6 h
            node_env.advance(hours=6)
            shadow = wait_for_runs(node_env, "shadow", step)
        assert len(shadow) == 8
        assert {r["status"] for r in shadow} == {"completed"}
        detail = node_env.api("GET", f"/runs/{shadow[0]['id']}").json()
        would = [d for d in detail["decisions"] if d["accepted"]]
        assert would and {d["status"] for d in would} == {"would_apply"}
        truth = node_env.state()
        assert truth["totals"]["policy_updates"] == 0
        assert truth["chanpolicy_requests"] == []
    finally:
        node_env.api("PUT", "/settings", json={"mode": "off"}).raise_for_status()


def test_autopilot_applies_and_respects_the_cooldown_and_the_relay_budget(node_env):
    dropped_before = {c["chan_id"]: c["gossip"]["suppressed"] for c in node_env.state()["channels"]}
    node_env.api("PUT", "/settings", json={"mode": "autopilot", "interval_minutes": 60}).raise_for_status()
    try:
        for step in range(1, 13):  # three simulated days, a cycle every 6 h
            node_env.advance(hours=6)
            wait_for_runs(node_env, "autopilot", step)
    finally:
        node_env.api("PUT", "/settings", json={"mode": "off"}).raise_for_status()
    autopilot = runs(node_env, "autopilot")
    assert any(r["status"] == "applied" for r in autopilot), [r["status"] for r in autopilot]
    truth = node_env.state()
    assert truth["totals"]["policy_updates"] > 0
    # At least the urgent cooldown (2 h) between two updates of a channel (the 24 h daily one and
    # which change was urgent are pinned by the engine's unit and property tests), and simnode's
    # CLN bucket relayed every update (the engine's relay budget holds).
    changes = node_env.api("GET", "/changes?limit=500").json()["data"]
    for channel in truth["channels"]:
        dropped = channel["gossip"]["suppressed"] - dropped_before.get(channel["chan_id"], 0)
        assert dropped == 0, (channel["chan_id"], channel["policy_update_times"])
        times = sorted(channel["policy_update_times"])
        for earlier, later in zip(times, times[1:]):
            assert later - earlier >= 2 * 3600, (
                channel["chan_id"], times,
                [e for e in truth["policy_log"] if e["chan_id"] == channel["chan_id"]],
                [(c["created_at"], c["run_id"], c["decision_id"], c["batch_id"], c["reason"]) for c in changes
                 if c["chan_id"] == channel["chan_id"]])
    assert changes and {c["status"] for c in changes} == {"applied"}
    assert {c["source"] for c in changes} == {"autopilot"}


def test_off_runs_nothing(node_env):
    node_env.api("PUT", "/settings", json={"mode": "off"}).raise_for_status()
    # the schedule is alive and has seen "off" (no next run); nothing is computing
    wait_status(node_env, lambda st: st["schedule_running"] and st["next_run_at"] is None, "a running schedule, off")
    wait_idle(node_env)
    known = {r["id"] for r in runs(node_env)}
    updates = node_env.state()["totals"]["policy_updates"]
    for _ in range(3):
        node_env.advance(hours=12)  # cycles would be due, were the mode not off
        no_new_run_for(node_env, known, WINDOW_S)
    assert node_env.state()["totals"]["policy_updates"] == updates
    current = status(node_env)
    assert current["mode"] == "off" and current["next_run_at"] is None and current["schedule_running"] is True
    # The same schedule, in the same window, runs the due cycle once the mode allows it: the
    # watch above was long enough to see one.
    node_env.api("PUT", "/settings", json={"mode": "shadow", "interval_minutes": 60}).raise_for_status()
    try:
        run = new_run_within(node_env, known, WINDOW_S)
        assert run["kind"] == "shadow"
    finally:
        node_env.api("PUT", "/settings", json={"mode": "off"}).raise_for_status()
        wait_idle(node_env)


def test_deactivating_stops_the_schedule_and_activating_resumes_it(node_env):
    node_env.api("PUT", "/settings", json={"mode": "shadow", "interval_minutes": 60}).raise_for_status()
    host = node_env.session.host
    try:
        wait_status(node_env, lambda st: st["schedule_running"] and st["next_run_at"] is not None, "the next run")
        wait_idle(node_env)
        # Positive: while the extension is active, a cycle that becomes due starts within WINDOW_S.
        node_env.advance(hours=6)
        new_run_within(node_env, {r["id"] for r in runs(node_env)}, WINDOW_S)
        wait_idle(node_env)
        known = {r["id"] for r in runs(node_env)}

        with node_env.client() as client:
            client.put("/api/v1/extension/feepilot/deactivate").raise_for_status()
            assert client.get("/feepilot/api/v1/status").status_code == 404
        node_env.advance(hours=6)  # a cycle is due now: a schedule still alive would start it within WINDOW_S
        time.sleep(WINDOW_S)
        resumed_at = ext_now(node_env)
        with node_env.client() as client:
            client.put("/api/v1/extension/feepilot/activate").raise_for_status()
        host.wait_extension_loaded(node_env.session.super_token)

        # The restarted schedule runs the cycle that is due, once its start-up delay is over;
        # had one run while the extension was off, this one would not be due (interval 60 min),
        # and the one run would be older.
        first = new_run_within(node_env, known, FIRST_CYCLE_DELAY_S + 60)
        assert first["kind"] == "shadow", first
        assert first["created_at"] >= int(resumed_at) + FIRST_CYCLE_DELAY_S, (first, resumed_at)
        wait_idle(node_env)
        assert [r["id"] for r in runs(node_env) if r["id"] not in known] == [first["id"]]
        assert status(node_env)["schedule_running"] is True
        # and it keeps going
        node_env.advance(hours=6)
        new_run_within(node_env, known | {first["id"]}, WINDOW_S)
    finally:
        node_env.api("PUT", "/settings", json={"mode": "off"}).raise_for_status()
        wait_idle(node_env)


@pytest.fixture(scope="module")
def fake_env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fake-clock")
    clock_file = workdir / "clock-offset"
    clock_file.write_text("0")
    session = start_host_session(workdir, backend="FakeWallet", extra_env={"FEEPILOT_CLOCK_FILE": str(clock_file)})
    yield session, clock_file
    session.host.stop()


def test_a_host_without_node_api_records_skipped_runs_without_errors(fake_env):
    session, clock_file = fake_env
    with session.client(session.super_token) as client:
        client.put("/feepilot/api/v1/settings", json={"mode": "shadow", "interval_minutes": 5}).raise_for_status()
        clock_file.write_text(str(3 * 3600))  # past the start-up grace and an interval
        deadline = time.monotonic() + 30
        skipped = []
        while time.monotonic() < deadline and not skipped:
            skipped = [r for r in client.get("/feepilot/api/v1/runs").json()["data"] if r["status"] == "skipped"]
            time.sleep(0.3)
    assert skipped, session.host.log_tail(30)
    assert skipped[0]["kind"] == "shadow"
    assert "FakeWallet" in skipped[0]["reason"] and "LndRestWallet" in skipped[0]["reason"]
    log = session.host.log_path.read_text()
    feepilot_errors = [
        line for line in log.splitlines() if "feepilot" in line and ("ERROR" in line or "Traceback" in line)
    ]
    assert feepilot_errors == []


def test_lnbits_keeps_answering_while_a_cycle_computes_graph_metrics(tmp_path):
    """A cold cycle on the 2024 graph (graph download, parse, metrics) must leave LNbits' event
    loop answering: no phase of it on the loop, and no steady interference with the loop."""
    env = start_node_env(tmp_path)
    try:
        # The graph work an operator's host does: the default centrality pivots, not the tests' few.
        env.api("PUT", "/settings", json={"engine": {"graph": {"betweenness_samples": 500}}}).raise_for_status()
        # Make the next cycle cold: the graph changes (a policy of ours) and the
        # cached copy expires, so it is downloaded, parsed and measured again.
        truth = env.state()["channels"][0]
        txid, index = truth["channel_point"].split(":")
        status, _ = env.simnode.post(
            "/v1/chanpolicy",
            {
                "chan_point": {"funding_txid_str": txid, "output_index": int(index)},
                "base_fee_msat": str(truth["policy"]["base_msat"]),
                "fee_rate_ppm": truth["policy"]["ppm"] + 7,
                "time_lock_delta": truth["policy"]["cltv"],
            },
        )
        assert status == 200
        env.advance(hours=7)
        done = threading.Event()
        result: dict = {}

        def run_cycle() -> None:
            result["response"] = env.api("POST", "/runs", json={"dry_run": True})
            done.set()

        latencies: list[float] = []
        worker = threading.Thread(target=run_cycle)
        with httpx.Client(base_url=env.session.url, timeout=10) as probe:
            probe.get("/api/v1/health")
            worker.start()
            started = time.monotonic()
            while not done.is_set():
                sent = time.monotonic()
                assert probe.get("/api/v1/health").status_code == 200
                latencies.append(time.monotonic() - sent)
                time.sleep(0.02)
            elapsed = time.monotonic() - started
        worker.join()
        assert result["response"].status_code == 201, result["response"].text
        assert result["response"].json()["status"] == "completed"
        log = env.session.host.log_path.read_text()
        assert elapsed > 2, "the cycle was cold: it downloaded the graph and computed metrics"
        worst = max(latencies)
        p99 = sorted(latencies)[int(len(latencies) * 0.99)]
        print(f"health during a cold cycle: {len(latencies)} probes over {elapsed:.1f} s, "
              f"median {statistics.median(latencies) * 1000:.0f} ms, 99th percentile {p99 * 1000:.0f} ms, "
              f"worst {worst * 1000:.0f} ms")
        # Two bounds, each against its own failure:
        # - a phase of the cycle on the loop: decoding this graph takes 2 s and its metrics 1-8 s
        #   (the log's figures), so any of them there is one stall of seconds. Single stalls of a few
        #   hundred ms are full garbage collections of LNbits' whole heap (some 440,000 tracked
        #   objects: 110-170 ms on this machine when idle, 280-340 ms with it loaded; a loaded CI run
        #   had one stall of 697 ms). Our objects in LNbits' process set them off sooner (fewer since
        #   bench/run_answer.py's change), but the collector is the host's: not ours to tune.
        # - steady interference: the heavy work in threads of LNbits' process (FEEPILOT_WORKER=thread)
        #   holds the GIL often enough to give a 99th percentile of about 220 ms; in the worker
        #   process it is 6 ms idle and 24 ms with both cores busy elsewhere.
        # The figures an operator can rely on come from `make bench-host` (bench/host_impact.py).
        assert worst < 1.5, f"the event loop was blocked for {worst * 1000:.0f} ms"
        assert p99 < 0.15, f"1 in 100 health probes waited {p99 * 1000:.0f} ms or more"
        assert log.count("graph metrics computed") >= 2, "the measured cycle recomputed the metrics"
        worker = env.api("GET", "/status").json()["worker"]
        assert worker["mode"] == "process" and worker["running"], worker  # the work was not in LNbits' process
    finally:
        env.session.host.stop()
        env.simnode.stop()


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"mode": "turbo"}, "mode"),
        ({"interval_minutes": 4}, "interval_minutes"),
        ({"interval_minutes": "hourly"}, "interval_minutes"),
        ({"retention_days": 0}, "retention_days"),
        ({"batch_rollback": "yes"}, "batch_rollback"),
        ({"colour": "blue"}, "colour"),
        ({"engine": {"weights": {"centrality": -0.2}}}, "engine.weights.centrality"),
        ({"engine": {"weights": {"centrality": 0.9}}}, "engine.weights"),
        ({"engine": {"guardrails": {"min_ppm": 900, "max_ppm": 100}}}, "engine.guardrails.min_ppm"),
        ({"engine": {"guardrails": {"max_pmm": 100}}}, "engine.guardrails.max_pmm"),
        ({"engine": {"anti_oscillation": {"cooldown_hours": -1}}}, "engine.anti_oscillation.cooldown_hours"),
    ],
)
def test_bad_settings_get_422_naming_the_field_and_change_nothing(lnbits, patch, field):
    with lnbits.client(lnbits.super_token) as client:
        before = client.get("/feepilot/api/v1/settings").json()
        history = client.get("/feepilot/api/v1/settings/history").json()
        response = client.put("/feepilot/api/v1/settings", json=patch)
        assert response.status_code == 422, response.text
        body = response.json()
        assert field in [e["field"] for e in body["errors"]], body
        assert next(e["label"] for e in body["errors"] if e["field"] == field) in body["detail"]
        assert client.get("/feepilot/api/v1/settings").json() == before
        assert client.get("/feepilot/api/v1/settings/history").json() == history


def test_settings_changes_are_recorded_and_need_the_super_user(lnbits):
    with lnbits.client(lnbits.admin_token) as admin:
        assert admin.get("/feepilot/api/v1/settings").status_code == 200
        assert admin.put("/feepilot/api/v1/settings", json={"interval_minutes": 30}).status_code == 403
    with lnbits.client(lnbits.super_token) as client:
        old = client.get("/feepilot/api/v1/settings").json()["interval_minutes"]
        response = client.put("/feepilot/api/v1/settings", json={"interval_minutes": old + 15})
        assert response.status_code == 200 and response.json()["interval_minutes"] == old + 15
        latest = client.get("/feepilot/api/v1/settings/history").json()[0]
        assert latest["changed_by"] == lnbits.host.super_user_id
        assert latest["old"]["interval_minutes"] == old and latest["new"]["interval_minutes"] == old + 15
        client.put("/feepilot/api/v1/settings", json={"interval_minutes": old}).raise_for_status()


def test_retention_prunes_scores_but_keeps_runs_and_changes(node_env):
    wait_idle(node_env)
    changes = node_env.api("GET", "/changes?limit=500").json()["data"]
    assert changes, "the autopilot test above applied changes"
    chan = changes[0]["chan_id"]
    before_runs = runs(node_env)
    assert len(before_runs) < 200, "runs() sees them all"
    old_run = next(r for r in before_runs if r["kind"] == "shadow")
    old_decisions = node_env.api("GET", f"/runs/{old_run['id']}").json()["decisions"]
    before = node_env.api("GET", f"/channels/{chan}/history?days=30").json()
    # there is something to prune: scores and snapshots of earlier runs, and changes to keep
    assert before["scores"] and before["points"] and before["changes"], before
    node_env.api("PUT", "/settings", json={"retention_days": 1, "mode": "shadow"}).raise_for_status()
    try:
        node_env.advance(hours=72)  # everything above is now more than a day old
        run = new_run_within(node_env, {r["id"] for r in before_runs}, 60)
        cutoff = run["created_at"] - DAY  # the cycle prunes at or after its run started

        def pruned(history: dict) -> bool:
            return all(p["at"] >= cutoff for p in history["points"]) and all(
                sc["created_at"] >= cutoff for sc in history["scores"])

        deadline = time.monotonic() + 60
        after = node_env.api("GET", f"/channels/{chan}/history?days=30").json()
        while not pruned(after):
            assert time.monotonic() < deadline, "the old scores and snapshots were never pruned"
            time.sleep(0.5)
            after = node_env.api("GET", f"/channels/{chan}/history?days=30").json()
    finally:
        node_env.api("PUT", "/settings", json={"retention_days": 90, "mode": "off"}).raise_for_status()
        wait_idle(node_env)
    # read again once the new run has stored its scores (the pruning comes before the cycle computes)
    after = node_env.api("GET", f"/channels/{chan}/history?days=30").json()
    # the old scores and snapshots are gone, the new run's are there
    assert not {sc["created_at"] for sc in after["scores"]} & {sc["created_at"] for sc in before["scores"]}
    assert not {p["at"] for p in after["points"]} & {p["at"] for p in before["points"]}
    assert any(sc["created_at"] >= run["created_at"] for sc in after["scores"]), after["scores"]
    assert any(p["at"] >= run["created_at"] for p in after["points"]), after["points"]
    # runs, their decisions and the changes all stay
    assert {r["id"] for r in before_runs} <= {r["id"] for r in runs(node_env)}
    assert node_env.api("GET", f"/runs/{old_run['id']}").json()["decisions"] == old_decisions
    assert [c["id"] for c in after["changes"]] == [c["id"] for c in before["changes"]]
    kept = {c["id"] for c in node_env.api("GET", "/changes?limit=500").json()["data"]}
    assert {c["id"] for c in changes} <= kept
