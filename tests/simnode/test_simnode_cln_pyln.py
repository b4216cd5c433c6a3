"""pyln-client's real LightningRpc (the client LNbits uses) against `python -m simnode --cln-socket`,
with the /sim HTTP API driving the clock, the faults and the invoices meanwhile."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import pytest
from pyln.client import LightningRpc, RpcError

from simnode.testing import REPO_ROOT, start_simnode


@pytest.fixture(scope="module")
def node():
    with start_simnode(seed=7, speed=0, start="snapshot", cln=True) as n:
        yield n


@pytest.fixture
def rpc(node) -> LightningRpc:
    node.clear_faults()
    return LightningRpc(node.cln_socket)


def test_ready_line_names_the_socket_and_both_faces_serve(node, rpc):
    assert node.ready_line.endswith(f" cln={node.cln_socket}") and os.path.exists(node.cln_socket)
    assert rpc.getinfo()["id"] == node.node_id
    status, lnd = node.get("/v1/getinfo")  # the LND REST face stays up on the HTTP port
    assert status == 200 and lnd["identity_pubkey"] == node.node_id


def test_setchannel_through_pyln_by_name_and_by_position(node, rpc):
    ch = next(c for c in rpc.listpeerchannels()["channels"] if c["state"] == "CHANNELD_NORMAL")
    before = next(c for c in node.state()["channels"] if c["channel_point"].startswith(ch["funding_txid"]))["policy"]
    got = rpc.setchannel(ch["short_channel_id"], feeppm=before["ppm"] + 11)["channels"][0]
    assert got["fee_proportional_millionths"] == before["ppm"] + 11
    rpc.call("setchannel", [ch["channel_id"], 4321])  # positional, as lightning-cli sends
    after = next(c for c in node.state()["channels"] if c["channel_point"].startswith(ch["funding_txid"]))["policy"]
    assert (after["base_msat"], after["ppm"]) == (4321, before["ppm"] + 11)
    assert {k: after[k] for k in ("cltv", "min_htlc_msat", "max_htlc_msat")} == {
        k: before[k] for k in ("cltv", "min_htlc_msat", "max_htlc_msat")}
    peer_view = rpc.listpeerchannels(ch["peer_id"])["channels"][0]
    assert (peer_view["fee_base_msat"], peer_view["updates"]["local"]["fee_base_msat"]) == (4321, 4321)


def test_errors_reach_pyln_as_rpc_errors(rpc):
    with pytest.raises(RpcError) as bad:
        rpc.setchannel("0x0x0", feeppm=1)
    assert bad.value.error == {"code": -32602,
                               "message": "id: Short channel id not found: invalid token (see logs for details)"}
    with pytest.raises(RpcError) as unknown:
        rpc.call("frobnicate")
    assert unknown.value.error["code"] == -32601


def test_listforwards_paging_after_the_clock_moves(node, rpc):
    before = len(rpc.listforwards()["forwards"])
    node.advance(hours=24)
    everything = rpc.listforwards()["forwards"]
    assert len(everything) > before
    counted = node.requests()["requests"].get("cln listforwards", 0)
    pages, start = [], 1
    while page := rpc.listforwards(index="created", start=start, limit=250)["forwards"]:
        pages += page
        start = page[-1]["created_index"] + 1
    assert pages == everything
    assert len({p["created_index"] for p in pages}) == len(pages)
    truth = node.state()["totals"]
    assert sum(p["status"] == "settled" for p in pages) == truth["forwards"]
    calls = node.requests()
    assert calls["requests"]["cln listforwards"] == counted + -(-len(pages) // 250) + 1  # the pages and the empty one
    assert calls["response_bytes"]["cln listforwards"] > 0


def test_waitanyinvoice_blocks_until_settled_through_sim(node, rpc):
    inv = rpc.invoice(5000, "wait-test", "waiting")
    last = max([i.get("pay_index", 0) for i in rpc.listinvoices()["invoices"]], default=0)
    got: dict = {}
    waiter = threading.Thread(target=lambda: got.update(rpc.waitanyinvoice(last, timeout=30)))
    waiter.start()
    time.sleep(0.6)
    assert waiter.is_alive()  # held open
    t0 = time.monotonic()
    assert node.state()["now"]  # the /sim API answers while the CLN call waits
    assert time.monotonic() - t0 < 5
    httpx.post(node.url + "/sim/invoices/settle", json={"r_hash": inv["payment_hash"]})
    waiter.join(10)
    assert got["payment_hash"] == inv["payment_hash"] and got["status"] == "paid" and got["pay_index"] == last + 1
    started = time.monotonic()
    with pytest.raises(RpcError) as timed_out:
        rpc.waitanyinvoice(last + 1, timeout=1)
    assert timed_out.value.error["code"] == 904 and 0.9 < time.monotonic() - started < 5


def test_faults_latency_hang_drop_garbled_and_errors(node, rpc):
    node.set_faults({"method": "CLN", "path": "getinfo", "latency_ms": 400, "times": 1})
    t0 = time.monotonic()
    rpc.getinfo()
    assert time.monotonic() - t0 >= 0.4
    node.set_faults({"method": "CLN", "path": "listfunds", "hang": True, "hang_seconds": 1.5, "times": 1})
    result: dict = {}
    hung = threading.Thread(target=lambda: result.update(rpc.listfunds()))
    t0 = time.monotonic()
    hung.start()
    time.sleep(0.2)
    now = node.state()["now"]
    assert node.advance(seconds=600)["now"] == now + 600 and hung.is_alive()  # /sim answers during the hang
    hung.join(10)
    assert time.monotonic() - t0 >= 1.5 and "outputs" in result
    node.set_faults({"method": "CLN", "path": "listpeers", "drop": True, "times": 1})
    with pytest.raises(RpcError) as dropped:
        rpc.listpeers()
    assert dropped.value.error == "Connection to RPC server lost."
    node.set_faults({"method": "CLN", "path": "getinfo", "garbled": True, "times": 1})
    assert rpc.getinfo() == ["simnode fault: garbled answer"]
    node.set_faults({"method": "CLN", "path": "setchannel", "cln_code": -1, "message": "Channel is in incorrect state",
                     "times": 1})
    with pytest.raises(RpcError) as refused:
        rpc.setchannel("all", feeppm=10)
    assert refused.value.error == {"code": -1, "message": "Channel is in incorrect state"}
    assert rpc.setchannel("all", feeppm=10)["channels"]  # `times` used up
    assert node.state()["faults"]["injected"] >= 5


def test_filter_and_notifications_handshake(rpc):
    with rpc.reply_filter({"channels": [{"short_channel_id": True}]}):
        rows = rpc.listpeerchannels()["channels"]
    assert rows and all(set(r) <= {"short_channel_id"} for r in rows)
    seen: list = []
    with rpc.notify(lambda **kw: seen.append(kw)):  # pyln sends "notifications" first on the same connection
        assert rpc.help("setchannel")["help"][0]["command"].startswith("setchannel id [feebase] [feeppm]")
    assert seen == []


def _start(socket_path: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen([sys.executable, "-m", "simnode", "--port", "0", "--speed", "0", "--cln-socket", socket_path],
                            cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_socket_in_use_stops_a_second_simnode_and_a_stale_one_is_replaced(node):
    second = _start(node.cln_socket)
    _, err = second.communicate(timeout=30)
    assert second.returncode == 1 and f"cannot listen on {node.cln_socket}: another process serves it" in err
    with tempfile.TemporaryDirectory(prefix="simnode-stale-") as d:
        path = os.path.join(d, "rpc")
        left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        left.bind(path)  # a socket file nobody listens on, as a crashed process leaves it
        left.close()
        third = _start(path)
        try:
            line = third.stdout.readline()
            assert f"cln={path}" in line
            assert LightningRpc(path).getinfo()["version"] == "v25.12"
        finally:
            third.terminate()
            third.wait(10)
        assert not os.path.exists(path)  # removed on the way out
