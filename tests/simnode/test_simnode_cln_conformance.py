"""Every answer of the CLN face validates against Core Lightning v25.12's own JSON schemas
(refdata/specs/cln-v25.12: required fields, CLN's types, additionalProperties and if/then branches as
written there), every request we send against the request schema, and every error is CLN's
{"code": int, "message": str} with CLN's code for the case."""

from __future__ import annotations

import copy
import json
import socket

import pytest

from simnode.cln_conformance import spec_methods, validate_error, validate_request, validate_response
from simnode.testing import start_simnode


@pytest.fixture(scope="module")
def node():
    with start_simnode(seed=11, speed=0, start="snapshot", cln=True) as n:
        n.advance(hours=12)
        yield n


CALLED: set[str] = set()


def answer(node, method: str, params: dict | list | None = None) -> dict:
    """A successful call, request and answer checked against the method's schemas (where there is one)."""
    params = {} if params is None else params
    if method in spec_methods() and isinstance(params, dict):
        validate_request(method, params)
    reply = node.cln_call(method, params)
    assert "result" in reply, (method, params, reply)
    if method in spec_methods():
        validate_response(method, reply["result"])
        CALLED.add(method)
    return reply["result"]


def failure(node, method: str, params: dict | list, code: int) -> dict:
    reply = node.cln_call(method, params)
    assert set(reply) == {"error"}, (method, params, reply)
    validate_error(reply["error"])
    assert reply["error"]["code"] == code, (method, params, reply)
    return reply["error"]


def test_every_schema_method_answers_to_its_schema(node):
    info = answer(node, "getinfo")
    us = info["id"]
    chans = answer(node, "listpeerchannels")["channels"]
    assert {c["state"] for c in chans} == {"CHANNELD_NORMAL", "CHANNELD_AWAITING_LOCKIN", "CLOSINGD_COMPLETE", "ONCHAIN"}
    assert {c["peer_connected"] for c in chans} == {True, False}
    open_chan = next(c for c in chans if c["state"] == "CHANNELD_NORMAL" and c["peer_connected"])
    peer, short = open_chan["peer_id"], open_chan["short_channel_id"]
    answer(node, "listpeerchannels", {"id": peer})
    assert answer(node, "listpeerchannels", {"short_channel_id": short})["channels"][0]["channel_id"] == open_chan["channel_id"]
    answer(node, "listfunds")
    answer(node, "listfunds", {"spent": True})
    peers = answer(node, "listpeers")["peers"]
    assert {p["connected"] for p in peers} == {True, False}
    answer(node, "listpeers", {"id": peer, "level": "debug"})
    answer(node, "listnodes", {"id": peer})
    answer(node, "listnodes", {"id": us})
    assert answer(node, "listnodes", {"id": "02" + "00" * 32}) == {"nodes": []}
    answer(node, "listchannels", {"short_channel_id": short})
    answer(node, "listchannels", {"source": us})
    into_peer = answer(node, "listchannels", {"destination": peer})["channels"]
    snapshot_scid = next(c["short_channel_id"] for c in into_peer if us not in (c["source"], c["destination"]))
    answer(node, "listchannels", {"short_channel_id": snapshot_scid})
    forwards = answer(node, "listforwards")["forwards"]
    assert {f["status"] for f in forwards} == {"settled", "local_failed"}
    answer(node, "listforwards", {"status": "local_failed"})
    answer(node, "listforwards", {"index": "created", "start": 5, "limit": 40})
    answer(node, "listforwards", {"index": "updated", "start": 2, "limit": 40})
    answer(node, "listforwards", {"out_channel": forwards[0]["out_channel"]})
    answer(node, "setchannel", {"id": short, "feebase": 1000, "feeppm": 300})
    warned = answer(node, "setchannel", {"id": peer, "htlcmin": 0, "htlcmax": open_chan["total_msat"],
                                         "enforcedelay": 60})["channels"][0]
    assert {"warning_htlcmin_too_low", "warning_htlcmax_too_high"} <= set(warned)
    answer(node, "setchannel", {"id": "all", "ignorefeelimits": True})
    answer(node, "setchannel", [open_chan["channel_id"], "2sat", 301])
    assert open_chan["peer_id"] == peer and answer(node, "listpeerchannels", {"id": peer})["channels"][0]["ignore_fee_limits"]
    assert CALLED == set(spec_methods())


def test_whole_graph_answers_conform(node):
    """listchannels / listnodes without filters: the snapshot's ~120k directions and ~18k nodes plus ours.
    The schema check runs on a sample (all of it takes minutes) and every entry must have its keys."""
    us = node.node_id
    chans = node.cln_call("listchannels", {})["result"]["channels"]
    assert len(chans) > 100_000
    mine = [c for c in chans if us in (c["source"], c["destination"])]
    assert len(mine) == 32
    validate_response("listchannels", {"channels": chans[:3000] + chans[-3000:] + mine})
    keys = set(chans[0])
    assert all(set(c) == keys for c in chans)
    nodes = node.cln_call("listnodes", {})["result"]["nodes"]
    assert len(nodes) > 15_000 and sum(n["nodeid"] == us for n in nodes) == 1
    validate_response("listnodes", {"nodes": nodes[:3000] + [n for n in nodes if n["nodeid"] == us]})
    assert all(set(n) == set(nodes[0]) for n in nodes)


def test_errors_have_cln_shape_and_codes(node):
    peer = node.state()["channels"][0]["peer"]
    cases = [
        ("nosuchmethod", {}, -32601),
        ("getinfo", {"bogus": 1}, -32602),
        ("listforwards", {"status": "lost"}, -32602),
        ("listforwards", {"limit": 5}, -32602),
        ("listforwards", ["settled", "nonsense"], -32602),
        ("listchannels", {"source": peer, "destination": peer}, -32602),
        ("listpeerchannels", {"id": "nope"}, -32602),
        ("listnodes", [peer, peer], -32602),
        ("listpeers", {"level": "loud"}, -32602),
        ("setchannel", {"feeppm": 1}, -32602),
        ("setchannel", {"id": "999x1x1"}, -32602),
        ("setchannel", {"id": "all", "htlcmin": 5000, "htlcmax": 10}, -1),
        ("listfunds", {"spent": "perhaps"}, -32602),
        ("waitanyinvoice", {"timeout": 0}, 904),
        ("pay", {"bolt11": "lnbc1garbage"}, -32602),
        ("fundchannel", {"id": "02" + "42" * 32, "amount": 100_000}, 306),
        ("connect", {"id": "03" + "42" * 32}, 400),
    ]
    for method, params, code in cases:
        failure(node, method, params, code)
    bolt11 = answer(node, "invoice", {"amount_msat": 1000, "label": "conformance", "description": "x"})["bolt11"]
    failure(node, "invoice", {"amount_msat": 1000, "label": "conformance", "description": "y"}, 900)
    assert failure(node, "pay", {"bolt11": bolt11}, 210)["data"]["attempts"]


def _raw(node, payload: bytes) -> list[dict]:
    """Send bytes as they are; every answer until the server closes or goes quiet."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        sock.connect(node.cln_socket)
        sock.sendall(payload)
        buf = b""
        try:
            while chunk := sock.recv(65536):
                buf += chunk
                if buf.count(b"\n\n") >= payload.count(b'"jsonrpc"') and buf.endswith(b"\n\n"):
                    break
        except socket.timeout:
            pass
    return [json.loads(part) for part in buf.split(b"\n\n") if part.strip()]


def test_framing_and_malformed_requests_as_lightningd(node):
    two = (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "getinfo", "params": {}})
           + json.dumps({"jsonrpc": "2.0", "id": "b", "method": "help", "params": ["getinfo"]})).encode()
    first, second = _raw(node, two)  # back to back, no delimiter: answered in order, ids echoed
    assert (first["id"], second["id"]) == (1, "b") and "result" in first and "result" in second
    assert first["jsonrpc"] == "2.0"
    no_version = _raw(node, b'{"id": 7, "method": "getinfo", "params": {}}')[0]
    assert no_version == {"jsonrpc": "2.0", "id": None,
                          "error": {"code": -32600, "message": 'jsonrpc: "2.0" must be specified in the request'}}
    no_params = _raw(node, b'{"jsonrpc": "2.0", "id": 8, "method": "getinfo"}')[0]
    assert no_params["id"] == 8 and no_params["error"] == {"code": -32600, "message": "No params"}
    garbage = _raw(node, b"hello")[0]
    assert garbage["error"]["code"] == -32600
    for reply in (no_version, no_params, garbage):
        validate_error(reply["error"])


def test_validator_rejects_what_cln_would_not_print(node):
    """The checks above can fail: a field too many, one missing, a wrong type, a branch broken."""
    channel = node.cln_call("listpeerchannels", {})["result"]["channels"][0]
    forwards = node.cln_call("listforwards", {"status": "local_failed"})["result"]["forwards"]
    validate_response("listpeerchannels", {"channels": [channel]})
    broken = []
    extra = copy.deepcopy(channel) | {"simnode_secret": 1}
    missing = {k: v for k, v in channel.items() if k != "opener"}
    wrong_type = copy.deepcopy(channel) | {"to_us_msat": "1000msat"}
    bad_update = copy.deepcopy(channel)
    bad_update["updates"]["local"]["cltv_expiry"] = 40
    for doc in (extra, missing, wrong_type, bad_update):
        with pytest.raises(AssertionError):
            validate_response("listpeerchannels", {"channels": [doc]})
        broken.append(doc)
    failed_with_fee = forwards[0] | {"fee_msat": 1}  # only a forward with out_msat may carry a fee
    with pytest.raises(AssertionError):
        validate_response("listforwards", {"forwards": [failed_with_fee]})
    with pytest.raises(AssertionError):
        validate_error({"code": "-1", "message": "x"})
    assert len(broken) == 4
