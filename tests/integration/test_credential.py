"""Issue 17: Fee Autopilot's own LND credential, against real LNbits and simnode.

Baked through the API, used for every node call (simnode counts requests per root key
id and route), scoped (a call outside it is refused with LND's permission error),
rotated without a window, revoked from outside and detected within one call, revoked
from the page's API; LNbits itself on a macaroon that cannot update channel policies
with Fee Autopilot still working through a pasted credential; and the macaroons never
appear in the database files, the API's answers or LNbits' log.

The tests of this module run in order on one node and one LNbits of their own.
"""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import httpx
import pytest

from devtools.testenv import quiet_schedule, start_host_session

API = "/feepilot/api/v1"
NEEDED_URIS = [
    "/lnrpc.Lightning/GetInfo", "/lnrpc.Lightning/ListChannels", "/lnrpc.Lightning/PendingChannels",
    "/lnrpc.Lightning/ClosedChannels", "/lnrpc.Lightning/FeeReport", "/lnrpc.Lightning/GetNodeInfo",
    "/lnrpc.Lightning/ListPeers", "/lnrpc.Lightning/ForwardingHistory", "/lnrpc.Lightning/DescribeGraph",
    "/lnrpc.Lightning/GetChanInfo", "/routerrpc.Router/SubscribeHtlcEvents", "/lnrpc.Lightning/UpdateChannelPolicy",
    "/lnrpc.Lightning/CheckMacaroonPermissions",
]
DENIED = {"code": 2, "message": "permission denied", "details": []}
ANSWERS: list[str] = []  # every API answer of this module: searched for macaroons at the end


def sim(node, method: str, path: str, body=None) -> dict:
    return httpx.request(method, node.url + path, json=body, timeout=60).json()


def lnd(node, method: str, path: str, macaroon: str, body=None) -> httpx.Response:
    return httpx.request(method, node.url + path, json=body, headers={"Grpc-Metadata-macaroon": macaroon}, timeout=60)


def bake_in_simnode(node, permissions: list[tuple[str, str]], root_key_id: int) -> str:
    r = lnd(node, "POST", "/v1/macaroon", node.macaroon, {
        "permissions": [{"entity": e, "action": a} for e, a in permissions], "root_key_id": str(root_key_id)})
    assert r.status_code == 200, r.text
    return r.json()["macaroon"]


def api(session, method: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
    with session.client(token or session.super_token) as client:
        response = client.request(method, API + path, timeout=300, **kwargs)
    ANSWERS.append(response.text)
    return response


def requests_of(node, root_key_id) -> dict[str, int]:
    prefix = f"{root_key_id} "
    return {k[len(prefix):]: v for k, v in sim(node, "GET", "/sim/macaroons")["requests"].items() if k.startswith(prefix)}


def macaroon_of(node, root_key_id: int) -> str:
    return next(b["macaroon"] for b in sim(node, "GET", "/sim/macaroons")["baked"] if b["root_key_id"] == root_key_id)


def accepted_decision(session, used: set[str]) -> dict:
    run = api(session, "POST", "/runs", json={"dry_run": True})
    assert run.status_code == 201, run.text
    return next(d for d in run.json()["decisions"] if d["accepted"] and d["chan_id"] not in used)


@pytest.fixture(scope="module")
def env(node_env):
    return node_env


@pytest.fixture(scope="module")
def state() -> dict:
    return {"used_channels": set()}


def test_bake_through_the_api_and_status_shows_the_scoped_credential(env, state):
    session, node = env.session, env.simnode
    before = api(session, "GET", "/credential", session.admin_token)
    assert before.status_code == 200, before.text
    body = before.json()
    assert body["status"]["in_use"] == "lnbits" and body["active"] is None
    assert body["bake_possible"] is True
    assert [n["method"] for n in body["needed"]] == NEEDED_URIS
    assert body["lncli_command"].startswith("lncli bakemacaroon --root_key_id ")
    assert all(f"uri:{m}" in body["lncli_command"] for m in NEEDED_URIS)
    # An admin may read but not create.
    assert api(session, "POST", "/credential", session.admin_token, json={"method": "bake"}).status_code == 403

    created = api(session, "POST", "/credential", json={"method": "bake"})
    assert created.status_code == 201, created.text
    active = created.json()["active"]
    assert active["method"] == "baked" and active["status"] == "active"
    assert sorted(active["permissions"]) == sorted(f"uri:{m}" for m in NEEDED_URIS)
    assert active["warnings"] == []
    root_key_id = int(active["root_key_id"])
    assert root_key_id >= 2**40
    assert str(root_key_id) in lnd(node, "GET", "/v1/macaroon/ids", node.macaroon).json()["root_key_ids"]
    assert api(session, "POST", "/credential", json={"method": "bake"}).status_code == 409  # one at a time

    status = api(session, "GET", "/status", session.admin_token).json()
    assert status["credential"] == {"in_use": "fee_autopilot", "state": "active", "fingerprint": active["fingerprint"],
                                    "problem": None, "fix": None, "writes_paused": False, "refused_at": None}
    assert status["node_api_available"] is True
    assert requests_of(node, root_key_id).get("GET /v1/fees"), "status read the node with our credential"
    state["root_key_id"] = root_key_id
    state["fingerprint"] = active["fingerprint"]


def test_a_whole_cycle_runs_on_the_credential(env, state):
    session, node = env.session, env.simnode
    ours, admin_before = state["root_key_id"], requests_of(node, "admin")
    ours_before = requests_of(node, ours)
    decision = accepted_decision(session, state["used_channels"])
    state["used_channels"].add(decision["chan_id"])
    truth_before = env.channel_truth()[decision["chan_id"]]["policy"]
    applied = api(session, "POST", f"/decisions/{decision['id']}/apply")
    assert applied.status_code == 200, applied.text
    outcome = applied.json()["outcomes"][0]
    assert outcome["status"] == "applied", outcome
    assert env.channel_truth()[decision["chan_id"]]["policy"]["ppm"] == decision["new_policy"]["ppm"]
    rollback = api(session, "POST", f"/changes/{outcome['change_id']}/rollback", json={})
    assert rollback.status_code == 200, rollback.text
    assert env.channel_truth()[decision["chan_id"]]["policy"]["ppm"] == truth_before["ppm"]
    ours_after, admin_after = requests_of(node, ours), requests_of(node, "admin")
    made = {k: ours_after[k] - ours_before.get(k, 0) for k in ours_after if ours_after[k] != ours_before.get(k, 0)}
    assert made.get("POST /v1/chanpolicy") == 2, made  # the write and its rollback
    for route in ("GET /v1/graph/edge/{chan_id}", "POST /v1/switch", "GET /v1/channels", "GET /v1/getinfo"):
        assert made.get(route), (route, made)
    # LNbits' admin macaroon did none of the extension's work (LNbits' own calls aside).
    for route in ("POST /v1/chanpolicy", "GET /v1/graph/edge/{chan_id}", "POST /v1/switch", "GET /v1/fees"):
        assert admin_after.get(route, 0) == admin_before.get(route, 0), route


def test_a_call_outside_the_scope_is_refused_with_lnds_permission_error(env, state):
    node = env.simnode
    ours = macaroon_of(node, state["root_key_id"])
    assert lnd(node, "GET", "/v1/getinfo", ours).status_code == 200
    for method, path, body in (("POST", "/v2/router/send", {"payment_request": "lnbc1", "timeout_seconds": 10}),
                               ("POST", "/v1/invoices", {"value": "1000"}),
                               ("GET", "/v1/balance/blockchain", None),
                               ("POST", "/v1/macaroon", {"permissions": [{"entity": "offchain", "action": "write"}]}),
                               ("DELETE", "/v1/macaroon/0", None)):
        r = lnd(node, method, path, ours, body)
        assert (r.status_code, r.json()) == (500, DENIED), (path, r.text)


def test_rotation_leaves_no_window_and_revokes_the_old_root_key_id(env, state):
    session, node = env.session, env.simnode
    old_id, old_macaroon = state["root_key_id"], macaroon_of(node, state["root_key_id"])
    failures: list[str] = []
    answered = []
    stop = threading.Event()

    def reader() -> None:
        with session.client(session.admin_token) as client:
            while not stop.is_set():
                r = client.get(f"{API}/channels", timeout=120)
                answered.append(r.status_code)
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    try:
        rotated = api(session, "POST", "/credential/rotate", json={"method": "bake"})
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    assert rotated.status_code == 200, rotated.text
    assert not failures, failures
    assert len(answered) >= 4, answered
    body = rotated.json()
    new = body["active"]
    assert new["fingerprint"] != state["fingerprint"] and int(new["root_key_id"]) != old_id
    assert body["note"] == f"root key id {old_id} revoked on the node"
    retired = next(c for c in body["history"] if c["fingerprint"] == state["fingerprint"])
    assert retired["status"] == "retired" and retired["retired_at"]
    assert str(old_id) not in lnd(node, "GET", "/v1/macaroon/ids", node.macaroon).json()["root_key_ids"]
    r = lnd(node, "GET", "/v1/getinfo", old_macaroon)
    assert r.status_code == 500 and r.json()["message"] == f"cannot get macaroon: root key with id {old_id} doesn't exist"
    assert [e["action"] for e in body["events"]][:2] == ["rotated", "created"]
    assert api(session, "GET", "/status", session.admin_token).json()["credential"]["fingerprint"] == new["fingerprint"]
    state["root_key_id"], state["fingerprint"] = int(new["root_key_id"]), new["fingerprint"]


def test_a_revocation_from_outside_is_detected_within_one_call_and_pauses_writes(env, state):
    session, node = env.session, env.simnode
    decision = accepted_decision(session, state["used_channels"])  # scored while the credential works
    assert sim(node, "POST", "/sim/macaroons/revoke", {"root_key_id": state["root_key_id"]}) == {"deleted": True}
    status = api(session, "GET", "/status", session.admin_token).json()  # the one call
    credential = status["credential"]
    assert credential["state"] == "refused" and credential["writes_paused"] is True, credential
    assert f"root key with id {state['root_key_id']} doesn't exist" in credential["problem"]
    assert "Rotate" in credential["fix"] and "revoke" in credential["fix"]
    assert status["node_api_available"] is False and "refused Fee Autopilot's credential" in status["node_api_reason"]
    assert status["circuit_breaker"]["state"] == "closed"  # not hidden behind the breaker
    chanpolicy_before = sim(node, "GET", "/sim/state")["requests"].get("POST /v1/chanpolicy", 0)
    attempt = api(session, "POST", f"/decisions/{decision['id']}/apply")
    assert attempt.status_code in (200, 502), attempt.text
    assert sim(node, "GET", "/sim/state")["requests"].get("POST /v1/chanpolicy", 0) == chanpolicy_before
    events = api(session, "GET", "/credential", session.admin_token).json()["events"]
    assert events[0]["action"] == "refused" and events[0]["by_name"] == "Outside Fee Autopilot"
    notes = api(session, "GET", "/status", session.admin_token).json()["notifications"]
    assert any("refused its credential" in n.get("message", "") for n in notes), notes

    rotated = api(session, "POST", "/credential/rotate", json={"method": "bake"})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["note"] == f"the node no longer had root key id {state['root_key_id']}"
    status = api(session, "GET", "/status", session.admin_token).json()
    assert status["credential"]["state"] == "active" and status["node_api_available"] is True
    state["root_key_id"] = int(rotated.json()["active"]["root_key_id"])
    state["fingerprint"] = rotated.json()["active"]["fingerprint"]
    decision = accepted_decision(session, state["used_channels"])
    state["used_channels"].add(decision["chan_id"])
    applied = api(session, "POST", f"/decisions/{decision['id']}/apply")
    assert applied.json()["outcomes"][0]["status"] == "applied", applied.text  # writes resumed
    rollback = api(session, "POST", f"/changes/{applied.json()['outcomes'][0]['change_id']}/rollback", json={})
    assert rollback.status_code == 200, rollback.text


def test_a_pasted_macaroon_is_checked_for_missing_and_extra_permissions(env, state):
    session, node = env.session, env.simnode
    partial = bake_in_simnode(node, [("uri", m) for m in NEEDED_URIS if "UpdateChannelPolicy" not in m], 3_000_001)
    check = api(session, "POST", "/credential/check", json={"macaroon": partial})
    assert check.status_code == 200, check.text
    assert check.json()["usable"] is False and check.json()["missing"] == ["/lnrpc.Lightning/UpdateChannelPolicy"]
    refused = api(session, "POST", "/credential/rotate", json={"method": "paste", "macaroon": partial})
    assert refused.status_code == 409 and refused.json()["missing"] == ["/lnrpc.Lightning/UpdateChannelPolicy"]
    wide = bake_in_simnode(node, [("uri", m) for m in NEEDED_URIS] + [("offchain", "write")], 3_000_002)
    check = api(session, "POST", "/credential/check", json={"macaroon": wide}).json()
    assert check["usable"] is True and "/routerrpc.Router/SendPaymentV2" in check["extra"]
    assert any("pay invoices" in w for w in check["warnings"])
    for bad in ("zz", "00ff", "02" + "00" * 40):
        r = api(session, "POST", "/credential/check", json={"macaroon": bad})
        assert r.status_code in (200, 409), r.text
        if r.status_code == 200:
            assert r.json()["usable"] is False
    assert api(session, "POST", "/credential/check", session.admin_token, json={"macaroon": wide}).status_code == 403
    assert api(session, "GET", "/status", session.admin_token).json()["credential"]["fingerprint"] == state["fingerprint"]


def test_revoke_from_the_api_returns_to_lnbits_macaroon(env, state):
    session, node = env.session, env.simnode
    ours = macaroon_of(node, state["root_key_id"])
    assert api(session, "POST", "/credential/revoke", session.admin_token).status_code == 403
    revoked = api(session, "POST", "/credential/revoke")
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["active"] is None and body["status"]["in_use"] == "lnbits"
    assert body["history"][0]["status"] == "revoked" and body["history"][0]["revoked_by_name"]
    assert str(state["root_key_id"]) not in lnd(node, "GET", "/v1/macaroon/ids", node.macaroon).json()["root_key_ids"]
    assert "doesn't exist" in lnd(node, "GET", "/v1/getinfo", ours).json()["message"]
    assert api(session, "POST", "/credential/revoke").status_code == 409
    status = api(session, "GET", "/status", session.admin_token).json()
    assert status["node_api_available"] is True and status["credential"]["in_use"] == "lnbits"


@pytest.fixture(scope="module")
def restricted_lnbits(env, tmp_path_factory):
    """A second LNbits on the same node whose funding source macaroon reads and invoices only."""
    # LND's readonly permissions and invoices: everything but writes of channels, payments and funds.
    restricted = bake_in_simnode(env.simnode, [("invoices", "read"), ("invoices", "write"), ("offchain", "read"),
                                               ("onchain", "read"), ("info", "read"), ("peers", "read")], 5_000_000)
    session = start_host_session(
        tmp_path_factory.mktemp("lnbits-restricted"), backend="LndRestWallet", lnd_endpoint=env.simnode.url,
        macaroon=restricted, extra_env={"FEEPILOT_CLOCK_FILE": str(env.clock_file)},
    )
    quiet_schedule(session)
    yield session
    session.host.stop()


def test_lnbits_on_a_macaroon_that_cannot_set_fees_and_fee_autopilot_still_works(env, restricted_lnbits, state):
    session, node = restricted_lnbits, env.simnode
    # LNbits itself works on it (its wallet answers), and it cannot update channel policies.
    with session.client(session.super_token) as client:
        assert client.get("/api/v1/wallet", headers={"X-API-KEY": session.host.user(session.super_token)["wallets"][0]["adminkey"]}).status_code == 200
    restricted = macaroon_of(node, 5_000_000)
    r = lnd(node, "POST", "/v1/chanpolicy", restricted, {"global": True, "base_fee_msat": "1000", "fee_rate_ppm": 1,
                                                          "time_lock_delta": 80})
    assert (r.status_code, r.json()) == (500, DENIED)
    decision = accepted_decision(session, state["used_channels"])
    without = api(session, "POST", f"/decisions/{decision['id']}/apply")
    assert without.json()["outcomes"][0]["status"] == "failed", without.text
    assert "permission denied" in without.json()["outcomes"][0]["message"]
    options = api(session, "GET", "/credential", session.admin_token).json()
    assert options["bake_possible"] is False and "macaroon:generate" in options["bake_reason"]
    assert api(session, "POST", "/credential", json={"method": "bake"}).status_code == 409

    # The operator bakes Fee Autopilot's macaroon with the command the page shows, and pastes it.
    command = options["lncli_command"].split()
    root_key_id = int(command[command.index("--root_key_id") + 1])
    pasted = bake_in_simnode(node, [tuple(p.split(":", 1)) for p in command[4:]], root_key_id)  # type: ignore[misc]
    created = api(session, "POST", "/credential", json={"method": "paste", "macaroon": pasted})
    assert created.status_code == 201, created.text
    assert created.json()["active"]["method"] == "pasted" and created.json()["active"]["warnings"] == []
    assert api(session, "GET", "/status", session.admin_token).json()["credential"]["in_use"] == "fee_autopilot"
    decision = accepted_decision(session, state["used_channels"] | {decision["chan_id"]})
    state["used_channels"].add(decision["chan_id"])
    applied = api(session, "POST", f"/decisions/{decision['id']}/apply")
    assert applied.json()["outcomes"][0]["status"] == "applied", applied.text
    rollback = api(session, "POST", f"/changes/{applied.json()['outcomes'][0]['change_id']}/rollback", json={})
    assert rollback.status_code == 200, rollback.text
    assert requests_of(node, root_key_id).get("POST /v1/chanpolicy") == 2
    assert requests_of(node, 5_000_000).get("GET /v1/balance/channels"), "LNbits runs on its restricted macaroon"
    # A pasted credential is not ours to revoke on the node: revoking it says what to run.
    revoked = api(session, "POST", "/credential/revoke").json()
    assert revoked["note"] == f"it was pasted: revoke it on the node with `lncli deletemacaroonid {root_key_id}`"
    state["restricted_host"] = session.host


def test_a_wrong_master_secret_is_a_clear_error_and_no_macaroon_is_sent(env, restricted_lnbits, state):
    session, node = restricted_lnbits, env.simnode
    options = api(session, "GET", "/credential", session.admin_token).json()
    command = options["lncli_command"].split()
    root_key_id = int(command[command.index("--root_key_id") + 1])
    pasted = bake_in_simnode(node, [tuple(p.split(":", 1)) for p in command[4:]], root_key_id)  # type: ignore[misc]
    assert api(session, "POST", "/credential", json={"method": "paste", "macaroon": pasted}).status_code == 201
    host = session.host
    host.stop()
    host.extra_env["FEEPILOT_VAULT_KEY"] = "another master secret, not the key file's"
    try:
        host.start()
        refused_before = sim(node, "GET", "/sim/macaroons")["refused"]
        used_before = requests_of(node, root_key_id)
        status = api(session, "GET", "/status", session.admin_token).json()
        credential = status["credential"]
        assert credential["state"] == "unusable" and credential["in_use"] == "none", credential
        assert "another master secret" in credential["problem"] and credential["writes_paused"] is True
        assert status["node_api_available"] is False and "cannot be used" in status["node_api_reason"]
        assert requests_of(node, root_key_id) == used_before  # nothing sent with it
        assert sim(node, "GET", "/sim/macaroons")["refused"] == refused_before  # nor with any other
        revoked = api(session, "POST", "/credential/revoke")
        assert revoked.status_code == 200, revoked.text
        status = api(session, "GET", "/status", session.admin_token).json()
        assert status["credential"]["in_use"] == "lnbits" and status["node_api_available"] is True
    finally:
        host.stop()
        del host.extra_env["FEEPILOT_VAULT_KEY"]
        host.start()


def _forms(hex_value: str) -> list[bytes]:
    raw = bytes.fromhex(hex_value)
    return [hex_value.lower().encode(), hex_value.upper().encode(), raw, base64.b64encode(raw),
            base64.urlsafe_b64encode(raw).rstrip(b"=")]


def test_no_macaroon_in_the_database_files_the_answers_or_the_log(env, state):
    baked = [b["macaroon"] for b in sim(env.simnode, "GET", "/sim/macaroons")["baked"]]
    ours = [m for m in baked if m != macaroon_of(env.simnode, 5_000_000)]  # LNbits stores its own macaroon itself
    assert len(ours) >= 5
    hosts = [env.session.host, state["restricted_host"]]
    files = [p for host in hosts for p in Path(host.data_folder).rglob("*") if p.is_file()]
    assert any(p.name.startswith("ext_feepilot") for p in files), files
    for path in files:
        content = path.read_bytes()
        for macaroon in ours:
            for form in _forms(macaroon):
                assert form not in content, f"{path} holds a macaroon"
    answers = "\n".join(ANSWERS)
    logs = "\n".join(Path(host.log_path).read_text(errors="replace") for host in hosts)
    for macaroon in ours:
        for form in _forms(macaroon)[:2] + _forms(macaroon)[3:]:
            assert form.decode() not in answers
            assert form.decode() not in logs
