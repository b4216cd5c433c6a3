"""Issue 12, item 4: inputs are strict and bounded, against real LNbits + simnode.

Booleans are booleans, numbers are numbers, every body route needs a body, query
numbers and ids are bounded, every setting has an upper bound and the settings
document a size. Each refusal is a 4xx naming the field, and changes nothing: no run,
no node update, no settings change.

Request validation errors come back 400 (LNbits' global handler answers FastAPI's
validation errors with 400); the settings' own validation answers 422.
"""

from __future__ import annotations

import pytest

API = "/feepilot/api/v1"
VALIDATION = (400, 422)
LND_ID = "869219018406150145"
BODY_ROUTES = [
    ("POST", "/runs"),
    ("POST", "/runs/unknown-run/apply"),
    ("POST", "/runs/unknown-run/rollback"),
    ("POST", "/changes/unknown-change/rollback"),
    ("PUT", "/channels/unknown-channel/pin"),
    ("PUT", "/channels/unknown-channel/policy"),
    ("PUT", "/settings"),
]


@pytest.fixture
def client(lnbits):
    with lnbits.client(lnbits.super_token) as client:
        yield client


def refused(response, field: str) -> None:
    """A validation refusal whose message names `field`."""
    assert response.status_code in VALIDATION, (response.status_code, response.text)
    assert field in response.text, response.text


def snapshot(client, simnode) -> dict:
    """Everything a refused request must leave as it was."""
    return {
        "policy_updates": simnode.state()["totals"]["policy_updates"],
        "runs": client.get(f"{API}/runs?limit=1").json()["total"],
        "changes": client.get(f"{API}/changes?limit=1").json()["total"],
        "settings": client.get(f"{API}/settings").json(),
        "history": client.get(f"{API}/settings/history?limit=500").json(),
    }


@pytest.mark.parametrize("value", ["no", "yes", "true", "false", 1, 0, None, [], {}])
def test_dry_run_must_be_a_boolean_and_nothing_runs(client, simnode, value):
    before = snapshot(client, simnode)
    refused(client.post(f"{API}/runs", json={"dry_run": value}, timeout=300), "dry_run")
    assert snapshot(client, simnode) == before


@pytest.mark.parametrize("value", ["no", "yes", "false", 0, 1, None])
def test_pinned_must_be_a_boolean_and_nothing_is_pinned(client, simnode, value):
    chan_id = client.get(f"{API}/channels").json()["channels"][0]["id"]
    before = snapshot(client, simnode)
    try:
        refused(client.put(f"{API}/channels/{chan_id}/pin", json={"pinned": value}), "pinned")
        assert snapshot(client, simnode) == before
    finally:
        if chan_id in client.get(f"{API}/settings").json()["engine"]["guardrails"]["pinned_channels"]:
            client.put(f"{API}/channels/{chan_id}/pin", json={"pinned": False}).raise_for_status()


@pytest.mark.parametrize("method,path", BODY_ROUTES)
@pytest.mark.parametrize("body", ["null", None], ids=["null", "missing"])
def test_every_body_route_needs_a_body(client, simnode, method, path, body):
    before = snapshot(client, simnode)
    headers = {"content-type": "application/json"} if body is not None else {}
    response = client.request(method, API + path, content=body, headers=headers, timeout=300)
    refused(response, "body")
    assert snapshot(client, simnode) == before


DEFAULTS_ROUTES = [route for route in BODY_ROUTES if "unknown" in route[1] and not route[1].endswith("/policy")]


@pytest.mark.parametrize("method,path", DEFAULTS_ROUTES)
def test_an_empty_object_still_means_the_defaults(client, method, path):
    # the body is accepted (the README's `-d '{}'`); the unknown id is what answers
    assert client.request(method, API + path, json={}).status_code == 404


@pytest.mark.parametrize("path,body,field", [
    ("/runs/unknown-run/rollback", {"force": "yes"}, "force"),
    ("/runs/unknown-run/rollback", {"force": 1}, "force"),
    ("/changes/unknown-change/rollback", {"force": "no"}, "force"),
    ("/runs/unknown-run/apply", {"decision_ids": "abc"}, "decision_ids"),
    ("/runs/unknown-run/apply", {"decision_ids": [1]}, "decision_ids"),
    ("/runs/unknown-run/apply", {"decision_ids": ["x" * 65]}, "decision_ids"),
    ("/runs/unknown-run/apply", {"decision_ids": ["a b"]}, "decision_ids"),
    ("/runs/unknown-run/apply", {"decision_ids": ["abc"] * 1001}, "decision_ids"),
])
def test_apply_and_rollback_bodies_are_strict(client, simnode, path, body, field):
    # with an unknown id an accepted body answers 404; a refused one never gets that far
    before = snapshot(client, simnode)
    refused(client.post(API + path, json=body), field)
    assert snapshot(client, simnode) == before


@pytest.mark.parametrize("body,field", [
    ({"base_msat": "0", "ppm": 10}, "base_msat"),
    ({"base_msat": 0, "ppm": 10.0}, "ppm"),
    ({"base_msat": 0, "ppm": True}, "ppm"),
    ({"base_msat": 0, "ppm": 100_001}, "ppm"),
    ({"base_msat": 100_000_001, "ppm": 10}, "base_msat"),
])
def test_a_manual_policy_takes_whole_numbers_in_bounds(client, body, field):
    refused(client.put(f"{API}/channels/123/policy", json=body), field)
    assert client.put(f"{API}/channels/123/policy", json={"base_msat": 0, "ppm": 10}).status_code == 404


@pytest.mark.parametrize("query,field", [
    ("/changes?offset=10000000000000000000", "offset"),
    ("/changes?offset=1000000001", "offset"),
    ("/runs?offset=10000000000000000000", "offset"),
    ("/runs?offset=1000000001", "offset"),
    (f"/changes?since={2**63}", "since"),
    (f"/changes?until={2**63}", "until"),
    ("/changes?since=253402300800", "since"),
    ("/changes?chan_id=" + "1" * 1000, "chan_id"),
    ("/changes?chan_id=nonsense", "chan_id"),
    ("/changes?run_id=" + "a" * 65, "run_id"),
    ("/changes?run_id=a%20b", "run_id"),
    ("/changes?status=weird", "status"),
])
def test_query_numbers_and_ids_are_bounded(client, query, field):
    refused(client.get(API + query), field)


@pytest.mark.parametrize("query", [
    "/changes?offset=1000000000", "/runs?offset=1000000000", "/changes?since=0&until=253402300799",
    f"/changes?chan_id={LND_ID}", "/changes?chan_id=869219x1234x1", "/changes?chan_id=" + "ab" * 32,
    "/changes?run_id=3kTMd9PXbPRDSDXXjqFFzB",
])
def test_query_values_at_their_bounds_are_answered(client, query):
    response = client.get(API + query)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("patch,field", [
    ({"engine": {"graph": {"betweenness_samples": 10**9}}}, "engine.graph.betweenness_samples"),
    ({"interval_minutes": 10**18}, "interval_minutes"),
    ({"interval_minutes": 10081}, "interval_minutes"),
    ({"node_timeout_seconds": 10**12}, "node_timeout_seconds"),
    ({"retry_attempts": 10**9}, "retry_attempts"),
    ({"history_days": 10**9}, "history_days"),
    ({"retention_days": 3651}, "retention_days"),
    ({"breaker_cool_off_seconds": 10**9}, "breaker_cool_off_seconds"),
    ({"engine": {"guardrails": {"max_ppm": 10**12}}}, "engine.guardrails.max_ppm"),
    ({"engine": {"guardrails": {"max_base_msat": 10**12}}}, "engine.guardrails.max_base_msat"),
    ({"engine": {"guardrails": {"max_step_pct": 1.5}}}, "engine.guardrails.max_step_pct"),
    ({"engine": {"guardrails": {"max_changes_per_run": 10**9}}}, "engine.guardrails.max_changes_per_run"),
    ({"engine": {"anti_oscillation": {"cooldown_hours": 1e300}}}, "engine.anti_oscillation.cooldown_hours"),
    ({"engine": {"rebalance": {"max_amount_sat": 10**18}}}, "engine.rebalance.max_amount_sat"),
    ({"engine": {"decisions": {"flow_gain": 11}}}, "engine.decisions.flow_gain"),
    ({"engine": {"guardrails": {"pinned_channels": ["nonsense"]}}}, "engine.guardrails.pinned_channels"),
    ({"engine": {"guardrails": {"deny_channels": ["1x2"]}}}, "engine.guardrails.deny_channels"),
    ({"engine": {"guardrails": {"allow_peers": ["nonsense"]}}}, "engine.guardrails.allow_peers"),
    ({"engine": {"guardrails": {"channel_overrides": {"nonsense": {"max_ppm": 10}}}}},
     "engine.guardrails.channel_overrides"),
    ({"engine": {"guardrails": {"channel_overrides": {LND_ID: {"max_ppm": 10**6}}}}},
     f"engine.guardrails.channel_overrides.{LND_ID}.max_ppm"),
    ({"engine": {"guardrails": {"pinned_channels": [str(i) for i in range(1001)]}}},
     "engine.guardrails.pinned_channels"),
])
def test_a_setting_out_of_bounds_is_refused_naming_it_and_nothing_changes(client, simnode, patch, field):
    before = snapshot(client, simnode)
    response = client.put(f"{API}/settings", json=patch)
    assert response.status_code == 422, response.text
    body = response.json()
    assert field in [e["field"] for e in body["errors"]], body
    # the one-line detail names the setting as the page does, never by its path
    assert next(e["label"] for e in body["errors"] if e["field"] == field) in body["detail"]
    assert "engine." not in body["detail"]
    assert snapshot(client, simnode) == before


@pytest.mark.parametrize("patch", [
    {"engine": {"guardrails": {"pinned_channels": [LND_ID] * 900, "deny_channels": ["ab" * 32] * 900}}},
    {"x" * 1_000_000: 1},
])
def test_an_oversized_settings_document_is_refused(client, simnode, patch):
    before = snapshot(client, simnode)
    response = client.put(f"{API}/settings", json=patch)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "settings"
    assert "64 KiB" in response.json()["detail"]
    assert len(response.content) < 1000  # the document is not echoed back
    assert snapshot(client, simnode) == before


def test_real_ids_in_lists_are_stored(client):
    """The checks refuse nonsense, not the ids the node gives."""
    channels = client.get(f"{API}/channels").json()["channels"]
    chan = next(c for c in channels if c["state"] == "active")
    lists = {"deny_channels": [chan["id"], chan["short_id"]], "deny_peers": [chan["peer_id"]]}
    old = client.get(f"{API}/settings").json()["engine"]["guardrails"]
    try:
        response = client.put(f"{API}/settings", json={"engine": {"guardrails": lists}})
        assert response.status_code == 200, response.text
        stored = response.json()["engine"]["guardrails"]
        assert {name: stored[name] for name in lists} == lists
    finally:
        restore = {name: old[name] for name in lists}
        client.put(f"{API}/settings", json={"engine": {"guardrails": restore}}).raise_for_status()
