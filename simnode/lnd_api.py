"""LND v0.21.2 REST dispatcher: (method, path, query, body, headers) → Response. No networking.

    resp = handle(sim, "GET", "/v1/fees")
    resp.status, resp.json()

`macaroon=None` skips the macaroon check (in-process use); the HTTP server passes
its configured value, the admin macaroon: every request is then verified by
macaroons.py (signature, root key id, caveats, the RPC's permissions).  Order
follows grpc-gateway: route (404/501) → body decode (400) → macaroon (500) →
fault injection → RPC.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from .encoding import (
    SCHEMAS, LndError, Response, b64, decode_bytes, error_response, parse_body, parse_int_param, q_bool, q_get,
    q_int, txid_bytes_b64,
)
from .faults import FaultAction
from .graph import edge_json, lightning_node
from . import macaroons
from .node import Channel, Policy, SimNode, block_hash

VERSION = "0.21.2-beta commit=v0.21.2-beta"
COMMIT_HASH = "9a5e2f4c0a3b1d6e7f8091a2b3c4d5e6f7081920"
MAINNET_GENESIS = "6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000"
MIN_TIME_LOCK_DELTA, MAX_TIME_LOCK_DELTA, MAX_CLTV_EXPIRY = 24, 65535, 2016
WRONG_MACAROON = macaroons.WRONG_MACAROON

# Every REST path LND v0.21.2 serves (from its swagger files) and its methods:
# known path + other method → 501; unimplemented here → 501 with a simnode message.
LND_PATHS: dict[str, tuple[str, ...]] = {
    "/v1/aliases/list": ("GET",), "/v1/balance/blockchain": ("GET",), "/v1/balance/channels": ("GET",),
    "/v1/channels": ("GET", "POST"),
    "/v1/channels/abandon/{channel_point.funding_txid_str}/{channel_point.output_index}": ("DELETE",),
    "/v1/channels/acceptor": ("POST",), "/v1/channels/backup": ("GET",), "/v1/channels/backup/restore": ("POST",),
    "/v1/channels/backup/subscribe": ("GET",), "/v1/channels/backup/verify": ("POST",),
    "/v1/channels/backup/{chan_point.funding_txid_str}/{chan_point.output_index}": ("GET",),
    "/v1/channels/batch": ("POST",), "/v1/channels/closed": ("GET",), "/v1/channels/pending": ("GET",),
    "/v1/channels/stream": ("POST",), "/v1/channels/subscribe": ("GET",),
    "/v1/channels/{channel_point.funding_txid_str}/{channel_point.output_index}": ("DELETE",),
    "/v1/chanpolicy": ("POST",), "/v1/custommessage": ("POST",), "/v1/custommessage/subscribe": ("GET",),
    "/v1/debuglevel": ("POST",), "/v1/fees": ("GET",), "/v1/funding/step": ("POST",), "/v1/getdebuginfo": ("GET",),
    "/v1/getinfo": ("GET",), "/v1/getrecoveryinfo": ("GET",), "/v1/graph": ("GET",),
    "/v1/graph/edge/{chan_id}": ("GET",), "/v1/graph/info": ("GET",), "/v1/graph/node/{pub_key}": ("GET",),
    "/v1/graph/nodemetrics": ("GET",), "/v1/graph/routes/{pub_key}/{amt}": ("GET", "POST"),
    "/v1/graph/subscribe": ("GET",), "/v1/htlc-resolution/{chan_id}/{htlc_index}": ("GET",),
    "/v1/invoice/{r_hash_str}": ("GET",), "/v1/invoices": ("DELETE", "GET", "POST"),
    "/v1/invoices/subscribe": ("GET",), "/v1/macaroon": ("POST",), "/v1/macaroon/checkpermissions": ("POST",),
    "/v1/macaroon/ids": ("GET",), "/v1/macaroon/permissions": ("GET",), "/v1/macaroon/{root_key_id}": ("DELETE",),
    "/v1/middleware": ("POST",), "/v1/newaddress": ("GET",), "/v1/onionmessage": ("POST",),
    "/v1/onionmessage/subscribe": ("GET",), "/v1/payment": ("DELETE",), "/v1/payments": ("DELETE", "GET"),
    "/v1/payreq/{pay_req}": ("GET",), "/v1/peers": ("GET", "POST"), "/v1/peers/subscribe": ("GET",),
    "/v1/peers/{pub_key}": ("DELETE",), "/v1/signmessage": ("POST",), "/v1/stop": ("POST",),
    "/v1/switch": ("POST",), "/v1/transactions": ("GET", "POST"), "/v1/transactions/fee": ("GET",),
    "/v1/transactions/many": ("POST",), "/v1/transactions/subscribe": ("GET",), "/v1/utxos": ("GET",),
    "/v1/verifymessage": ("POST",), "/v2/router/fwdhistory/delete": ("POST",), "/v2/router/htlcevents": ("GET",),
    "/v2/router/htlcinterceptor": ("POST",), "/v2/router/mc": ("GET",),
    "/v2/router/mc/probability/{from_node}/{to_node}/{amt_msat}": ("GET",), "/v2/router/mc/reset": ("POST",),
    "/v2/router/mccfg": ("GET", "POST"), "/v2/router/payments": ("GET",), "/v2/router/route": ("POST",),
    "/v2/router/route/estimatefee": ("POST",), "/v2/router/route/send": ("POST",), "/v2/router/send": ("POST",),
    "/v2/router/track/{payment_hash}": ("GET",), "/v2/router/updatechanstatus": ("POST",),
    "/v2/router/x/addaliases": ("POST",), "/v2/router/x/deletealiases": ("POST",),
    "/v2/router/x/findbasealias": ("POST",), "/v2/router/x/importhistory": ("POST",),
    "/v2/invoices/cancel": ("POST",), "/v2/invoices/hodl": ("POST",), "/v2/invoices/htlcmodifier": ("POST",),
    "/v2/invoices/lookup": ("GET",), "/v2/invoices/settle": ("POST",), "/v2/invoices/subscribe/{r_hash}": ("GET",),
}


@dataclass
class Req:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: dict
    raw_body: bytes
    fault: FaultAction
    auth: "macaroons.MacaroonService | None" = None


Handler = Callable[[SimNode, Req], Response]
_HANDLERS: dict[tuple[str, str], tuple[Handler, str | None]] = {}


def route(method: str, template: str, body: str | None = None) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        _HANDLERS[(method, template)] = (fn, body)
        return fn
    return deco


def _compile(template: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "([^/]+)", re.escape(template)) + "$")


_COMPILED: list[tuple[str, re.Pattern, list[str]]] = [
    (t, _compile(t), re.findall(r"\{([^}]+)\}", t)) for t in LND_PATHS
]
# Literal paths must win over templates (e.g. /v1/channels/pending vs /v1/channels/{..}/{..}).
_COMPILED.sort(key=lambda x: (len(x[2]), -len(x[0])))


def match_path(path: str) -> tuple[str, dict[str, str]] | None:
    for template, pat, names in _COMPILED:
        m = pat.match(path)
        if m:
            return template, dict(zip(names, m.groups()))
    return None


def handle(
    sim: SimNode,
    method: str,
    path: str,
    query: dict[str, list[str]] | None = None,
    body: bytes | dict | None = b"",
    headers: dict[str, str] | list | None = None,
    macaroon: str | None = None,
    fault: FaultAction | None = None,
) -> Response:
    method = method.upper()
    key = f"{method} {path}"
    sim.request_counts[key] = sim.request_counts.get(key, 0) + 1
    query = query or {}
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    body = body or b""
    try:
        matched = match_path(path)
        if matched is None:
            raise LndError(5, "Not Found")
        template, params = matched
        if method not in LND_PATHS[template]:
            raise LndError(12, "Method Not Allowed")
        entry = _HANDLERS.get((method, template))
        parsed = parse_body(body, entry[1]) if entry and entry[1] else {}
        auth = macaroons.service_for(sim, macaroon) if macaroon is not None else None
        if auth is not None:
            pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
            auth.check_request(pairs, method, template)
        if fault is None:
            fault = sim.faults.decide(method, path)
        if fault.status is not None:
            raise LndError(fault.grpc_code, fault.message)
        if entry is None:
            raise LndError(12, f"simnode: {method} {template} is not implemented")
        return entry[0](sim, Req(method, path, params, query, parsed, body, fault, auth))
    except LndError as err:
        return error_response(err)


# ---------------------------------------------------------------- helpers
def s(x: int) -> str:
    return str(int(x))


def amount(msat: int) -> dict:
    return {"sat": s(msat // 1000), "msat": s(msat)}


def _our_policy_json(c: Channel) -> dict:
    p = c.policy
    return {
        "time_lock_delta": p.cltv, "min_htlc": s(p.min_htlc_msat), "fee_base_msat": s(p.base_msat),
        "fee_rate_milli_msat": s(p.ppm), "disabled": p.disabled, "max_htlc_msat": s(p.max_htlc_msat),
        "last_update": p.last_update, "custom_records": {},
        "inbound_fee_base_msat": p.inbound_base_msat, "inbound_fee_rate_milli_msat": p.inbound_ppm,
    }


def _peer_policy_json(c: Channel) -> dict:
    p = c.peer_policy
    return {
        "time_lock_delta": p.cltv, "min_htlc": s(p.min_htlc_msat), "fee_base_msat": s(p.base_msat),
        "fee_rate_milli_msat": s(p.ppm), "disabled": p.disabled, "max_htlc_msat": s(p.max_htlc_msat),
        "last_update": p.last_update, "custom_records": {},
        "inbound_fee_base_msat": p.inbound_base_msat, "inbound_fee_rate_milli_msat": p.inbound_ppm,
    }


def our_edge_json(sim: SimNode, c: Channel) -> dict:
    ours, theirs = _our_policy_json(c), _peer_policy_json(c)
    n1_is_us = sim.pubkey < c.peer
    return {
        "channel_id": s(c.chan_id),
        "chan_point": c.channel_point,
        "last_update": max(c.policy.last_update, c.peer_policy.last_update),
        "node1_pub": sim.pubkey if n1_is_us else c.peer,
        "node2_pub": c.peer if n1_is_us else sim.pubkey,
        "capacity": s(c.capacity),
        "node1_policy": ours if n1_is_us else theirs,
        "node2_policy": theirs if n1_is_us else ours,
        "custom_records": {},
        "auth_proof": None,
    }


def our_node_json(sim: SimNode) -> dict:
    return lightning_node(sim.pubkey, sim.alias, sim.color, sim.address, max(
        [c.policy.last_update for c in sim.channels] + [sim.start_ts - 3600]))


def _constraints(c: Channel, local: bool) -> dict:
    return {
        "csv_delay": 144 if local else 144 + (c.capacity // 1_000_000) % 3 * 144,
        "chan_reserve_sat": s(c.reserve_sat), "dust_limit_sat": "354",
        "max_pending_amt_msat": s(c.capacity * 990), "min_htlc_msat": "1", "max_accepted_htlcs": 483,
    }


def channel_json(sim: SimNode, c: Channel, alias_lookup: bool) -> dict:
    lifetime = sim.lifetime(c)
    return {
        "active": c.active, "remote_pubkey": c.peer, "channel_point": c.channel_point, "chan_id": s(c.chan_id),
        "capacity": s(c.capacity), "local_balance": s(c.local_msat // 1000), "remote_balance": s(c.remote_msat // 1000),
        "commit_fee": s(c.commit_fee), "commit_weight": "1116", "fee_per_kw": "2500", "unsettled_balance": "0",
        "total_satoshis_sent": s(c.sent_sat_base + c.fwd_out_msat // 1000),
        "total_satoshis_received": s(c.recv_sat_base + c.fwd_in_msat // 1000),
        "num_updates": s(c.num_updates), "pending_htlcs": [], "csv_delay": _constraints(c, False)["csv_delay"],
        "private": False, "initiator": c.initiator, "chan_status_flags": "ChanStatusDefault",
        "local_chan_reserve_sat": s(c.reserve_sat), "remote_chan_reserve_sat": s(c.reserve_sat),
        "static_remote_key": False, "commitment_type": "ANCHORS",
        "lifetime": s(lifetime), "uptime": s(int(lifetime * c.uptime_frac)), "close_address": "",
        "push_amount_sat": "0", "thaw_height": 0,
        "local_constraints": _constraints(c, True), "remote_constraints": _constraints(c, False),
        "alias_scids": [], "zero_conf": False, "zero_conf_confirmed_scid": "0",
        "peer_alias": c.alias if alias_lookup else "", "peer_scid_alias": "0", "memo": "",
        "custom_channel_data": "",
    }


def _peer_filter(query: dict[str, list[str]]) -> str | None:
    raw = q_get(query, "peer")
    if not raw:
        return None
    return decode_bytes(raw, "peer").hex()


def _txid_from_point(cp: dict | None) -> tuple[str, int] | None:
    if not cp:
        return None
    if cp.get("funding_txid_str"):
        txid = cp["funding_txid_str"]
    elif cp.get("funding_txid_bytes"):
        txid = cp["funding_txid_bytes"][::-1].hex()
    else:
        txid = ""
    return txid, int(cp.get("output_index") or 0)


# ---------------------------------------------------------------- node & balances
@route("GET", "/v1/getinfo")
def getinfo(sim: SimNode, req: Req) -> Response:
    act = sum(1 for c in sim.channels if c.active)
    peers = _peer_list(sim)
    height = sim.block_height
    return Response(200, {
        "version": VERSION, "commit_hash": COMMIT_HASH, "identity_pubkey": sim.pubkey, "alias": sim.alias,
        "color": sim.color, "num_pending_channels": len(sim.pending_open),
        "num_active_channels": act, "num_inactive_channels": len(sim.channels) - act,
        "num_peers": len(peers), "block_height": height, "block_hash": block_hash(height),
        "best_header_timestamp": s(int(sim.now) - int(sim.now) % 600), "synced_to_chain": True,
        "synced_to_graph": True, "testnet": False, "chains": [{"chain": "bitcoin", "network": "mainnet"}],
        "uris": [f"{sim.pubkey}@{sim.address}"], "features": _getinfo_features(),
        "require_htlc_interceptor": False, "store_final_htlc_resolutions": False,
        "wallet_synced": True, "graph_cache_status": "GRAPH_CACHE_STATUS_LOADED",
    })


def _getinfo_features() -> dict:
    from .graph import NODE_FEATURES
    return NODE_FEATURES


@route("GET", "/v1/balance/channels")
def balance_channels(sim: SimNode, req: Req) -> Response:
    local = sum(c.local_msat for c in sim.channels)
    remote = sum(c.remote_msat for c in sim.channels)
    pend_local = sum(p["local"] for p in sim.pending_open) * 1000
    pend_remote = sum(p["remote"] for p in sim.pending_open) * 1000
    return Response(200, {
        "balance": s(local // 1000), "pending_open_balance": s(pend_local // 1000),
        "local_balance": amount(local), "remote_balance": amount(remote),
        "unsettled_local_balance": amount(0), "unsettled_remote_balance": amount(0),
        "pending_open_local_balance": amount(pend_local), "pending_open_remote_balance": amount(pend_remote),
        "custom_channel_data": "",
    })


@route("GET", "/v1/balance/blockchain")
def balance_blockchain(sim: SimNode, req: Req) -> Response:
    conf = sim.onchain_sat
    reserved = min(100_000, 10_000 * len(sim.channels))
    return Response(200, {
        "total_balance": s(conf), "confirmed_balance": s(conf), "unconfirmed_balance": "0", "locked_balance": "0",
        "reserved_balance_anchor_chan": s(reserved),
        "account_balance": {"default": {"confirmed_balance": s(conf), "unconfirmed_balance": "0"}},
    })


def _peer_list(sim: SimNode) -> list[tuple[str, Channel | None]]:
    seen: dict[str, Channel | None] = {}
    for c in sim.channels:
        if c.active and c.peer not in seen:
            seen[c.peer] = c
    for p in sim.pending_open:
        seen.setdefault(p["peer"], None)
    for pub in getattr(sim, "extra_peers", []):
        seen.setdefault(pub, None)
    return sorted(seen.items())


@route("GET", "/v1/peers")
def peers(sim: SimNode, req: Req) -> Response:
    out = []
    for pub, c in _peer_list(sim):
        x = hashlib.sha256(f"peer:{sim.seed}:{pub}".encode()).digest()
        flaps = c.flap_count if c else 0
        errors = []
        if flaps > 5:
            errors = [{"timestamp": s((int(sim.now) - 3600 * (i + 1)) * 10**9), "error": "peer disconnected: read: connection reset by peer"} for i in range(2)]
        out.append({
            "pub_key": pub, "address": sim.graph.node_address(pub), "bytes_sent": s(int.from_bytes(x[:3], "big") * 100),
            "bytes_recv": s(int.from_bytes(x[3:6], "big") * 100),
            "sat_sent": s((c.sent_sat_base + c.fwd_out_msat // 1000) if c else 0),
            "sat_recv": s((c.recv_sat_base + c.fwd_in_msat // 1000) if c else 0),
            "inbound": x[6] % 2 == 0, "ping_time": s(20_000 + x[7] * 1000),
            "sync_type": "ACTIVE_SYNC" if x[8] % 3 == 0 else "PASSIVE_SYNC", "features": _getinfo_features(),
            "errors": errors, "flap_count": flaps,
            "last_flap_ns": s((int(sim.now) - 3600 * (x[9] + 1)) * 10**9 if flaps else 0), "last_ping_payload": "",
        })
    return Response(200, {"peers": out})


@route("POST", "/v1/peers", body="ConnectPeerRequest")
def connect_peer(sim: SimNode, req: Req) -> Response:
    addr = req.body.get("addr") or {}
    pub = (addr.get("pubkey") or "").lower()
    if not re.fullmatch(r"0[23][0-9a-f]{64}", pub):
        raise LndError(2, "invalid pubkey")
    if pub in dict(_peer_list(sim)):
        raise LndError(2, f"already connected to peer: {pub}@{addr.get('host', '')}")
    extra = sim.__dict__.setdefault("extra_peers", [])
    extra.append(pub)
    return Response(200, {"status": f"connection to {pub}@{addr.get('host', '')} initiated"})


@route("DELETE", "/v1/peers/{pub_key}")
def disconnect_peer(sim: SimNode, req: Req) -> Response:
    pub = req.params["pub_key"].lower()
    extra = sim.__dict__.setdefault("extra_peers", [])
    if pub in extra:
        extra.remove(pub)
        return Response(200, {"status": "disconnect initiated"})
    if pub in dict(_peer_list(sim)):
        raise LndError(2, f"cannot disconnect from peer({pub}), still has open channels")
    raise LndError(2, f"unable to disconnect peer: peer {pub} is not connected")


# ---------------------------------------------------------------- channels
@route("GET", "/v1/channels")
def list_channels(sim: SimNode, req: Req) -> Response:
    q = req.query
    active_only, inactive_only = q_bool(q, "active_only"), q_bool(q, "inactive_only")
    public_only, private_only = q_bool(q, "public_only"), q_bool(q, "private_only")
    if active_only and inactive_only:
        raise LndError(2, "either `active_only` or `inactive_only` can be set, but not both")
    if public_only and private_only:
        raise LndError(2, "either `public_only` or `private_only` can be set, but not both")
    peer = _peer_filter(q)
    if peer is not None and len(peer) != 66:
        raise LndError(2, f"invalid public key: {peer}")
    lookup = q_bool(q, "peer_alias_lookup")
    out = []
    for c in sim.channels:
        if (active_only and not c.active) or (inactive_only and c.active) or private_only:
            continue
        if peer is not None and c.peer != peer:
            continue
        out.append(channel_json(sim, c, lookup))
    return Response(200, {"channels": out})


def _pending_channel(sim: SimNode, p: dict) -> dict:
    return {
        "remote_node_pub": p["peer"], "channel_point": f"{p['txid']}:{p['vout']}", "capacity": s(p["capacity"]),
        "local_balance": s(p["local"]), "remote_balance": s(p["remote"]),
        "local_chan_reserve_sat": s(p["capacity"] // 100), "remote_chan_reserve_sat": s(p["capacity"] // 100),
        "initiator": "INITIATOR_LOCAL", "commitment_type": "ANCHORS", "num_forwarding_packages": "0",
        "chan_status_flags": "ChanStatusDefault", "private": False, "memo": "", "custom_channel_data": "",
    }


@route("GET", "/v1/channels/pending")
def pending_channels(sim: SimNode, req: Req) -> Response:
    h = sim.block_height
    opens = [{
        "channel": _pending_channel(sim, p), "commit_fee": "2790", "commit_weight": "1116", "fee_per_kw": "2500",
        "funding_expiry_blocks": 2016 - 3, "confirmations_until_active": 3, "confirmation_height": 0,
    } for p in sim.pending_open]
    waiting = [{
        "channel": _pending_channel(sim, p), "limbo_balance": s(p["local"]),
        "commitments": {"local_txid": p["closing_txid"], "remote_txid": "", "remote_pending_txid": "",
                        "local_commit_fee_sat": "2790", "remote_commit_fee_sat": "0", "remote_pending_commit_fee_sat": "0"},
        "closing_txid": p["closing_txid"], "closing_tx_hex": "", "blocks_til_close_confirmed": 0, "close_height": 0,
    } for p in sim.waiting_close]
    forced = [{
        "channel": _pending_channel(sim, p), "closing_txid": p["closing_txid"], "limbo_balance": s(p["local"]),
        "maturity_height": p["maturity_height"], "blocks_til_maturity": p["maturity_height"] - h,
        "recovered_balance": "0", "pending_htlcs": [], "anchor": "LIMBO",
    } for p in sim.force_closing]
    limbo = sum(p["local"] for p in sim.waiting_close + sim.force_closing)
    return Response(200, {
        "total_limbo_balance": s(limbo), "pending_open_channels": opens, "pending_closing_channels": [],
        "pending_force_closing_channels": forced, "waiting_close_channels": waiting,
    })


CLOSE_FILTERS = {
    "cooperative": "COOPERATIVE_CLOSE", "local_force": "LOCAL_FORCE_CLOSE", "remote_force": "REMOTE_FORCE_CLOSE",
    "breach": "BREACH_CLOSE", "funding_canceled": "FUNDING_CANCELED", "abandoned": "ABANDONED",
}


@route("GET", "/v1/channels/closed")
def closed_channels(sim: SimNode, req: Req) -> Response:
    wanted = {v for k, v in CLOSE_FILTERS.items() if q_bool(req.query, k)}
    out = []
    for c in sim.closed:
        if wanted and c["close_type"] not in wanted:
            continue
        out.append({
            "channel_point": f"{c['txid']}:{c['vout']}", "chan_id": s(c["chan_id"]), "chain_hash": MAINNET_GENESIS,
            "closing_tx_hash": c["closing_txid"], "remote_pubkey": c["peer"], "capacity": s(c["capacity"]),
            "close_height": c["close_height"], "settled_balance": s(c["settled"]), "time_locked_balance": "0",
            "close_type": c["close_type"], "open_initiator": "INITIATOR_LOCAL", "close_initiator": c["close_initiator"],
            "resolutions": [], "alias_scids": [], "zero_conf_confirmed_scid": "0", "custom_channel_data": "",
        })
    return Response(200, {"channels": out})


@route("POST", "/v1/channels", body="OpenChannelRequest")
def open_channel(sim: SimNode, req: Req) -> Response:
    raise LndError(2, "simnode: opening channels is not simulated")


@route("DELETE", "/v1/channels/{channel_point.funding_txid_str}/{channel_point.output_index}")
def close_channel(sim: SimNode, req: Req) -> Response:
    return Response(200, stream="finite", lines=[{"error": {"code": 2, "message": "simnode: closing channels is not simulated", "details": []}}])


# ---------------------------------------------------------------- graph
@route("GET", "/v1/graph")
def describe_graph(sim: SimNode, req: Req) -> Response:
    nodes_json, edges_json = sim.graph.static_graph_parts()
    enc = json.JSONEncoder(separators=(",", ":")).encode
    ours_nodes = enc(our_node_json(sim)).encode()
    ours_edges = ",".join(enc(our_edge_json(sim, c)) for c in sim.channels).encode()
    body = b"".join([
        b'{"nodes":[', nodes_json, b"," if nodes_json else b"", ours_nodes, b'],"edges":[', edges_json,
        b"," if edges_json and ours_edges else b"", ours_edges, b"]}",
    ])
    return Response(200, body)


@route("GET", "/v1/graph/edge/{chan_id}")
def get_chan_info(sim: SimNode, req: Req) -> Response:
    cid = parse_int_param(req.params["chan_id"], "chan_id")
    if cid == 0 and q_get(req.query, "chan_point"):
        txid, _, idx = (q_get(req.query, "chan_point") or "").partition(":")
        c = sim.channel_by_point(txid, int(idx or 0))
        if c:
            return Response(200, our_edge_json(sim, c))
        for e in sim.graph.edges:
            if e.txid == txid and e.vout == int(idx or 0):
                return Response(200, edge_json(e))
        raise LndError(5, "edge not found")
    c = sim.channel(cid)
    if c is not None:
        return Response(200, our_edge_json(sim, c))
    i = sim.graph.edge_index.get(cid)
    if i is None:
        raise LndError(5, "edge not found")
    return Response(200, edge_json(sim.graph.edges[i]))


@route("GET", "/v1/graph/node/{pub_key}")
def get_node_info(sim: SimNode, req: Req) -> Response:
    pub = req.params["pub_key"].lower()
    if not re.fullmatch(r"[0-9a-f]*", pub) or len(pub) % 2:
        raise LndError(2, "encoding/hex: invalid byte")
    if len(pub) != 66:
        raise LndError(2, f"malformed public key: invalid pub key length {len(pub) // 2}")
    g = sim.graph
    include = q_bool(req.query, "include_channels")
    ours = [c for c in sim.channels if c.peer == pub] if pub != sim.pubkey else list(sim.channels)
    if pub == sim.pubkey:
        node = our_node_json(sim)
        edges_idx: list[int] = []
    elif pub in g.node_edges:
        node = g.lightning_node_json(pub)
        edges_idx = g.node_edges[pub]
    else:
        raise LndError(5, "unable to find node")
    chans = [edge_json(g.edges[i]) for i in edges_idx] + [our_edge_json(sim, c) for c in ours] if include else []
    total = sum(g.edges[i].capacity for i in edges_idx) + sum(c.capacity for c in ours)
    return Response(200, {
        "node": node, "num_channels": len(edges_idx) + len(ours), "total_capacity": s(total), "channels": chans,
    })


@route("GET", "/v1/graph/info")
def network_info(sim: SimNode, req: Req) -> Response:
    g = sim.graph
    caps = sorted([e.capacity for e in g.edges] + [c.capacity for c in sim.channels])
    n_nodes = len(g.node_edges) + 1
    degs = [len(v) for v in g.node_edges.values()]
    total = sum(caps)
    return Response(200, {
        "graph_diameter": 0, "avg_out_degree": len(caps) * 2 / n_nodes, "max_out_degree": max(degs, default=0),
        "num_nodes": n_nodes, "num_channels": len(caps), "total_network_capacity": s(total),
        "avg_channel_size": total / max(1, len(caps)), "min_channel_size": s(caps[0] if caps else 0),
        "max_channel_size": s(caps[-1] if caps else 0), "median_channel_size_sat": s(caps[len(caps) // 2] if caps else 0),
        "num_zombie_chans": "0",
    })


# ---------------------------------------------------------------- fees & policy
@route("GET", "/v1/fees")
def fee_report(sim: SimNode, req: Req) -> Response:
    fees = [{
        "chan_id": s(c.chan_id), "channel_point": c.channel_point, "base_fee_msat": s(c.policy.base_msat),
        "fee_per_mil": s(c.policy.ppm), "fee_rate": c.policy.ppm / 1e6,
        "inbound_base_fee_msat": c.policy.inbound_base_msat, "inbound_fee_per_mil": c.policy.inbound_ppm,
    } for c in sim.channels]
    return Response(200, {
        "channel_fees": fees, "day_fee_sum": s(sim.fee_sum_msat(86400) // 1000),
        "week_fee_sum": s(sim.fee_sum_msat(7 * 86400) // 1000), "month_fee_sum": s(sim.fee_sum_msat(30 * 86400) // 1000),
    })


def _failed(txid: str, vout: int, reason: str, msg: str) -> dict:
    return {"outpoint": {"txid_bytes": txid_bytes_b64(txid) if re.fullmatch(r"[0-9a-f]{64}", txid) else "",
                         "txid_str": txid, "output_index": vout}, "reason": reason, "update_error": msg}


@route("POST", "/v1/chanpolicy", body="PolicyUpdateRequest")
def update_channel_policy(sim: SimNode, req: Req) -> Response:
    b = req.body
    record = {"time": int(sim.now), "body": json.loads(req.raw_body or b"{}") if req.raw_body.strip() else {}}
    sim.chanpolicy_requests.append(record)
    try:
        resp = _chanpolicy(sim, req, b)
    except LndError as err:
        record["error"] = err.message
        raise
    record["failed_updates"] = resp.json()["failed_updates"]
    return resp


def _chanpolicy(sim: SimNode, req: Req, b: dict) -> Response:
    if "global" in b and "chan_point" in b:
        raise LndError(3, 'proto: (line 1:2): error parsing "chan_point", oneof lnrpc.PolicyUpdateRequest.scope is already set')
    if "global" not in b and not b.get("chan_point"):
        raise LndError(2, "unknown scope: <nil>")
    fee_rate = b.get("fee_rate") or 0.0
    fee_rate_ppm = b.get("fee_rate_ppm") or 0
    if fee_rate and fee_rate_ppm:
        raise LndError(3, "cannot set both FeeRate and FeeRatePpm at the same time")
    if fee_rate < 0:
        raise LndError(2, f"fee rate of {fee_rate:g} is too small, min fee rate is 1e-06")
    if fee_rate and fee_rate < 1e-6:
        raise LndError(2, f"fee rate of {fee_rate:g} is too small, min fee rate is 1e-06")
    ppm = fee_rate_ppm if fee_rate_ppm else round(fee_rate * 1e6)
    tld = b.get("time_lock_delta") or 0
    if tld < MIN_TIME_LOCK_DELTA:
        raise LndError(2, f"time lock delta of {tld} is too small, minimum supported is {MIN_TIME_LOCK_DELTA}")
    if tld > MAX_TIME_LOCK_DELTA:
        raise LndError(2, f"time lock delta of {tld} is too big, maximum supported is {MAX_TIME_LOCK_DELTA}")
    if tld > MAX_CLTV_EXPIRY:
        raise LndError(2, f"time lock delta of {tld} exceeds max-cltv-expiry of {MAX_CLTV_EXPIRY}")
    inbound = b.get("inbound_fee")
    if inbound is not None:
        if (inbound.get("base_fee_msat") or 0) > 0:
            raise LndError(2, "positive values for inbound base fee msat are not supported")
        if (inbound.get("fee_rate_ppm") or 0) > 0:
            raise LndError(2, "positive values for inbound fee rate ppm are not supported")
    base = b.get("base_fee_msat") or 0
    failed: list[dict] = []
    if "global" in b:
        targets = list(sim.channels)
    else:
        txid, vout = _txid_from_point(b.get("chan_point")) or ("", 0)
        c = sim.channel_by_point(txid, vout)
        if c is None:
            reason = ("UPDATE_FAILURE_PENDING", "not yet confirmed") if sim.pending_by_point(txid, vout) else \
                ("UPDATE_FAILURE_NOT_FOUND", "not found")
            failed.append(_failed(txid, vout, *reason))
            targets = []
        else:
            targets = [c]
    for c in targets:
        fault_reason = req.fault.failed_updates.get(str(c.chan_id))
        if fault_reason:
            failed.append(_failed(c.txid, c.vout, fault_reason, "simnode fault: injected update failure"))
            continue
        old = c.policy
        new_min = b["min_htlc_msat"] if b.get("min_htlc_msat_specified") else old.min_htlc_msat
        new_min = new_min or 0
        max_pending = c.capacity * 990
        new_max = b.get("max_htlc_msat") or old.max_htlc_msat
        remote_min = 1
        if new_min < remote_min:
            failed.append(_failed(c.txid, c.vout, "UPDATE_FAILURE_INVALID_PARAMETER",
                                  f"min htlc amount of {new_min} is below min htlc parameter of {remote_min}"))
            continue
        if new_max > max_pending:
            failed.append(_failed(c.txid, c.vout, "UPDATE_FAILURE_INVALID_PARAMETER",
                                  f"max htlc size of {new_max} is above max pending amount of {max_pending}"))
            continue
        if new_min > new_max:
            failed.append(_failed(c.txid, c.vout, "UPDATE_FAILURE_INVALID_PARAMETER",
                                  f"min_htlc {new_min} greater than max_htlc {new_max}"))
            continue
        ib_base = old.inbound_base_msat if inbound is None else (inbound.get("base_fee_msat") or 0)
        ib_ppm = old.inbound_ppm if inbound is None else (inbound.get("fee_rate_ppm") or 0)
        sim.set_policy(c, Policy(base, ppm, tld, new_min, new_max, ib_base, ib_ppm), source="chanpolicy")
    return Response(200, {"failed_updates": failed})


@route("POST", "/v2/router/updatechanstatus", body="UpdateChanStatusRequest")
def update_chan_status(sim: SimNode, req: Req) -> Response:
    txid, vout = _txid_from_point(req.body.get("chan_point")) or ("", 0)
    c = sim.channel_by_point(txid, vout)
    if c is None:
        raise LndError(2, "unable to find channel")
    action = req.body.get("action", "ENABLE")
    action = {0: "ENABLE", 1: "DISABLE", 2: "AUTO"}.get(action, action)
    if action not in ("ENABLE", "DISABLE", "AUTO"):
        raise LndError(3, f"proto: invalid value for enum field action: {action}")
    disabled = action == "DISABLE" or (action == "AUTO" and not c.active)
    if disabled != c.policy.disabled:
        p = Policy(**{**c.policy.__dict__})
        sim.set_policy(c, p, source=f"updatechanstatus:{action}")
        c.policy.disabled = disabled
    return Response(200, {})


# ---------------------------------------------------------------- forwarding history
@route("POST", "/v1/switch", body="ForwardingHistoryRequest")
def forwarding_history(sim: SimNode, req: Req) -> Response:
    b = req.body
    start = b.get("start_time") or 0
    end = b.get("end_time") or int(sim.now)
    offset = b.get("index_offset") or 0
    limit = b.get("num_max_events") or 100
    ins = set(b.get("incoming_chan_ids") or [])
    outs = set(b.get("outgoing_chan_ids") or [])
    lookup = bool(b.get("peer_alias_lookup"))
    lo, hi = sim.forwards_between(start * 10**9, end * 10**9)
    aliases = {c.chan_id: c.alias for c in sim.channels}
    events, skipped = [], 0
    for f in sim.forwards[lo:hi]:
        if ins and f.chan_in not in ins:
            continue
        if outs and f.chan_out not in outs:
            continue
        if skipped < offset:
            skipped += 1
            continue
        if len(events) >= limit:
            break
        events.append({
            "timestamp": s(f.ts_ns // 10**9), "chan_id_in": s(f.chan_in), "chan_id_out": s(f.chan_out),
            "amt_in": s(f.amt_in_msat // 1000), "amt_out": s(f.amt_out_msat // 1000), "fee": s(f.fee_msat // 1000),
            "fee_msat": s(f.fee_msat), "amt_in_msat": s(f.amt_in_msat), "amt_out_msat": s(f.amt_out_msat),
            "timestamp_ns": s(f.ts_ns), "peer_alias_in": aliases.get(f.chan_in, "") if lookup else "",
            "peer_alias_out": aliases.get(f.chan_out, "") if lookup else "",
            "incoming_htlc_id": s(f.in_htlc), "outgoing_htlc_id": s(f.out_htlc),
        })
    return Response(200, {"forwarding_events": events, "last_offset_index": offset + len(events)})


# ---------------------------------------------------------------- forwarding history retention
# routerrpc DeleteForwardingHistoryRequest (router.swagger.json): a oneof of an absolute time
# (uint64 unix seconds) and a relative duration string; events AT or before it are deleted.
SCHEMAS["DeleteForwardingHistoryRequest"] = {"delete_before_time": "uint64", "delete_before_duration": "str"}
_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
    "d": 86400.0, "w": 7 * 86400.0, "M": 30.44 * 86400.0, "y": 365.25 * 86400.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h|d|w|M|y)")


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration plus LND's d, w, M, y units: seconds (negative = the past)."""
    body = text[1:] if text[:1] in "+-" else text
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(body):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not body or pos != len(body):
        raise LndError(3, f'invalid delete_before_duration "{text}": time: invalid duration')
    return -total if text.startswith("-") else total


@route("POST", "/v2/router/fwdhistory/delete", body="DeleteForwardingHistoryRequest")
def delete_forwarding_history(sim: SimNode, req: Req) -> Response:
    b = req.body
    has_time, has_duration = "delete_before_time" in b, "delete_before_duration" in b
    if has_time and has_duration:
        raise LndError(3, "only one of delete_before_time and delete_before_duration may be set")
    if has_time:
        cutoff = float(b["delete_before_time"])
    elif has_duration:
        offset = parse_duration(str(b["delete_before_duration"]))
        if offset >= 0:
            raise LndError(3, "delete_before_duration must be negative (a time in the past)")
        cutoff = sim.now + offset
    else:
        raise LndError(3, "either delete_before_time or delete_before_duration must be set")
    if cutoff <= 0 or cutoff > sim.now:
        raise LndError(3, "the time to delete before must be in the past")
    deleted, fees = sim.delete_forwards_before(int(cutoff * 1_000_000_000))
    return Response(200, {"events_deleted": s(deleted), "total_fee_msat": s(fees),
                          "status": f"deleted {deleted} forwarding events"})


# ---------------------------------------------------------------- invoices & payments
def invoice_json(inv: dict) -> dict:
    return {
        "memo": inv["memo"], "r_preimage": b64(inv["r_preimage"]), "r_hash": b64(inv["r_hash"]),
        "value": s(inv["value_msat"] // 1000), "value_msat": s(inv["value_msat"]),
        "settled": inv["state"] == "SETTLED", "creation_date": s(inv["creation_date"]),
        "settle_date": s(inv["settle_date"]), "payment_request": inv["payment_request"],
        "description_hash": b64(inv["description_hash"]), "expiry": s(inv["expiry"]), "fallback_addr": "",
        "cltv_expiry": "80", "route_hints": [], "private": inv["private"], "add_index": s(inv["add_index"]),
        "settle_index": s(inv["settle_index"]), "amt_paid": s(inv["amt_paid_msat"]),
        "amt_paid_sat": s(inv["amt_paid_msat"] // 1000), "amt_paid_msat": s(inv["amt_paid_msat"]),
        "state": inv["state"], "htlcs": [], "features": {}, "is_keysend": False,
        "payment_addr": b64(inv["payment_addr"]), "is_amp": False, "amp_invoice_state": {},
        "is_blinded": False, "blinded_path_config": None,
    }


def _value_msat(b: dict) -> int:
    if b.get("value") and b.get("value_msat"):
        raise LndError(2, "value and value_msat are mutually exclusive")
    v = b.get("value_msat") or (b.get("value") or 0) * 1000
    if v < 0:
        raise LndError(2, "payment of negative value is not allowed")
    return v


@route("POST", "/v1/invoices", body="Invoice")
def add_invoice(sim: SimNode, req: Req) -> Response:
    b = req.body
    pre = b.get("r_preimage") or hashlib.sha256(f"preimage:{sim.seed}:{len(sim.invoices)}".encode()).digest()
    if len(pre) != 32:
        raise LndError(2, "payment preimage must be exactly 32 bytes")
    if b.get("r_hash") and b["r_hash"] != hashlib.sha256(pre).digest():
        raise LndError(2, "payment hash does not match preimage")
    if any(i["r_hash"] == hashlib.sha256(pre).digest() for i in sim.invoices):
        raise LndError(6, "invoice with payment hash already exists")
    inv = sim.add_invoice(_value_msat(b), b.get("memo") or "", pre, b.get("expiry") or 86400,
                          bool(b.get("private")), b.get("description_hash") or b"")
    return Response(200, {"r_hash": b64(inv["r_hash"]), "payment_request": inv["payment_request"],
                          "add_index": s(inv["add_index"]), "payment_addr": b64(inv["payment_addr"])})


@route("POST", "/v2/invoices/hodl", body="AddHoldInvoiceRequest")
def add_hold_invoice(sim: SimNode, req: Req) -> Response:
    b = req.body
    h = b.get("hash") or b""
    if len(h) != 32:
        raise LndError(2, "payment hash must be exactly 32 bytes")
    inv = sim.add_invoice(_value_msat(b), b.get("memo") or "", b"", b.get("expiry") or 86400,
                          bool(b.get("private")), b.get("description_hash") or b"")
    inv["r_hash"] = h
    inv["payment_request"] = sim._bolt11(inv)
    sim.invoice_events[-1] = dict(inv)
    return Response(200, {"payment_request": inv["payment_request"], "add_index": s(inv["add_index"]),
                          "payment_addr": b64(inv["payment_addr"])})


@route("POST", "/v2/invoices/settle", body="SettleInvoiceMsg")
def settle_hold(sim: SimNode, req: Req) -> Response:
    pre = req.body.get("preimage") or b""
    h = hashlib.sha256(pre).digest()
    for inv in sim.invoices:
        if inv["r_hash"] == h:
            if inv["state"] != "OPEN":
                raise LndError(2, "invoice still open" if inv["state"] == "OPEN" else f"invoice is {inv['state'].lower()}")
            inv["r_preimage"] = pre
            sim.settle_invoice(h)
            return Response(200, {})
    raise LndError(5, "unable to locate invoice")


@route("POST", "/v2/invoices/cancel", body="CancelInvoiceMsg")
def cancel_hold(sim: SimNode, req: Req) -> Response:
    h = req.body.get("payment_hash") or b""
    for inv in sim.invoices:
        if inv["r_hash"] == h:
            if inv["state"] == "SETTLED":
                raise LndError(2, "invoice already settled")
            inv["state"] = "CANCELED"
            return Response(200, {})
    raise LndError(5, "unable to locate invoice")


@route("GET", "/v1/invoice/{r_hash_str}")
def lookup_invoice(sim: SimNode, req: Req) -> Response:
    raw = req.params["r_hash_str"]
    try:
        h = bytes.fromhex(raw)
    except ValueError:
        raise LndError(2, f"unable to decode hash: encoding/hex: invalid byte in {raw!r}") from None
    if len(h) != 32:
        raise LndError(2, f"invalid payment hash length: {len(h)}")
    for inv in sim.invoices:
        if inv["r_hash"] == h:
            return Response(200, invoice_json(inv))
    raise LndError(5, "unable to locate invoice")


@route("GET", "/v1/invoices")
def list_invoices(sim: SimNode, req: Req) -> Response:
    q = req.query
    offset = q_int(q, "index_offset")
    limit = q_int(q, "num_max_invoices") or 1000
    rev, pending = q_bool(q, "reversed"), q_bool(q, "pending_only")
    invs = [i for i in sim.invoices if not pending or i["state"] in ("OPEN", "ACCEPTED")]
    if rev:
        sel = [i for i in invs if offset == 0 or i["add_index"] < offset][-limit:]
    else:
        sel = [i for i in invs if i["add_index"] > offset][:limit]
    return Response(200, {
        "invoices": [invoice_json(i) for i in sel],
        "last_index_offset": s(sel[-1]["add_index"] if sel else 0),
        "first_index_offset": s(sel[0]["add_index"] if sel else 0),
    })


@route("GET", "/v1/invoices/subscribe")
def subscribe_invoices(sim: SimNode, req: Req) -> Response:
    return Response(200, stream="invoices", stream_args={
        "add_index": q_int(req.query, "add_index"), "settle_index": q_int(req.query, "settle_index")})


def payment_json(p: dict) -> dict:
    return {
        "payment_hash": p["payment_hash"], "value": s(p["value_msat"] // 1000), "creation_date": s(p["creation_date"]),
        "fee": "0", "payment_preimage": "0" * 64, "value_sat": s(p["value_msat"] // 1000),
        "value_msat": s(p["value_msat"]), "payment_request": p["payment_request"], "status": p["status"],
        "fee_sat": "0", "fee_msat": "0", "creation_time_ns": s(p["creation_date"] * 10**9), "htlcs": [],
        "payment_index": s(p["payment_index"]), "failure_reason": p["failure_reason"], "first_hop_custom_records": {},
    }


@route("GET", "/v1/payments")
def list_payments(sim: SimNode, req: Req) -> Response:
    q = req.query
    offset, limit = q_int(q, "index_offset"), q_int(q, "max_payments") or 100
    pays = sim.payments
    if q_bool(q, "reversed"):
        sel = [p for p in pays if offset == 0 or p["payment_index"] < offset][-limit:]
    else:
        sel = [p for p in pays if p["payment_index"] > offset][:limit]
    return Response(200, {
        "payments": [payment_json(p) for p in sel],
        "first_index_offset": s(sel[0]["payment_index"] if sel else 0),
        "last_index_offset": s(sel[-1]["payment_index"] if sel else 0),
        "total_num_payments": s(len(pays) if q_bool(q, "count_total_payments") else 0),
    })


@route("POST", "/v2/router/send", body="SendPaymentRequest")
def send_payment(sim: SimNode, req: Req) -> Response:
    """No outbound payments are simulated: every payment fails with NO_ROUTE."""
    pr = req.body.get("payment_request") or ""
    try:
        import bolt11

        dec = bolt11.decode(pr)
        phash, amt = dec.payment_hash, int(dec.amount_msat or 0)
    except Exception:
        return Response(400, {"code": 2, "message": "invalid payment request", "details": []})
    if any(p["payment_hash"] == phash and p["status"] == "SUCCEEDED" for p in sim.payments):
        raise LndError(6, "invoice is already paid")
    pay = {"payment_hash": phash, "value_msat": amt, "creation_date": int(sim.now), "payment_request": pr,
           "status": "FAILED", "failure_reason": "FAILURE_REASON_NO_ROUTE", "payment_index": len(sim.payments) + 1}
    sim.payments.append(pay)
    lines = [{"result": payment_json(pay)}]
    if not req.body.get("no_inflight_updates"):
        lines.insert(0, {"result": payment_json(pay | {"status": "IN_FLIGHT", "failure_reason": "FAILURE_REASON_NONE"})})
    return Response(200, stream="finite", lines=lines)


@route("GET", "/v2/router/track/{payment_hash}")
def track_payment(sim: SimNode, req: Req) -> Response:
    h = decode_bytes(req.params["payment_hash"], "payment_hash").hex()
    for p in sim.payments:
        if p["payment_hash"] == h:
            return Response(200, stream="finite", lines=[{"result": payment_json(p)}])
    return Response(404, stream="finite", lines=[{"error": {"code": 5, "message": "payment isn't initiated", "details": []}}])


@route("GET", "/v2/router/htlcevents")
def htlc_events(sim: SimNode, req: Req) -> Response:
    return Response(200, stream="htlcevents")


def htlc_event_json(kind: str, ev) -> dict:
    base = {
        "incoming_channel_id": s(ev.chan_in), "outgoing_channel_id": s(ev.chan_out),
        "incoming_htlc_id": s(max(0, ev.in_htlc)), "outgoing_htlc_id": s(getattr(ev, "out_htlc", 0)),
        "timestamp_ns": s(ev.ts_ns), "event_type": "FORWARD",
    }
    if kind == "forward":
        base["forward_event"] = {"info": {"incoming_timelock": 0, "outgoing_timelock": 0,
                                          "incoming_amt_msat": s(ev.amt_in_msat), "outgoing_amt_msat": s(ev.amt_out_msat)}}
    else:
        base["link_fail_event"] = {
            "info": {"incoming_timelock": 0, "outgoing_timelock": 0, "incoming_amt_msat": s(ev.amt_out_msat),
                     "outgoing_amt_msat": s(ev.amt_out_msat)},
            "wire_failure": "TEMPORARY_CHANNEL_FAILURE", "failure_detail": "INSUFFICIENT_BALANCE",
            "failure_string": "insufficient bandwidth to route htlc",
        }
    return base


__all__ = ["handle", "Response", "LndError", "LND_PATHS", "match_path", "invoice_json", "htlc_event_json"]


# ---------------------------------------------------------------- macaroons (macaroons.py)
def _auth(sim: SimNode, req: Req) -> "macaroons.MacaroonService":
    return req.auth or macaroons.service_for(sim)


@route("POST", "/v1/macaroon", body="BakeMacaroonRequest")
def bake_macaroon(sim: SimNode, req: Req) -> Response:
    return macaroons.bake(_auth(sim, req), req.body)


@route("GET", "/v1/macaroon/ids")
def list_macaroon_ids(sim: SimNode, req: Req) -> Response:
    return macaroons.list_ids(_auth(sim, req))


@route("DELETE", "/v1/macaroon/{root_key_id}")
def delete_macaroon_id(sim: SimNode, req: Req) -> Response:
    return macaroons.delete_id(_auth(sim, req), req.params["root_key_id"])


@route("GET", "/v1/macaroon/permissions")
def list_permissions(sim: SimNode, req: Req) -> Response:
    return macaroons.list_permissions()


@route("POST", "/v1/macaroon/checkpermissions", body="CheckMacPermRequest")
def check_macaroon_permissions(sim: SimNode, req: Req) -> Response:
    return macaroons.check_permissions(_auth(sim, req), req.body)
