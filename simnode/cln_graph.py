"""CLN's listchannels / listnodes over the snapshot graph plus our node and channels.

The snapshot's part of the unfiltered answers (≈120k channel directions, 18k nodes for the 2024
graph) is serialised once per process and graph, like /v1/graph for LND; our node and channels are
appended on every call because their policies change.  Other nodes' policies are the snapshot's
(competitors moving under the `competitors_move` regime do not show here, as on the LND face).
"""

from __future__ import annotations

import json
import threading

from .cln_reply import RawJson
from .cln_shapes import chan_id_of, listchannels_entry, node_json, our_channel_directions, our_node_json, scid
from .graph import DirPolicy, Edge, Graph
from .node import SimNode

_STATIC: dict[str, tuple[bytes, bytes]] = {}  # graph path -> (channel directions, nodes), comma-joined
_LOCK = threading.Lock()
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _edge_directions(e: Edge, which: tuple[int, ...] = (0, 1)) -> list[dict]:
    out = []
    short = scid(e.chan_id)
    for d in which:
        pol: DirPolicy | None = e.pol1 if d == 0 else e.pol2
        if pol is None:  # no channel_update for this direction in the snapshot
            continue
        src, dst = (e.node1, e.node2) if d == 0 else (e.node2, e.node1)
        out.append(listchannels_entry(src, dst, short, e.capacity, pol.base_msat, pol.ppm, pol.cltv,
                                      pol.min_htlc_msat, pol.max_htlc_msat, pol.disabled, pol.last_update))
    return out


def _snapshot_node(g: Graph, pub: str) -> dict:
    return node_json(pub, g.aliases.get(pub, ""), g.node_color(pub), g.node_last_update(pub), g.node_address(pub))


def static_parts(g: Graph) -> tuple[bytes, bytes]:
    with _LOCK:
        parts = _STATIC.get(g.path)
        if parts is None:
            chans = ",".join(_encode(d) for e in g.edges for d in _edge_directions(e)).encode()
            nodes = ",".join(_encode(_snapshot_node(g, p)) for p in g.nodes).encode()
            parts = _STATIC[g.path] = (chans, nodes)
        return parts


def _joined(static: bytes, ours: list[dict], key: str) -> RawJson:
    tail = ",".join(_encode(x) for x in ours).encode()
    sep = b"," if static and tail else b""
    return RawJson(b'{"' + key.encode() + b'":[' + static + sep + tail + b"]}")


def listchannels(sim: SimNode, short_channel_id: str | None, source: str | None,
                 destination: str | None) -> dict | RawJson:
    g = sim.graph
    if short_channel_id is not None:
        cid = chan_id_of(short_channel_id)
        ours = sim.channel(cid)
        if ours is not None:
            return {"channels": our_channel_directions(sim, ours)}
        i = g.edge_index.get(cid)
        return {"channels": _edge_directions(g.edges[i]) if i is not None else []}
    node = source or destination
    if node is not None:
        # source: the directions out of the node; destination: those into it
        out_of = source is not None
        rows: list[dict] = []
        for i in g.node_edges.get(node, ()):
            e = g.edges[i]
            from_node1 = e.node1 == node
            rows += _edge_directions(e, (0,) if from_node1 == out_of else (1,))
        for c in sim.channels:
            if node in (sim.pubkey, c.peer):
                mine, theirs = our_channel_directions(sim, c)
                rows.append(mine if (node == sim.pubkey) == out_of else theirs)
        return {"channels": rows}
    ours = [d for c in sim.channels for d in our_channel_directions(sim, c)]
    return _joined(static_parts(g)[0], ours, "channels")


def listnodes(sim: SimNode, node_id: str | None) -> dict | RawJson:
    g = sim.graph
    if node_id is not None:
        if node_id == sim.pubkey:
            return {"nodes": [our_node_json(sim)]}
        return {"nodes": [_snapshot_node(g, node_id)] if node_id in g.node_edges else []}
    return _joined(static_parts(g)[1], [our_node_json(sim)], "nodes")
