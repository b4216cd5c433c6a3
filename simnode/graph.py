"""Load a CLN-style listchannels snapshot once and serve it in LND's shapes.

The snapshot (see refdata/lngraph/README.md) has one entry per channel
direction, synthetic scids, no timestamps, no addresses.  Everything LND shows
that the snapshot lacks (txids, last_update, addresses, colours) is derived
deterministically from a hash of the scid / pubkey, so two processes loading
the same file serve byte-identical graphs.
"""

from __future__ import annotations

import calendar
import gzip
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_GRAPH_NAME = "ln-2024-09-22.listchannels.json.gz"
GRAPH_SHORTCUTS = {
    "2024": "ln-2024-09-22.listchannels.json.gz",
    "2026": "ln-2026-02-03.listchannels.json.gz",
}


REPO_ROOT = Path(__file__).resolve().parent.parent
GRAPH_DIR = REPO_ROOT / "refdata" / "lngraph"  # committed with the repository


class GraphNotFoundError(FileNotFoundError):
    """A graph snapshot that is not where it should be; the message names the file."""


def default_graph_dir() -> Path:
    """`<repo>/refdata/lngraph`: the snapshots ship with the repository."""
    return GRAPH_DIR


def resolve_graph_path(spec: str | None = None) -> Path:
    """`--graph` value (path, or shortcut `2024`/`2026`) → file; env SIMNODE_GRAPH next."""
    spec = str(spec or os.environ.get("SIMNODE_GRAPH") or DEFAULT_GRAPH_NAME)
    if spec in GRAPH_SHORTCUTS:
        spec = GRAPH_SHORTCUTS[spec]
    p = Path(spec)
    if p.is_file():
        return p.resolve()
    candidate = default_graph_dir() / spec
    if candidate.is_file():
        return candidate.resolve()
    if spec in GRAPH_SHORTCUTS.values():
        raise GraphNotFoundError(
            f"graph snapshot missing: {candidate} (it is committed in refdata/lngraph/; "
            "restore it from git, see refdata/lngraph/README.md)"
        )
    raise GraphNotFoundError(
        f"graph snapshot not found: {spec!r} (not a file, and not in {default_graph_dir()}; "
        f"shortcuts: {', '.join(GRAPH_SHORTCUTS)})"
    )


def scid_to_chan_id(scid: str) -> int:
    block, tx, out = (int(x) for x in scid.split("x"))
    return (block << 40) | (tx << 16) | out


def h64(*parts: str) -> int:
    """Stable 64-bit hash used to invent missing data."""
    d = hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(d, "big")


def fake_txid(tag: str) -> str:
    return hashlib.sha256(("simnode-txid:" + tag).encode()).hexdigest()


@dataclass(slots=True)
class DirPolicy:
    """One direction of a channel, as announced (snapshot values)."""

    base_msat: int
    ppm: int
    cltv: int
    min_htlc_msat: int
    max_htlc_msat: int
    disabled: bool
    last_update: int


@dataclass(slots=True)
class Edge:
    chan_id: int
    txid: str
    vout: int
    node1: str
    node2: str
    capacity: int  # sat
    pol1: DirPolicy | None  # policy announced by node1
    pol2: DirPolicy | None
    last_update: int


@dataclass(slots=True)
class Competitor:
    """An active channel x→peer in the graph: an alternative last hop into peer."""

    source: str
    capacity: int
    base_msat: int
    ppm: int


@dataclass
class Graph:
    path: str
    snapshot_date: str
    snapshot_ts: int  # 00:00 UTC of the snapshot date
    aliases: dict[str, str]
    edges: list[Edge]
    edge_index: dict[int, int]  # chan_id → position in edges
    node_edges: dict[str, list[int]]  # pubkey → positions in edges
    inbound: dict[str, list[Competitor]]  # pubkey → active channels pointing at it
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _nodes_json: bytes | None = field(default=None, repr=False)
    _edges_json: bytes | None = field(default=None, repr=False)

    @property
    def nodes(self) -> list[str]:
        return sorted(self.node_edges)

    def node_last_update(self, pub: str) -> int:
        return self.snapshot_ts - 3600 - h64("node", pub) % (14 * 86400)

    def node_color(self, pub: str) -> str:
        return "#" + f"{h64('color', pub) & 0xFFFFFF:06x}"

    def node_address(self, pub: str) -> str:
        x = h64("addr", pub)
        return f"{(x >> 24) % 200 + 11}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255 or 1}:9735"

    def node_capacity(self, pub: str) -> int:
        return sum(self.edges[i].capacity for i in self.node_edges.get(pub, ()))

    # --- LND JSON shapes -------------------------------------------------
    def lightning_node_json(self, pub: str) -> dict:
        return lightning_node(
            pub,
            self.aliases.get(pub, ""),
            self.node_color(pub),
            self.node_address(pub),
            self.node_last_update(pub),
        )

    def static_graph_parts(self) -> tuple[bytes, bytes]:
        """Comma-joined JSON of all snapshot nodes and edges, built once per process."""
        with self._lock:
            if self._nodes_json is None:
                enc = json.JSONEncoder(separators=(",", ":")).encode
                self._nodes_json = ",".join(
                    enc(self.lightning_node_json(p)) for p in self.nodes
                ).encode()
                self._edges_json = ",".join(enc(edge_json(e)) for e in self.edges).encode()
            assert self._edges_json is not None
            return self._nodes_json, self._edges_json


NODE_FEATURES = {
    "0": {"name": "data-loss-protect", "is_required": True, "is_known": True},
    "5": {"name": "upfront-shutdown-script", "is_required": False, "is_known": True},
    "7": {"name": "gossip-queries", "is_required": False, "is_known": True},
    "9": {"name": "tlv-onion", "is_required": False, "is_known": True},
    "12": {"name": "static-remote-key", "is_required": True, "is_known": True},
    "14": {"name": "payment-addr", "is_required": True, "is_known": True},
    "17": {"name": "multi-path-payments", "is_required": False, "is_known": True},
    "23": {"name": "anchors-zero-fee-htlc-tx", "is_required": False, "is_known": True},
    "27": {"name": "shutdown-any-segwit", "is_required": False, "is_known": True},
    "31": {"name": "amp", "is_required": False, "is_known": True},
}


def lightning_node(pub: str, alias: str, color: str, addr: str, last_update: int) -> dict:
    return {
        "last_update": last_update,
        "pub_key": pub,
        "alias": alias,
        "addresses": [{"network": "tcp", "addr": addr}],
        "color": color,
        "features": NODE_FEATURES,
        "custom_records": {},
    }


def policy_json(p: DirPolicy | None, inbound_base: int = 0, inbound_ppm: int = 0) -> dict | None:
    if p is None:
        return None
    return {
        "time_lock_delta": p.cltv,
        "min_htlc": str(p.min_htlc_msat),
        "fee_base_msat": str(p.base_msat),
        "fee_rate_milli_msat": str(p.ppm),
        "disabled": p.disabled,
        "max_htlc_msat": str(p.max_htlc_msat),
        "last_update": p.last_update,
        "custom_records": {},
        "inbound_fee_base_msat": inbound_base,
        "inbound_fee_rate_milli_msat": inbound_ppm,
    }


def edge_json(e: Edge, pol1: dict | None = None, pol2: dict | None = None) -> dict:
    return {
        "channel_id": str(e.chan_id),
        "chan_point": f"{e.txid}:{e.vout}",
        "last_update": e.last_update,
        "node1_pub": e.node1,
        "node2_pub": e.node2,
        "capacity": str(e.capacity),
        "node1_policy": pol1 if pol1 is not None else policy_json(e.pol1),
        "node2_policy": pol2 if pol2 is not None else policy_json(e.pol2),
        "custom_records": {},
        "auth_proof": None,
    }


def _dir_policy(c: dict, snapshot_ts: int) -> DirPolicy:
    lu = snapshot_ts - 600 - h64("upd", c["short_channel_id"], c["source"]) % (10 * 86400)
    if not c["active"]:
        return DirPolicy(0, 0, 0, 0, 0, True, lu)
    return DirPolicy(
        int(c["base_fee_millisatoshi"]),
        int(c["fee_per_millionth"]),
        int(c["delay"]),
        int(c["htlc_minimum_msat"]),
        int(c["htlc_maximum_msat"]),
        False,
        lu,
    )


_CACHE: dict[str, Graph] = {}
_CACHE_LOCK = threading.Lock()


def load_graph(path: str | os.PathLike | None = None) -> Graph:
    """Load (once per process) and index a snapshot; `None` → default/env path."""
    p = str(resolve_graph_path(str(path) if path is not None else None))
    with _CACHE_LOCK:
        if p not in _CACHE:
            _CACHE[p] = _load(p)
        return _CACHE[p]


def _read_snapshot(path: str) -> dict:
    try:
        with gzip.open(path, "rb") as f:
            return json.load(f)
    except (OSError, EOFError, ValueError) as exc:  # truncated, not gzip, not JSON
        raise ValueError(f"graph snapshot {path} is unreadable ({exc}); restore it from git") from exc


def _load(path: str) -> Graph:
    raw = _read_snapshot(path)
    date = raw.get("meta", {}).get("snapshot_date", "2024-09-22")
    snapshot_ts = calendar.timegm(time.strptime(date, "%Y-%m-%d"))
    by_scid: dict[str, dict[str, dict]] = {}
    for c in raw["channels"]:
        by_scid.setdefault(c["short_channel_id"], {})[c["source"]] = c
    edges: list[Edge] = []
    node_edges: dict[str, list[int]] = {}
    inbound: dict[str, list[Competitor]] = {}
    for scid in sorted(by_scid, key=scid_to_chan_id):
        dirs = by_scid[scid]
        any_dir = next(iter(dirs.values()))
        a, b = any_dir["source"], any_dir["destination"]
        n1, n2 = (a, b) if a < b else (b, a)
        p1 = _dir_policy(dirs[n1], snapshot_ts) if n1 in dirs else None
        p2 = _dir_policy(dirs[n2], snapshot_ts) if n2 in dirs else None
        lu = max([p.last_update for p in (p1, p2) if p is not None], default=0)
        idx = len(edges)
        edges.append(
            Edge(
                chan_id=scid_to_chan_id(scid),
                txid=fake_txid(scid),
                vout=int(scid.split("x")[2]),
                node1=n1,
                node2=n2,
                capacity=int(any_dir["satoshis"]),
                pol1=p1,
                pol2=p2,
                last_update=lu,
            )
        )
        node_edges.setdefault(n1, []).append(idx)
        node_edges.setdefault(n2, []).append(idx)
        for src, c in dirs.items():
            if c["active"]:
                inbound.setdefault(c["destination"], []).append(
                    Competitor(src, int(c["satoshis"]), int(c["base_fee_millisatoshi"]), int(c["fee_per_millionth"]))
                )
    aliases = dict(raw.get("aliases", {}))
    return Graph(
        path=path,
        snapshot_date=date,
        snapshot_ts=snapshot_ts,
        aliases=aliases,
        edges=edges,
        edge_index={e.chan_id: i for i, e in enumerate(edges)},
        node_edges=node_edges,
        inbound=inbound,
    )
