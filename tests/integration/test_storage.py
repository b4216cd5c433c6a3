"""Issue 15, storage: the forwarding history we keep (synced incrementally, surviving a pruned
node), a channel's history from the compact series, the scores' ETag, and retention that prunes
on its own schedule in every mode while the change log stays."""

from __future__ import annotations

import contextlib
import gzip
import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from devtools.postgres import TempPostgres, _bin
from devtools.testenv import NodeEnv, quiet_schedule, start_host_session
from tests.integration.flow_oracle import assert_flows_are_the_sums
from simnode.testing import start_simnode

DAY = 86400
OVERLAP_S = 120  # forwards_store.OVERLAP_S
NS = 1_000_000_000


def start_env(workdir: Path, extra_env: Optional[dict] = None) -> NodeEnv:
    """devtools.testenv.start_node_env, on the database `extra_env` names."""
    node = start_simnode(seed=7, speed=0)
    clock_file = workdir / "clock-offset"
    env = NodeEnv(node, None, clock_file)  # type: ignore[arg-type]
    env.sync_clock()
    env.session = start_host_session(
        workdir, backend="LndRestWallet", lnd_endpoint=node.url, macaroon=node.macaroon,
        extra_env={"FEEPILOT_CLOCK_FILE": str(clock_file), **(extra_env or {})},
    )
    quiet_schedule(env.session)
    return env


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(request, tmp_path_factory) -> Iterator[NodeEnv]:
    """The same tests on SQLite and on Postgres: the storage's SQL (upserts, batched deletes) is
    the part that differs between them."""
    with contextlib.ExitStack() as stack:
        extra = None
        if request.param == "postgres":
            postgres = stack.enter_context(TempPostgres())
            extra = {"LNBITS_DATABASE_URL": postgres.url}
        node_env = start_env(tmp_path_factory.mktemp(f"storage-{request.param}"), extra)
        node_env.postgres = postgres if extra else None  # type: ignore[attr-defined]
        try:
            yield node_env
        finally:
            node_env.session.host.stop()
            node_env.simnode.stop()


def run_sql(env, ext_sql: list[str], core_sql: str) -> int:
    """Run statements on the extension's tables (`{s}` before a table name: its schema) and one
    on LNbits' own (LNbits stopped); the core statement's row count."""
    host = env.session.host
    if env.postgres is None:
        with sqlite3.connect(host.data_folder / "ext_feepilot.sqlite3") as ext:
            for statement in ext_sql:
                ext.execute(statement.replace("{s}", ""))
        with sqlite3.connect(host.data_folder / "database.sqlite3") as core:
            return core.execute(core_sql).rowcount
    postgres = env.postgres
    owner = ["runuser", "-u", "postgres", "--"] if postgres.as_root else []
    connect = ["-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "lnbits"]
    script = "; ".join(statement.replace("{s}", "feepilot.") for statement in ext_sql)
    subprocess.run([*owner, _bin("psql"), *connect, "-v", "ON_ERROR_STOP=1", "-c", script], check=True, capture_output=True)
    out = subprocess.run([*owner, _bin("psql"), *connect, "-c", core_sql], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1])


def ext_query(env, statement: str) -> list[tuple[str, ...]]:
    """The rows of one query on the extension's tables (`{s}` before a table name), as text."""
    if env.postgres is None:
        with sqlite3.connect(env.session.host.data_folder / "ext_feepilot.sqlite3") as ext:
            return [tuple(str(v) for v in row) for row in ext.execute(statement.replace("{s}", ""))]
    postgres = env.postgres
    owner = ["runuser", "-u", "postgres", "--"] if postgres.as_root else []
    connect = ["-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "lnbits"]
    out = subprocess.run([*owner, _bin("psql"), *connect, "-At", "-F", "\t", "-c", statement.replace("{s}", "feepilot.")],
                         check=True, capture_output=True, text=True)
    return [tuple(line.split("\t")) for line in out.stdout.splitlines() if line]


def switch_requests(env) -> int:
    return env.state()["requests"].get("POST /v1/switch", 0)


def node_forwards(env) -> list[dict]:
    return env.simnode.state(forwards=True)["forwards"]


def test_a_cycle_after_the_first_reads_only_the_new_forwards(env):
    runs = env.api("GET", "/runs?limit=200").json()["data"]  # the runs since LNbits started, newest first
    sync = runs[-1]["summary"]["forwards_sync"]  # the first run's: everything the node has
    history = node_forwards(env)
    assert sync["first"] and sync["read"] == sync["new"] == len(history) > 500, sync
    until = runs[0]["summary"]["forwards_sync"]["windows"][-1][1]  # where the last sync stopped

    env.advance(hours=6)
    before = switch_requests(env)
    run = env.dry_run()
    sync = env.api("GET", f"/runs/{run['id']}").json()["summary"]["forwards_sync"]
    assert switch_requests(env) - before == sync["requests"] == 1, sync
    assert len(sync["windows"]) == 1 and sync["windows"][0][0] == until - OVERLAP_S, sync
    start, end = sync["windows"][0]
    forwards = node_forwards(env)
    read = [f for f in forwards if start * NS <= f["ts_ns"] <= end * NS]
    new = [f for f in read if f["ts_ns"] > until * NS]
    assert new, "six hours of traffic"
    assert (sync["read"], sync["new"], sync["first"]) == (len(read), len(new), False)
    assert sync["read"] < len(forwards) / 4  # not the whole history again


def test_a_runs_flows_are_the_sums_of_the_nodes_forwards_in_its_window(env):
    """The snapshot's flows are summed by the database from the forwards we keep; the oracle is
    the rule itself over simnode's own forwards: a forward leaves through `chan_out` (its fee
    earned there) and arrives through `chan_in` (its fee assisted there), within 30 days."""
    env.advance(hours=3)
    run = env.dry_run()
    at = run["summary"]["forwards_sync"]["windows"][-1][1]  # the `now` of the run's snapshot
    lo, hi = (at - 30 * DAY) * NS, at * NS
    window = [f for f in node_forwards(env) if lo <= f["ts_ns"] <= hi]
    assert_flows_are_the_sums(env.api("GET", "/scores").json(),
                              ((str(f["chan_out"]), str(f["chan_in"]), f["fee_msat"]) for f in window))


def _summary_30d(env) -> dict:
    summary = env.api("GET", "/summary").json()
    return next(p for p in summary["periods"] if p["key"] == "30d")


def test_a_pruned_node_history_leaves_our_30_day_windows_intact(env):
    period = _summary_30d(env)
    earnings = env.api("GET", "/earnings?days=30").json()
    assert period["forwards"] > 500 and period["fees_sat"] > 0, period
    status, deleted = env.simnode.post("/v2/router/fwdhistory/delete", {"delete_before_time": str(int(env.state()["now"]))})
    assert status == 200 and int(deleted["events_deleted"]) >= period["forwards"], deleted
    status, page = env.simnode.post("/v1/switch", {"start_time": "0", "num_max_events": 100})
    assert status == 200 and page["forwarding_events"] == [], "the node's history is gone"

    assert _summary_30d(env) == period  # from the forwards we keep
    after = env.api("GET", "/earnings?days=30").json()
    assert sum(d["fees_msat"] for d in after["days"]) == sum(d["fees_msat"] for d in earnings["days"])
    assert {k: sum(v) for k, v in after["per_channel"].items()} == {k: sum(v) for k, v in earnings["per_channel"].items()}
    # the engine's snapshot too: a run still sees the channels' 30 days of flow
    run = env.dry_run()
    scores = env.api("GET", "/scores").json()
    assert scores["run"]["id"] == run["id"]
    activity = [next(p for p in c["parts"] if p["name"] == "activity") for c in scores["channels"]]
    assert sum(1 for part in activity if part["score"]) >= 3, activity


def test_history_comes_from_the_series_and_scores_answer_304_while_unchanged(env):
    run = env.dry_run()
    scores = env.api("GET", "/scores")
    assert scores.status_code == 200 and scores.json()["run"]["id"] == run["id"]
    etag = scores.headers["etag"]
    chan = scores.json()["channels"][0]["chan_id"]
    with env.client() as client:
        same = client.get("/feepilot/api/v1/scores", headers={"If-None-Match": etag})
        assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
        other = client.get("/feepilot/api/v1/scores", headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200 and other.json() == scores.json()
    fresh = env.dry_run()
    with env.client() as client:
        changed = client.get("/feepilot/api/v1/scores", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["run"]["id"] == fresh["id"]
    assert changed.headers["etag"] != etag

    history = env.api("GET", f"/channels/{chan}/history?days=90").json()
    runs = [r for r in env.api("GET", "/runs?limit=200").json()["data"] if r["status"] in ("completed", "applied")]
    assert len(history["points"]) == len(runs) == len(history["scores"]), (history, runs)
    truth = env.channel_truth()[chan]
    last = history["points"][-1]
    assert last["at"] == fresh["created_at"] or last["at"] >= run["created_at"]
    assert (last["ppm"], last["capacity_sat"]) == (truth["policy"]["ppm"], truth["capacity_sat"])
    assert history["scores"][-1]["total"] == next(c["total"] for c in changed.json()["channels"] if c["chan_id"] == chan)

    # The scores stay and their run changes: applying it is a new version of the answer, and of its
    # gzip (compressed once per version and served as compressed until the version changes).
    proposed = [d["id"] for d in fresh["decisions"] if d["status"] == "proposed"][:1]
    assert proposed, fresh["decisions"]
    assert env.api("POST", f"/runs/{fresh['id']}/apply", json={"decision_ids": proposed}).status_code == 200
    with env.client() as client:
        applied = client.get("/feepilot/api/v1/scores", headers={"Accept-Encoding": "gzip"})
    assert applied.headers["content-encoding"] == "gzip" and applied.headers["etag"] != changed.headers["etag"]
    assert changed.json()["run"]["status"] == "completed" and applied.json()["run"]["status"] == "applied"
    assert applied.json()["channels"] == changed.json()["channels"]


def test_large_answers_come_compressed_from_us_and_read_the_same(env):
    """The scores and a run with its decisions are gzip-compressed by the extension (off LNbits'
    event loop; its middleware passes an encoded answer through) for a client that accepts it, and
    are the same JSON as the uncompressed answer."""
    run = env.dry_run()
    for path in ("/scores", f"/runs/{run['id']}"):
        with env.client() as client:
            plain = client.get(f"/feepilot/api/v1{path}", headers={"Accept-Encoding": "identity"})
            packed = client.get(f"/feepilot/api/v1{path}", headers={"Accept-Encoding": "gzip"})
        assert plain.status_code == packed.status_code == 200, path
        assert "content-encoding" not in plain.headers, path
        assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding", path
        assert packed.json() == plain.json(), path
        # ours (level 6, in a thread), not LNbits' middleware's (level 9, on the event loop)
        assert packed.num_bytes_downloaded == len(gzip.compress(plain.content, 6)) < len(plain.content) / 3, path


def legacy_rows(chan: str, points: list[dict], scores: list[dict]) -> list[str]:
    """What a version before m006 kept of `chan`'s history: a snapshot row per run (the channel's
    point in its JSON) and a score row per run that scored it (the whole score as JSON in `data`;
    m007 reads its total and confidence)."""
    runs = {p["at"]: f"legacy-run-{i}" for i, p in enumerate(points)}
    rows = ["DELETE FROM {s}snapshots"]
    for i, point in enumerate(points):
        channel = {"chan_id": chan, **{k: v for k, v in point.items() if k != "at"}}
        rows.append("INSERT INTO {s}snapshots (id, run_id, taken_at, data) "
                    f"VALUES ('legacy-snapshot-{i}', '{runs[point['at']]}', {point['at']}, '{json.dumps({'channels': [channel]})}')")
    for i, score in enumerate(scores):
        total = "NULL" if score["total"] is None else repr(score["total"])
        data = json.dumps({"chan_id": chan, "total": score["total"], "confidence": score["confidence"]})
        rows.append(
            "INSERT INTO {s}scores (id, run_id, chan_id, created_at, total, confidence, data) "
            f"VALUES ('legacy-{i}', '{runs[score['created_at']]}', '{chan}', {score['created_at']}, {total}, "
            f"{score['confidence']!r}, '{data}')"
        )
    return rows


def test_the_upgrade_fills_the_channels_history_from_the_stored_snapshots(env):
    """m007 on a database from before m006: the history is built from the snapshots and the
    per-run scores those versions wrote (here: the history removed, the snapshots and scores such
    a version would have stored put in, the migration version set back, then LNbits restarted).
    The rows m007 writes (objects) and the ones runs write since m010 (arrays) read alike."""
    chan = env.api("GET", "/scores").json()["channels"][0]["chan_id"]
    before = env.api("GET", f"/channels/{chan}/history?days=90").json()
    assert len(before["points"]) >= 3 and before["scores"], before
    host = env.session.host
    host.stop()
    ext_sql = [*legacy_rows(chan, before["points"], before["scores"]), "DELETE FROM {s}channel_days"]
    assert run_sql(env, ext_sql, "UPDATE dbversions SET version = 6 WHERE db = 'feepilot'") == 1
    host.start()
    env.session.super_token = host.login("admin", env.session.super_password)
    after = env.api("GET", f"/channels/{chan}/history?days=90").json()
    assert (after["points"], after["scores"]) == (before["points"], before["scores"])
    # a run after the upgrade appends its point, in the compact form, to the day m007 wrote
    run = env.dry_run()
    later = env.api("GET", f"/channels/{chan}/history?days=90").json()
    assert later["points"][:-1] == before["points"] and later["points"][-1]["at"] == run["created_at"]
    assert later["scores"][:-1] == before["scores"] and later["scores"][-1]["created_at"] == run["created_at"]


def test_a_runs_decisions_are_one_compressed_row_and_earlier_rows_still_read(env):
    """A run stores its decisions once, as one compressed row (not a row per channel), and reads
    them whole; a run stored before m010 (a row per decision) reads from its rows."""
    run = env.dry_run()
    assert env.api("GET", f"/runs/{run['id']}").json()["decisions"] == run["decisions"]
    [(size,)] = ext_query(env, f"SELECT LENGTH(data) FROM {{s}}run_decisions WHERE run_id = '{run['id']}'")
    assert ext_query(env, f"SELECT COUNT(*) FROM {{s}}decisions WHERE run_id = '{run['id']}'") == [("0",)]
    plain = len(json.dumps(run["decisions"]))
    assert int(size) * 3 < plain, (size, plain)
    # the same run as an earlier version stored it: a row per decision, the reason and policies in columns
    legacy = [f"DELETE FROM {{s}}run_decisions WHERE run_id = '{run['id']}'"]
    for i, d in enumerate(run["decisions"]):
        columns = {"reason": d["reason"], "old_policy": d["old_policy"], "new_policy": d["new_policy"]}
        data = {k: v for k, v in d.items() if k not in (*columns, "id", "run_id", "created_at", "status", "change_id",
                                                          "message")}
        values = ", ".join(
            "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"
            for v in (f"old{i}", run["id"], d["chan_id"], run["created_at"], d["action"], int(d["accepted"]),
                      json.dumps(d["reason"]), d["blocked_by"], json.dumps(d["old_policy"]),
                      json.dumps(d["new_policy"]), json.dumps(data))
        )
        legacy.append("INSERT INTO {s}decisions (id, run_id, chan_id, created_at, action, accepted, reason, blocked_by, "
                      f"old_policy, new_policy, data) VALUES ({values})")
    run_sql(env, legacy, "UPDATE dbversions SET version = version WHERE db = 'feepilot'")
    read = env.api("GET", f"/runs/{run['id']}").json()["decisions"]
    assert [d["id"] for d in read] == [f"old{i}" for i in range(len(run["decisions"]))]
    assert [{k: v for k, v in d.items() if k != "id"} for d in read] == [
        {k: v for k, v in d.items() if k != "id"} for d in run["decisions"]]


def _activity(run_scores: dict) -> dict[str, dict]:
    return {c["chan_id"]: next(p for p in c["parts"] if p["name"] == "activity")["evidence"]
            for c in run_scores["channels"]}


def test_the_upgrade_to_m010_keeps_the_forwards_failures_and_latest_scores(env):
    """m010 on a database of m009's shape: the forwards (text ids), the failed forwards and the
    latest scores (text) move into their compact tables, and what reads them answers as before
    (here: the new tables turned back into the old ones, the migration version set back to 9,
    then LNbits restarted)."""
    run = env.dry_run()
    scores = env.api("GET", "/scores").json()
    earnings = env.api("GET", "/earnings?days=30").json()
    [(forwards,)] = ext_query(env, "SELECT COUNT(*) FROM {s}forward_events")
    [(failures,)] = ext_query(env, "SELECT COUNT(*) FROM {s}link_failures")
    assert int(forwards) > 500, forwards
    host = env.session.host
    host.stop()
    htlc = "CASE WHEN {0} < 0 THEN '' ELSE CAST({0} AS TEXT) END"
    old_shape = [
        # (an earlier test of this module set the version back to 6: m008 ran again and made failed_forwards)
        *(f"DROP TABLE IF EXISTS {{s}}{table}" for table in ("forwards", "failed_forwards", "latest_scores")),
        "CREATE TABLE {s}forwards (id TEXT PRIMARY KEY, ts_ns BIGINT NOT NULL, chan_id_in TEXT NOT NULL, "
        "chan_id_out TEXT NOT NULL, amt_in_msat BIGINT NOT NULL, amt_out_msat BIGINT NOT NULL, fee_msat BIGINT NOT NULL)",
        # the id as forwards_store.event_key made it: time|in|out|in_htlc|out_htlc|amt_in|amt_out
        "INSERT INTO {s}forwards SELECT CAST(ts_ns AS TEXT) || '|' || CAST(chan_in AS TEXT) || '|' || CAST(chan_out AS TEXT) "
        f"|| '|' || {htlc.format('htlc_in')} || '|' || {htlc.format('htlc_out')} || '|' || "
        "CAST(amt_out_msat + fee_msat AS TEXT) || '|' || CAST(amt_out_msat AS TEXT), ts_ns, CAST(chan_in AS TEXT), "
        "CAST(chan_out AS TEXT), amt_out_msat + fee_msat, amt_out_msat, fee_msat FROM {s}forward_events",
        "CREATE TABLE {s}failed_forwards (id TEXT PRIMARY KEY, ts_ns BIGINT NOT NULL, chan_id_out TEXT NOT NULL, "
        "chan_id_in TEXT NOT NULL, amount_msat BIGINT NOT NULL, wire_failure TEXT NOT NULL, failure_detail TEXT NOT NULL)",
        "INSERT INTO {s}failed_forwards SELECT CAST(chan_in AS TEXT) || ':' || CAST(htlc_in AS TEXT) || ':' || "
        "CAST(ts_ns AS TEXT), ts_ns, CAST(chan_out AS TEXT), CAST(chan_in AS TEXT), amount_msat, wire_failure, "
        "failure_detail FROM {s}link_failures",
        "CREATE TABLE {s}latest_scores (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, at BIGINT NOT NULL, etag TEXT NOT NULL, "
        "channels TEXT NOT NULL)",
        "INSERT INTO {s}latest_scores (id, run_id, at, etag, channels) VALUES ('latest', '" + run["id"] + "', "
        + str(run["created_at"]) + ", 'before-m010', '" + json.dumps(scores["channels"], separators=(",", ":")).replace("'", "''") + "')",
        *(f"DROP TABLE {{s}}{table}" for table in ("forward_events", "forward_days", "link_failures", "scores_latest",
                                                   "run_decisions")),
        "ALTER TABLE {s}forwards_sync DROP COLUMN created_index",
    ]
    assert run_sql(env, old_shape, "UPDATE dbversions SET version = 9 WHERE db = 'feepilot'") == 1
    host.start()
    env.session.super_token = host.login("admin", env.session.super_password)
    assert ext_query(env, "SELECT COUNT(*) FROM {s}forward_events") == [(forwards,)]
    assert ext_query(env, "SELECT COUNT(*) FROM {s}link_failures") == [(failures,)]
    assert env.api("GET", "/scores").json()["channels"] == scores["channels"]
    assert env.api("GET", "/earnings?days=30").json() == earnings
    # the daily sums were built from the copied forwards: a run over them sees the same flows
    env.dry_run()
    assert _activity(env.api("GET", "/scores").json()) == _activity(scores)


def test_retention_prunes_in_mode_off_and_keeps_the_change_log(env):
    assert env.api("GET", "/settings").json()["mode"] == "off"
    run = env.dry_run()
    decision = next(d for d in run["decisions"] if d["accepted"])
    applied = env.api("POST", f"/decisions/{decision['id']}/apply").json()
    assert applied["outcomes"][0]["status"] == "applied", applied
    change_id = applied["outcomes"][0]["change_id"]
    # the runs the change log names are kept (an earlier test of the module may have applied one)
    named = {c["run_id"] for c in env.api("GET", "/changes?limit=500").json()["data"]}
    old_runs = [r["id"] for r in env.api("GET", "/runs?limit=200").json()["data"] if r["id"] not in named]
    assert run["id"] in named and old_runs
    chan = decision["chan_id"]
    assert env.api("GET", f"/channels/{chan}/history?days=90").json()["points"]
    response = env.api("PUT", "/settings", json={"retention_days": 30, "runs_retention_days": 30,
                                                  "decisions_retention_days": 20, "forwards_retention_days": 30})
    assert response.status_code == 200, response.text
    advance_from = int(env.state()["now"])
    liquidity_failures = lambda: sum(1 for f in env.simnode.state(forwards=True)["failed_forwards"]  # noqa: E731
                                     if f["reason"] == "INSUFFICIENT_BALANCE")
    failed_before, stored_before = liquidity_failures(), env.api("GET", "/status").json()["htlc_events"]["stored"]
    env.simnode.advance(hours=32 * 24)  # everything above is older than every retention now
    # The HTLC event stream hands over the 32 days' failures after the advance has returned. The
    # listener stores them all before the extension's clock moves: one stored after the pruning, and
    # older than the retention, would stay until the next pruning, an hour later (CI caught one).
    sent = liquidity_failures() - failed_before
    deadline = time.monotonic() + 120
    while env.api("GET", "/status").json()["htlc_events"]["stored"] - stored_before < sent:
        assert time.monotonic() < deadline, f"the listener never stored the {sent} failures the stream sent"
        time.sleep(0.5)
    env.sync_clock()

    deadline = time.monotonic() + 60
    while env.api("GET", f"/runs/{old_runs[0]}").status_code != 404:
        assert time.monotonic() < deadline, "the old runs were never pruned (the schedule is off)"
        time.sleep(0.5)
    assert all(env.api("GET", f"/runs/{r}").status_code == 404 for r in old_runs)
    # the run the change log names stays, with its counts and the decision it names (the others
    # are older than decisions_retention_days); the change and its events stay
    kept = env.api("GET", f"/runs/{run['id']}").json()
    assert kept["decisions_trimmed"] is True and kept["counts"]["scored"] == run["counts"]["scored"] > 1
    assert [(d["id"], d["reason"], d["status"]) for d in kept["decisions"]] == [(decision["id"], decision["reason"], "applied")]
    change = env.api("GET", f"/changes/{change_id}").json()
    assert change["status"] == "applied" and [e["status"] for e in change["events"]] == ["pending", "applied"]
    history = env.api("GET", f"/channels/{chan}/history?days=90").json()
    assert history["points"] == [] and history["scores"] == [] and [c["id"] for c in history["changes"]] == [change_id]
    # the forwards we keep are pruned to 30 days, while the node still has the older ones it simulated
    cutoff = int(env.state()["now"]) - 30 * DAY
    earnings = env.api("GET", "/earnings?days=60").json()
    before_cutoff = [d for d in earnings["days"] if d["day"] + DAY <= cutoff]
    assert before_cutoff and all(d["forwards"] == 0 for d in before_cutoff), before_cutoff
    last_end = max(d["day"] for d in before_cutoff) + DAY
    assert any(f["ts_ns"] < last_end * NS for f in node_forwards(env)), "the node has them"
    assert sum(d["forwards"] for d in earnings["days"]) > 0
    assert env.api("GET", "/scores").json() == {"run": None, "channels": []}
    # the failed forwards the HTLC event listener stored during those 32 days: pruned to 30 days too
    failures = [f for f in env.simnode.state(forwards=True)["failed_forwards"]
                if f["reason"] == "INSUFFICIENT_BALANCE" and f["ts_ns"] >= advance_from * NS]
    assert any(f["ts_ns"] < cutoff * NS for f in failures), "no failure older than the retention: proves little"
    kept: dict[str, int] = {}
    for f in failures:
        if f["ts_ns"] >= cutoff * NS:
            kept[str(f["chan_out"])] = kept.get(str(f["chan_out"]), 0) + 1
    assert kept
    for chan_id in {str(f["chan_out"]) for f in failures}:
        stored = env.api("GET", f"/channels/{chan_id}/history?days=60").json()["failed_forwards"]
        assert stored["lack_of_balance"]["count"] == kept.get(chan_id, 0), chan_id
        assert all(f["at"] >= cutoff for f in stored["recent"]), stored["recent"]


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"runs_retention_days": 0}, "runs_retention_days"),
        ({"decisions_retention_days": 0}, "decisions_retention_days"),
        ({"decisions_retention_days": 3651}, "decisions_retention_days"),
        ({"forwards_retention_days": 29}, "forwards_retention_days"),
        ({"forwards_retention_days": 3651}, "forwards_retention_days"),
    ],
)
def test_retention_settings_are_validated(env, patch, field):
    response = env.api("PUT", "/settings", json=patch)
    assert response.status_code == 422, response.text
    error = next(e for e in response.json()["errors"] if e["field"] == field)
    assert error["label"] in response.json()["detail"]
