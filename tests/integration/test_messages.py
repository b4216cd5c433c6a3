"""Issue 13: what an operator reads is in plain words, against real LNbits + simnode.

Request-validation errors of our routes (400) name the parameter as the API names it and say
the rule ("days must be between 1 and 365"), for every parameter of every route; the settings'
422 names each setting by the label the page shows; GET /settings serves those labels; changes,
runs and settings history say who acted by name; notifications are sentences.
"""

from __future__ import annotations

import math
import re
import sqlite3

import httpx
import pytest

from engine.settings_labels import FIELD_LABELS

API = "/feepilot/api/v1"
CHANNEL_RULE = ("must be a channel id: an LND chan_id (decimal), a short channel id BLOCKxTXxOUT, a CLN channel_id "
                "(64 hex characters) or a funding outpoint TXID:INDEX")
ID_RULE = "letters, digits, _ and - only"
# what pydantic, FastAPI and Python say on their own; none of it may reach an operator
RAW = ("regex", "ensure this value", "value is not", "field required", "type expected", "{'", "^(", ")$",
       "none is not", "extra fields", "JSON decode", "UNPROCESSABLE", "\"msg\"", "\"loc\"")


@pytest.fixture(scope="module")
def env(node_env):
    return node_env


def get(env, path: str, token: str | None = None) -> httpx.Response:
    with env.client(token) as client:
        return client.get(API + path)


def send(env, method: str, path: str, **kwargs) -> httpx.Response:
    with env.client() as client:
        return client.request(method, API + path, timeout=300, **kwargs)


def plain_400(response: httpx.Response) -> dict:
    assert response.status_code == 400, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"].endswith("."), body
    for fragment in RAW:
        assert fragment not in response.text, (fragment, response.text)
    assert body["detail"] == "; ".join(e["message"] for e in body["errors"]) + "."
    return body


@pytest.mark.parametrize("path,field,location,message", [
    ("/changes?status=bogus", "status", "query", "status must be one of: pending, applied, failed, conflict"),
    ("/earnings?days=0", "days", "query", "days must be between 1 and 365"),
    ("/earnings?days=366", "days", "query", "days must be between 1 and 365"),
    ("/earnings?days=ten", "days", "query", "days must be a whole number between 1 and 365"),
    ("/channels/123/history?days=400", "days", "query", "days must be between 1 and 365"),
    ("/runs?limit=0", "limit", "query", "limit must be between 1 and 200"),
    ("/runs?offset=-1", "offset", "query", "offset must be between 0 and 1,000,000,000"),
    ("/changes?limit=501", "limit", "query", "limit must be between 1 and 500"),
    ("/settings/history?limit=0", "limit", "query", "limit must be between 1 and 500"),
    ("/changes?since=-5", "since", "query", "since must be between 0 and 253,402,300,799"),
    ("/changes?chan_id=nonsense", "chan_id", "query", f"chan_id {CHANNEL_RULE}"),
    ("/changes?chan_id=" + "1" * 80, "chan_id", "query", "chan_id must be at most 75 characters"),
    ("/changes?run_id=a%20b", "run_id", "query", f"run_id must be a run id: {ID_RULE}"),
    ("/changes?run_id=" + "a" * 65, "run_id", "query", "run_id must be at most 64 characters"),
    ("/status?usr=not-a-uuid", "usr", "query", "usr must be a user id (a UUID)"),
])
def test_query_parameters_are_explained(env, path, field, location, message):
    body = plain_400(get(env, path))
    assert body["errors"] == [{"field": field, "location": location, "message": message}], body
    assert body["detail"] == message + "."


@pytest.mark.parametrize("method,path,kwargs,message", [
    ("POST", "/runs", {"json": {"dry_run": "no"}}, "dry_run must be true or false"),
    ("POST", "/runs", {"json": {"dry_run": True, "colour": 1}}, "colour is not a field of this request"),
    ("POST", "/runs", {"content": "null", "headers": {"content-type": "application/json"}},
     "The request body is required: send a JSON object (for the defaults, {})"),
    ("POST", "/runs", {}, "The request body is required: send a JSON object (for the defaults, {})"),
    ("POST", "/runs", {"json": []}, "The request body must be a JSON object"),
    ("POST", "/runs", {"content": "{", "headers": {"content-type": "application/json"}},
     "The request body is not valid JSON"),
    ("PUT", "/settings", {"content": "null", "headers": {"content-type": "application/json"}},
     "The request body is required: send a JSON object (for the defaults, {})"),
    ("PUT", "/channels/123/policy", {"json": {"base_msat": "0", "ppm": 10}},
     "base_msat must be a whole number between 0 and 100,000,000"),
    ("PUT", "/channels/123/policy", {"json": {"base_msat": 0, "ppm": 100_001}}, "ppm must be between 0 and 100,000"),
    ("PUT", "/channels/123/policy", {"json": {"base_msat": 0}}, "ppm is required"),
    ("PUT", "/channels/123/pin", {"json": {"pinned": "yes"}}, "pinned must be true or false"),
    ("POST", "/runs/x/rollback", {"json": {"force": 1}}, "force must be true or false"),
    ("POST", "/runs/x/apply", {"json": {"decision_ids": "abc"}}, "decision_ids must be a list"),
    ("POST", "/runs/x/apply", {"json": {"decision_ids": [1]}}, "entry 1 of decision_ids must be text"),
    ("POST", "/runs/x/apply", {"json": {"decision_ids": ["ok", "a b"]}},
     f"entry 2 of decision_ids must be a decision id: {ID_RULE}"),
    ("POST", "/runs/x/apply", {"json": {"decision_ids": ["x" * 65]}},
     "entry 1 of decision_ids must be at most 64 characters"),
    ("POST", "/runs/x/apply", {"json": {"decision_ids": ["abc"] * 1001}}, "decision_ids must have at most 1000 entries"),
])
def test_bodies_are_explained(env, method, path, kwargs, message):
    before = env.state()["totals"]["policy_updates"]
    body = plain_400(send(env, method, path, **kwargs))
    assert [e["message"] for e in body["errors"]] == [message], body
    assert env.state()["totals"]["policy_updates"] == before


def test_lnbits_own_routes_keep_lnbits_answers(env):
    """Nothing process-wide changed: LNbits' handler still answers its own routes."""
    with env.client(None) as client:
        response = client.post("/api/v1/auth", json={"username": 5})
    assert response.status_code == 400, response.text
    assert isinstance(response.json()["detail"], list), response.text


# --- every parameter of every route, from the schema LNbits serves ------------------------------


def resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        return resolve(document, schema)
    return schema


def bad_values(schema: dict) -> list:
    kind = schema.get("type")
    values: list = []
    if kind == "integer":
        values.append("x")
        if "maximum" in schema:
            values.append(schema["maximum"] + 1)
        if "minimum" in schema:
            values.append(schema["minimum"] - 1)
    elif kind == "boolean":
        values.append("maybe")
    elif kind == "string":
        if "pattern" in schema:
            values.append("!!")
        if "maxLength" in schema:
            values.append("1" * (schema["maxLength"] + 1))
    elif kind == "array":
        values.append("not a list")
        if "maxItems" in schema:
            values.append(["a"] * (schema["maxItems"] + 1))
    return values


def fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "123", path)


def test_every_parameter_of_every_route_is_explained(env):
    document = httpx.get(f"{env.session.url}/openapi.json", timeout=60).json()
    tried = 0
    for path, item in document["paths"].items():
        if not path.startswith(API + "/"):
            continue
        for method, operation in item.items():
            cases = []
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "usr":
                    continue  # LNbits' own parameter (its message is checked above)
                for value in bad_values(resolve(document, parameter.get("schema", {}))):
                    cases.append((parameter["name"], parameter["in"], {"params": {parameter["name"]: value}}
                                  if parameter["in"] == "query" else None))
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            body_schema = resolve(document, content["schema"]) if content else {}
            for name, prop in body_schema.get("properties", {}).items():
                prop = resolve(document, prop)
                if prop.get("type") == "object":
                    continue  # the settings' engine part: the settings' own 422 answers it
                for value in bad_values(prop):
                    required = {n: 0 for n in body_schema.get("required", []) if n != name}
                    cases.append((name, "body", {"json": {**required, name: value}}))
            for name, location, kwargs in cases:
                if kwargs is None:
                    continue  # path parameters are plain strings: nothing to refuse
                with env.client() as client:
                    response = client.request(method.upper(), fill(path), timeout=300, **kwargs)
                if path.endswith("/settings") and method == "put":
                    # the settings document's own validation: 422, each setting by its label
                    assert response.status_code == 422, (path, name, response.text)
                    error = response.json()["errors"][0]
                    assert error["field"] == name and error["label"] == FIELD_LABELS[name], error
                    continue
                body = plain_400(response)
                assert any(e["field"] == name and e["location"] == location and e["message"].startswith(name + " ")
                           and not e["message"].endswith("is not valid") for e in body["errors"]), (path, name, body)
                tried += 1
    assert tried >= 40, tried


# --- the settings' own messages ------------------------------------------------------------------


def test_settings_errors_name_each_setting_by_its_label(env):
    before = get(env, "/settings/history?limit=500").json()
    response = send(env, "PUT", "/settings", json={"interval_minutes": 1,
                                                   "engine": {"guardrails": {"min_ppm": 600, "max_ppm": 500}}})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"] == "Run every (minutes) must be at least 5; Minimum fee (ppm) must not exceed Maximum fee (ppm)"
    assert body["errors"] == [
        {"field": "interval_minutes", "label": "Run every (minutes)", "message": "must be at least 5"},
        {"field": "engine.guardrails.min_ppm", "label": "Minimum fee (ppm)", "message": "must not exceed Maximum fee (ppm)"},
    ]
    assert get(env, "/settings/history?limit=500").json() == before


def test_the_settings_answer_carries_the_labels_and_takes_itself_back(env):
    document = get(env, "/settings").json()
    assert document["labels"] == FIELD_LABELS
    assert document["labels"]["engine.guardrails.min_ppm"] == "Minimum fee (ppm)"
    history = get(env, "/settings/history?limit=500").json()
    again = send(env, "PUT", "/settings", json=document)  # the whole answer, labels included
    assert again.status_code == 200, again.text
    assert again.json() == document
    assert get(env, "/settings/history?limit=500").json() == history  # nothing changed, nothing recorded


# --- who acted, by name ---------------------------------------------------------------------------


def step(ppm: int) -> int:
    """A manual change every guardrail lets through (above the smallest change, below the largest step)."""
    return ppm + max(12, math.ceil(ppm * 0.06))


def test_changes_runs_and_settings_say_who_by_name(env):
    channel = next(c for c in get(env, "/channels").json()["channels"] if c["state"] == "active")
    policy = channel["policy"]
    changed = send(env, "PUT", f"/channels/{channel['id']}/policy",
                   json={"base_msat": policy["base_msat"], "ppm": step(policy["ppm"])})
    assert changed.status_code == 200, changed.text
    change = changed.json()
    assert change["requested_by"] != "admin" and change["requested_by_name"] == "admin", change
    assert change["reason"].startswith("Manual change by admin: "), change["reason"]
    listed = get(env, f"/changes?chan_id={channel['id']}").json()["data"]
    assert [c["requested_by_name"] for c in listed] == ["admin"]
    assert get(env, f"/changes/{change['id']}").json()["requested_by_name"] == "admin"

    undone = send(env, "POST", f"/changes/{change['id']}/rollback", json={})
    assert undone.status_code == 200 and undone.json()["requested_by_name"] == "admin", undone.text

    # a row written before names were stored (the column is null) is named when read
    connection = sqlite3.connect(env.session.host.data_folder / "ext_feepilot.sqlite3", isolation_level=None, timeout=30)
    try:
        cleared = connection.execute("UPDATE changes SET requested_by_name = NULL WHERE id = ?", (change["id"],))
        assert cleared.rowcount == 1
    finally:
        connection.close()
    assert get(env, f"/changes/{change['id']}").json()["requested_by_name"] == "admin"

    # a run started by the admin "operator", settings changed by the super user "admin"
    with env.client(env.session.admin_token) as client:
        run = client.post(f"{API}/runs", json={"dry_run": True}, timeout=300)
    assert run.status_code == 201 and run.json()["requested_by_name"] == "operator", run.text
    assert get(env, f"/runs/{run.json()['id']}").json()["requested_by_name"] == "operator"
    assert get(env, "/runs?limit=1").json()["data"][0]["requested_by_name"] == "operator"
    assert get(env, "/scores").json()["run"]["requested_by_name"] == "operator"
    old = get(env, "/settings").json()["notification_min_interval_minutes"]
    saved = send(env, "PUT", "/settings", json={"notification_min_interval_minutes": old + 1})
    assert saved.status_code == 200, saved.text
    try:
        entry = get(env, "/settings/history?limit=1").json()[0]
        assert entry["requested_by_name"] == "admin" and entry["changed_by"] != "admin", entry
    finally:
        send(env, "PUT", "/settings", json={"notification_min_interval_minutes": old}).raise_for_status()


def test_a_batch_is_notified_in_a_sentence_and_its_changes_name_the_requester(env):
    send(env, "PUT", "/settings", json={"notification_min_interval_minutes": 0}).raise_for_status()
    run = env.dry_run()
    accepted = [d for d in run["decisions"] if d["accepted"]]
    assert accepted, run["counts"]
    applied = send(env, "POST", f"/runs/{run['id']}/apply", json={})
    assert applied.status_code == 200, applied.text
    count = sum(1 for o in applied.json()["outcomes"] if o["status"] == "applied")
    assert count >= 2, applied.json()
    detail = get(env, f"/runs/{run['id']}").json()
    assert detail["summary"]["batches"][-1]["by_name"] == "admin"
    changes = get(env, f"/changes?run_id={run['id']}").json()["data"]
    assert {c["requested_by_name"] for c in changes} == {"admin"}
    notes = [n["message"] for n in get(env, "/status").json()["notifications"] if n["kind"] == "applied"]
    expected = f"Fee Autopilot applied {count} fee changes (run {run['id'][:8]}…): {count} applied"
    assert notes and notes[0].startswith(expected), notes
    for text in notes:
        assert "(s)" not in text and "{" not in text and "'" not in text, text
    rolled = send(env, "POST", f"/runs/{run['id']}/rollback", json={})
    assert rolled.status_code == 200, rolled.text
    assert {c["requested_by_name"] for c in rolled.json()["changes"]} == {"admin"}


def test_a_rolled_back_batch_is_notified_in_a_sentence(env):
    env.advance(hours=25)  # past the cooldown of the changes above
    run = env.dry_run()
    chosen = [d for d in run["decisions"] if d["accepted"]][:3]
    assert len(chosen) == 3, run["counts"]
    env.simnode.set_faults({"path": "/v1/chanpolicy", "failed_updates": [chosen[2]["chan_id"]]})
    try:
        response = send(env, "POST", f"/runs/{run['id']}/apply", json={"decision_ids": [d["id"] for d in chosen]})
    finally:
        env.simnode.clear_faults()
    assert response.status_code == 200 and response.json()["status"] == "rolled_back", response.text
    notes = [n["message"] for n in get(env, "/status").json()["notifications"] if n["kind"] == "rollback"]
    assert notes and notes[0] == (f"Fee Autopilot: a batch of run {run['id'][:8]}… had a change that failed, so it was "
                                  "rolled back: 2 changes restored (2 restored and 1 failed)."), notes
