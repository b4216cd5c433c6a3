"""CLN's node, funds and peer commands over the SimNode (pure): getinfo, listfunds, listpeers,
listpeerchannels, and the peer / channel management simnode does not simulate (connect adds a peer
as POST /v1/peers does; disconnect, fundchannel and close refuse in lightningd's words)."""

from __future__ import annotations

import re

from .cln_params import CONNECT_NO_KNOWN_ADDRESS, LIGHTNINGD, BadValue, ClnError, bad_param, pubkey
from .cln_shapes import (
    INIT_FEATURES_HEX, INVOICE_FEATURES_HEX, NODE_FEATURES_HEX, address_json, channel_id, connected_peers,
    funds_channel_json, peer_channels, pending_views, scid,
)
from .graph import fake_txid, h64
from .node import SimNode

VERSION = "v25.12"
LIGHTNING_DIR = ".lightning/bitcoin"  # relative: there is no such directory, nothing reads it
FUNDING_UNKNOWN_PEER = 306


def getinfo(sim: SimNode) -> dict:
    views = pending_views(sim)
    opening = sum(1 for v in views if v.state == "CHANNELD_AWAITING_LOCKIN")
    active = sum(1 for c in sim.channels if c.active)
    return {
        "id": sim.pubkey, "alias": sim.alias, "color": sim.color.lstrip("#"),
        "num_peers": len(connected_peers(sim)),
        "num_pending_channels": opening,
        "num_active_channels": active,
        "num_inactive_channels": len(sim.channels) - active + len(views) - opening,
        "address": [address_json(sim.address)],
        "binding": [{"type": "ipv4", "address": "0.0.0.0", "port": 9735}],
        "version": VERSION, "blockheight": sim.block_height, "network": "bitcoin",
        "fees_collected_msat": sim.forward_log.fees_msat,
        "lightning-dir": LIGHTNING_DIR,
        "our_features": {"init": INIT_FEATURES_HEX, "node": NODE_FEATURES_HEX, "channel": "",
                         "invoice": INVOICE_FEATURES_HEX},
    }


def _p2tr_address(script_hex: str) -> str | None:
    try:
        from embit.networks import NETWORKS
        from embit.script import Script
    except ImportError:  # pragma: no cover - embit ships with LNbits; CLN prints the address when it can
        return None
    return Script(bytes.fromhex(script_hex)).address(NETWORKS["main"])


def onchain_outputs(sim: SimNode) -> list[dict]:
    """The seeded on-chain balance as three confirmed taproot outputs (invented txids and keys)."""
    total = sim.onchain_sat * 1000
    shares = (total // 2, total // 3)
    out = []
    for i, amount in enumerate([*shares, total - sum(shares)]):
        script = "5120" + fake_txid(f"cln-utxo-key:{sim.seed}:{i}")
        entry: dict = {"txid": fake_txid(f"cln-utxo:{sim.seed}:{i}"), "output": i % 2, "amount_msat": amount,
                       "scriptpubkey": script}
        address = _p2tr_address(script)
        if address is not None:
            entry["address"] = address
        out.append(entry | {"status": "confirmed", "blockheight": sim.block_height - 6 - h64("utxo", script) % 5000,
                            "reserved": False})
    return out


def listfunds(sim: SimNode) -> dict:
    return {"outputs": onchain_outputs(sim), "channels": [funds_channel_json(e) for e in peer_channels(sim)]}


def _peer_ids(sim: SimNode) -> list[str]:
    ids = {c.peer for c in sim.channels} | {v.peer for v in pending_views(sim)} | set(getattr(sim, "extra_peers", []))
    return sorted(ids)


def listpeers(sim: SimNode, node_id: str | None) -> dict:
    online = connected_peers(sim)
    out = []
    for pub in _peer_ids(sim):
        if node_id is not None and pub != node_id:
            continue
        n = sum(1 for c in sim.channels if c.peer == pub) + sum(1 for v in pending_views(sim) if v.peer == pub)
        entry: dict = {"id": pub, "connected": pub in online, "num_channels": n}
        if pub in online:
            entry |= {"netaddr": [sim.graph.node_address(pub)], "features": INIT_FEATURES_HEX}
        out.append(entry)
    return {"peers": out}


def listpeerchannels(sim: SimNode, node_id: str | None, short_channel_id: str | None, chan_id: str | None) -> dict:
    rows = peer_channels(sim)
    if node_id is not None:
        rows = [r for r in rows if r["peer_id"] == node_id]
    if short_channel_id is not None:
        rows = [r for r in rows if r.get("short_channel_id") == short_channel_id]
    if chan_id is not None:
        rows = [r for r in rows if r["channel_id"] == chan_id]
    return {"channels": rows}


def connect(sim: SimNode, target: str, host: str | None, port: int | None) -> dict:
    """`id`, `id@host` or `id@host:port`; a node the graph knows needs no host (its address is known)."""
    node, _, where = target.partition("@")
    try:
        node = pubkey(node)
    except BadValue as why:
        raise bad_param("id", str(why)) from None
    if where:
        host, _, p = where.partition(":")
        port = int(p) if p.isdigit() else port
    known_host, _, known_port = sim.graph.node_address(node).rpartition(":")
    if host is None and node not in connected_peers(sim) and node not in sim.graph.node_edges:
        raise ClnError(CONNECT_NO_KNOWN_ADDRESS, f"Unable to connect, no address known for peer {node}")
    if node not in connected_peers(sim):
        sim.__dict__.setdefault("extra_peers", []).append(node)
    address = {"type": "ipv4", "address": host or known_host, "port": port or int(known_port)}
    return {"id": node, "features": INIT_FEATURES_HEX, "direction": "out", "address": address}


def disconnect(sim: SimNode, node_id: str, force: bool) -> dict:
    extra = sim.__dict__.setdefault("extra_peers", [])
    if node_id in extra:
        extra.remove(node_id)
        return {}
    if node_id not in connected_peers(sim):
        raise ClnError(LIGHTNINGD, "Peer not connected")
    if not force:
        raise ClnError(LIGHTNINGD, "Peer has (at least one) channel in state CHANNELD_NORMAL")
    raise ClnError(LIGHTNINGD, "simnode: disconnecting a peer with channels is not simulated")


def fundchannel(sim: SimNode, node_id: str) -> dict:
    if node_id not in connected_peers(sim):
        raise ClnError(FUNDING_UNKNOWN_PEER, "Unknown peer")
    raise ClnError(LIGHTNINGD, "simnode: opening channels is not simulated")


def close(sim: SimNode, target: str) -> dict:
    known = ({c.peer for c in sim.channels} | {scid(c.chan_id) for c in sim.channels}
             | {channel_id(c.txid, c.vout) for c in sim.channels})
    if target in known:
        raise ClnError(LIGHTNINGD, "simnode: closing channels is not simulated")
    if re.fullmatch(r"\d+x\d+x\d+", target):
        raise bad_param("id", "Short channel id not found")
    if re.fullmatch(r"[0-9a-fA-F]{64}", target):
        raise bad_param("id", "Channel id not found")
    raise bad_param("id", "should be a channel ID or short channel ID")
