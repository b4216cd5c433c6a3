"""Every response simnode serves validates against LND v0.21.2's swagger (strict JSON Schema)."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import httpx
import pytest

from simnode.conformance import response_schemas, validate
from simnode.lnd_api import match_path
from simnode.testing import start_simnode


@pytest.fixture(scope="module")
def node():
    with start_simnode(seed=11, speed=0, start="snapshot") as n:
        print(f"\nsimnode startup: {n.startup_seconds:.2f}s (in-process figure from ready line)")
        n.advance(hours=6)
        yield n


def _client(node) -> httpx.Client:
    return httpx.Client(base_url=node.url, headers=node.headers, timeout=60)


def check(method: str, path: str, resp: httpx.Response) -> dict | list:
    """Validate one served response: unary body, stream lines or error body."""
    template, _ = match_path(path.split("?")[0])  # type: ignore[misc]
    name, streaming = response_schemas()[(method, template)]
    if streaming:
        lines = [json.loads(x) for x in resp.text.splitlines() if x.strip()]
        assert lines, f"{method} {path}: empty stream"
        for line in lines:
            assert set(line) in ({"result"}, {"error"}), line
            if "result" in line:
                validate(name, line["result"])
            else:
                validate("rpcStatus", line["error"])
        return lines
    body = resp.json()
    if resp.status_code == 200:
        validate(name, body)
    else:
        validate("rpcStatus", body)
        assert body["details"] == []
    return body


def test_unary_endpoints_conform(node):
    with _client(node) as c:
        info = check("GET", "/v1/getinfo", c.get("/v1/getinfo"))
        chans = check("GET", "/v1/channels", c.get("/v1/channels"))["channels"]
        assert len(chans) == 16
        peer = chans[0]["remote_pubkey"]
        peer_b64 = base64.urlsafe_b64encode(bytes.fromhex(peer)).decode()
        for path in [
            "/v1/balance/channels", "/v1/balance/blockchain", "/v1/peers", "/v1/channels/pending",
            "/v1/channels/closed", "/v1/channels/closed?cooperative=true", "/v1/fees", "/v1/graph/info",
            f"/v1/channels?peer={peer_b64}", "/v1/channels?active_only=true&peer_alias_lookup=true",
            "/v1/channels?inactive_only=1", f"/v1/graph/node/{peer}", f"/v1/graph/node/{peer}?include_channels=true",
            f"/v1/graph/node/{info['identity_pubkey']}?include_channels=true",
            f"/v1/graph/edge/{chans[0]['chan_id']}", "/v1/invoices", "/v1/payments?count_total_payments=true",
        ]:
            r = c.get(path)
            assert r.status_code == 200, (path, r.text)
            check("GET", path, r)
        # a snapshot edge too (not ours)
        g = c.get(f"/v1/graph/node/{peer}?include_channels=true").json()
        other = next(e for e in g["channels"] if info["identity_pubkey"] not in (e["node1_pub"], e["node2_pub"]))
        check("GET", f"/v1/graph/edge/{other['channel_id']}", c.get(f"/v1/graph/edge/{other['channel_id']}"))


def test_post_endpoints_conform(node):
    with _client(node) as c:
        ch = c.get("/v1/channels").json()["channels"][1]
        txid, idx = ch["channel_point"].split(":")
        r = c.post("/v1/chanpolicy", json={"chan_point": {"funding_txid_str": txid, "output_index": int(idx)},
                                           "base_fee_msat": "1000", "fee_rate_ppm": 300, "time_lock_delta": 80})
        assert r.status_code == 200
        check("POST", "/v1/chanpolicy", r)
        r = c.post("/v1/chanpolicy", json={"chan_point": {"funding_txid_str": "ab" * 32, "output_index": 0},
                                           "time_lock_delta": 80})
        body = check("POST", "/v1/chanpolicy", r)
        assert body["failed_updates"][0]["reason"] == "UPDATE_FAILURE_NOT_FOUND"
        r = c.post("/v1/switch", json={"num_max_events": 50})
        ev = check("POST", "/v1/switch", r)
        assert ev["forwarding_events"], "history should contain forwards"
        pre = hashlib.sha256(b"conformance").digest()
        r = c.post("/v1/invoices", json={"value": 1000, "memo": "t", "r_preimage": base64.b64encode(pre).decode()})
        inv = check("POST", "/v1/invoices", r)
        h = base64.b64decode(inv["r_hash"]).hex()
        check("GET", f"/v1/invoice/{h}", c.get(f"/v1/invoice/{h}"))
        check("GET", "/v1/invoices", c.get("/v1/invoices?reversed=true"))
        r = c.post("/v2/invoices/hodl", json={"value": 5, "hash": base64.b64encode(hashlib.sha256(b"h").digest()).decode()})
        check("POST", "/v2/invoices/hodl", r)
        check("POST", "/v2/invoices/settle", c.post("/v2/invoices/settle", json={"preimage": base64.b64encode(b"h").decode()}))
        r = c.post("/v2/router/updatechanstatus", json={"chan_point": {"funding_txid_str": txid, "output_index": int(idx)},
                                                        "action": "DISABLE"})
        check("POST", "/v2/router/updatechanstatus", r)
        # streaming: send (one line with no_inflight_updates), track known and unknown
        r = c.post("/v2/router/send", json={"payment_request": inv["payment_request"], "fee_limit_msat": 1000,
                                            "timeout_seconds": 30, "no_inflight_updates": True})
        lines = check("POST", "/v2/router/send", r)
        assert len(lines) == 1 and lines[0]["result"]["status"] == "FAILED"
        hb = base64.urlsafe_b64encode(bytes.fromhex(h)).decode()
        check("GET", f"/v2/router/track/{hb}", c.get(f"/v2/router/track/{hb}"))
        r = c.get(f"/v2/router/track/{base64.urlsafe_b64encode(b'x' * 32).decode()}")
        assert r.status_code == 404
        assert check("GET", "/v2/router/track/x", r)[0]["error"]["code"] == 5
        check("GET", "/v1/payments", c.get("/v1/payments"))


def test_error_bodies_conform(node):
    with _client(node) as c:
        cases = [
            ("GET", "/v1/nothing-here", None, 404, 5),
            ("POST", "/v1/getinfo", {}, 501, 12),
            ("POST", "/v1/switch", {"foo": 1}, 400, 3),
            ("GET", "/v1/graph/edge/123", None, 404, 5),
            ("GET", "/v1/graph/node/02" + "00" * 32, None, 404, 5),
            ("GET", "/v1/channels?active_only=true&inactive_only=true", None, 500, 2),
            ("POST", "/v1/chanpolicy", {"base_fee_msat": 1, "time_lock_delta": 80}, 500, 2),
            ("POST", "/v1/chanpolicy", {"global": True, "time_lock_delta": 10}, 500, 2),
            ("POST", "/v1/chanpolicy", {"global": True, "fee_rate": 0.001, "fee_rate_ppm": 5, "time_lock_delta": 40}, 400, 3),
            ("GET", "/v1/invoice/" + "00" * 32, None, 404, 5),
        ]
        for method, path, body, status, code in cases:
            r = c.request(method, path, json=body)
            assert r.status_code == status, (method, path, r.status_code, r.text)
            assert r.json()["code"] == code, (method, path, r.text)
            validate("rpcStatus", r.json())
        r = httpx.get(node.url + "/v1/getinfo")
        assert r.status_code == 500 and r.json() == {"code": 2, "message": "expected 1 macaroon, got 0", "details": []}
        r = httpx.get(node.url + "/v1/getinfo", headers={"grpc-metadata-macaroon": "00ff"})
        assert r.status_code == 500 and "verification failed" in r.json()["message"]


def test_describegraph_conforms_and_is_fast(node):
    with _client(node) as c:
        c.get("/v1/getinfo")
        t = time.monotonic()
        r = c.get("/v1/graph")
        elapsed = time.monotonic() - t
        print(f"\n/v1/graph: {elapsed:.2f}s, {len(r.content) / 1e6:.1f} MB")
        g = r.json()
        me = c.get("/v1/getinfo").json()["identity_pubkey"]
        mine = [e for e in g["edges"] if me in (e["node1_pub"], e["node2_pub"])]
        assert len(mine) == 16
        assert any(n["pub_key"] == me for n in g["nodes"])
        assert len(g["edges"]) > 50_000 and len(g["nodes"]) > 15_000
        for e in g["edges"]:
            assert e["node1_pub"] < e["node2_pub"]
        # schema-check a sample (full validation of ~60k edges is needlessly slow)
        sample = {"nodes": g["nodes"][:200] + [n for n in g["nodes"] if n["pub_key"] == me],
                  "edges": g["edges"][:300] + mine}
        validate("lnrpcChannelGraph", sample)
