"""Issue 12: the schedule never dies, and invalid stored settings are never silently
replaced — against real LNbits + simnode, with real faults (a locked database file,
a document a newer version no longer accepts)."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from devtools.testenv import wait_until


@pytest.fixture
def env(node_env):
    """This module's own node and LNbits (the schedule runs in it)."""
    return node_env


def database(env) -> Path:
    return env.session.host.data_folder / "ext_feepilot.sqlite3"


@contextmanager
def locked_database(env):
    """Another process holds the extension's SQLite file: every statement fails with
    'database is locked' once SQLite's busy timeout is over."""
    connection = sqlite3.connect(database(env), isolation_level=None, timeout=30)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def runs(env) -> list[dict]:
    return env.api("GET", "/runs?limit=200").json()["data"]


def wait_for(predicate, what: str, timeout: float = 60):
    return wait_until(predicate, timeout, what)


def completed_shadow_runs(env) -> list[dict]:
    return [r for r in runs(env) if r["kind"] == "shadow" and r["status"] == "completed"]


def test_a_database_error_in_a_cycle_leaves_the_schedule_running(env):
    env.api("PUT", "/settings", json={"mode": "shadow", "interval_minutes": 5}).raise_for_status()
    try:
        first = wait_for(lambda: completed_shadow_runs(env), "the first shadow cycle")
        env.advance(hours=0.1)  # the next cycle is due while the database is locked
        with locked_database(env):
            time.sleep(14)  # a tick, SQLite's 5 s busy timeout, and the failed cycle's own writes
        status = wait_for(lambda: (s := env.api("GET", "/status").json())["schedule_error"] and s, "the schedule's error")
        assert "locked" in status["schedule_error"], status["schedule_error"]
        assert status["schedule_running"] is True
        assert any("next cycle runs on time" in n["message"] for n in status["notifications"]), status["notifications"]
        # The schedule goes on: the next due cycle happens and clears the error.
        known = {r["id"] for r in completed_shadow_runs(env)}
        env.advance(hours=0.1)
        wait_for(lambda: [r for r in completed_shadow_runs(env) if r["id"] not in known], "a cycle after the error")
        assert len(completed_shadow_runs(env)) > len(first)
        wait_for(lambda: env.api("GET", "/status").json()["schedule_error"] is None, "the error cleared")
    finally:
        env.api("PUT", "/settings", json={"mode": "off"}).raise_for_status()


def write_stored_settings(env, document: dict) -> None:
    """What a database left by another version (or edited by hand) holds."""
    connection = sqlite3.connect(database(env), isolation_level=None, timeout=30)
    try:
        connection.execute("UPDATE settings SET data = ? WHERE id = 'instance'", (json.dumps(document),))
    finally:
        connection.close()


def test_invalid_stored_settings_are_shown_and_never_replaced_by_defaults(env):
    chan = next(c["id"] for c in env.api("GET", "/channels").json()["channels"] if c["state"] == "active")
    env.api("PUT", f"/channels/{chan}/pin", json={"pinned": True}).raise_for_status()
    good = env.api("GET", "/settings").json()
    assert chan in good["engine"]["guardrails"]["pinned_channels"]
    broken = {**good, "mode": "shadow", "interval_minutes": 0}  # below the minimum of 5
    write_stored_settings(env, broken)
    history = len(env.api("GET", "/settings/history").json())
    runs_before = len(runs(env))

    status = env.api("GET", "/status").json()
    assert status["settings_error"] and "Run every (minutes) must be at least 5" in status["settings_error"], status
    shown = env.api("GET", "/settings")
    assert shown.status_code == 409 and [e["field"] for e in shown.json()["errors"]] == ["interval_minutes"], shown.text
    # Nothing that depends on the settings runs on the defaults instead.
    assert env.api("POST", "/runs", json={"dry_run": True}).status_code == 409
    assert env.api("PUT", f"/channels/{chan}/pin", json={"pinned": False}).status_code == 409
    env.advance(hours=2)  # the stored mode is shadow: a cycle would be due
    time.sleep(6)
    assert len(runs(env)) == runs_before, "no cycle ran on settings nobody chose"
    assert "Run every (minutes) must be at least 5" in (env.api("GET", "/status").json()["schedule_error"] or "")

    # A write that leaves the document invalid is refused and stores nothing.
    still_broken = env.api("PUT", "/settings", json={"retention_days": 30})
    assert still_broken.status_code == 422 and "interval_minutes" in still_broken.text, still_broken.text
    assert len(env.api("GET", "/settings/history").json()) == history
    # A valid fix keeps everything else the operator had, pins included.
    fixed = env.api("PUT", "/settings", json={"interval_minutes": 60, "mode": "off"})
    assert fixed.status_code == 200, fixed.text
    document = fixed.json()
    assert chan in document["engine"]["guardrails"]["pinned_channels"]
    assert env.api("GET", "/status").json()["settings_error"] is None
