"""Load a CLN-style listchannels snapshot once and serve it in LND's shapes.

The snapshot (see refdata/lngraph/README.md) has one entry per channel
direction, synthetic scids, no timestamps, no addresses.  Everything LND shows
that the snapshot lacks (txids, last_update, addresses, colours) is derived
deterministically from a hash of the scid / pubkey, so two processes loading
the same file serve byte-identical graphs.

Any other Core Lightning `listchannels` dump loads too (`{"channels": [...]}`,
gzip or plain JSON by magic bytes; `meta` and `aliases` optional; older dumps'
"1000msat" strings, `amount_msat` instead of `satoshis`, colon scids; a real
`last_update` is served as is).  Without `meta.snapshot_date` the snapshot
date is the UTC date of the newest `last_update`, else of the file's
modification time (`Graph.snapshot_date_source` says which).  Anything else
wrong raises GraphFormatError with one line naming the file and the entry.
"""

from __future__ import annotations

import calendar
import gzip
import hashlib
import json
import os
import re
import threading
import time
import zlib
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
    snapshot_date_source: str = "meta.snapshot_date"  # or "newest last_update" / "file modification time"
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
    lu = c.get("last_update") or snapshot_ts - 600 - h64("upd", c["short_channel_id"], c["source"]) % (10 * 86400)
    if not c["active"]:
        return DirPolicy(0, 0, 0, 0, 0, True, lu)
    return DirPolicy(
        c["base_fee_millisatoshi"],
        c["fee_per_millionth"],
        c["delay"],
        c["htlc_minimum_msat"],
        c["htlc_maximum_msat"],
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


class GraphFormatError(ValueError):
    """A snapshot that cannot be used; the message is one line naming the file and what is wrong."""


def _bad(path: str, what: str) -> GraphFormatError:
    return GraphFormatError(f"graph snapshot {path}: " + " ".join(str(what).split()))


GZIP_MAGIC = b"\x1f\x8b"
_HEX = frozenset("0123456789abcdef")
_SCID_MAX = (1 << 24, 1 << 24, 1 << 16)  # block, tx index, output index as packed into LND's chan_id


class _FieldError(Exception):
    """Internal: one bad field of one channel entry (turned into a GraphFormatError with its position)."""


def _uint(c: dict, key: str, msat: bool = False) -> int:
    """A non-negative integer field: JSON number, or (older Core Lightning) a string "123" / "123msat"."""
    v = c[key]
    if type(v) is int and v >= 0:
        return v
    if isinstance(v, str):
        s = v[:-4] if msat and v.endswith("msat") else v
        if s.isascii() and s.isdigit():
            return int(s)
    want = 'a non-negative integer or "<n>msat"' if msat else "a non-negative integer"
    raise _FieldError(f"has {key} {json.dumps(v)[:40]}, expected {want}")


def _pubkey(c: dict, key: str) -> str:
    v = c[key]
    if isinstance(v, str) and len(v) == 66:
        v = v.lower()
        if _HEX.issuperset(v):
            return v
    raise _FieldError(f"has {key} {json.dumps(v)[:80]}, expected a 33-byte node id in hex (66 characters)")


def _scid(v: object) -> str:
    """`BLOCKxTXxOUT` (colons, as very old c-lightning printed them, are accepted)."""
    if isinstance(v, str):
        parts = v.replace(":", "x").split("x")
        if len(parts) == 3 and all(p.isascii() and p.isdigit() for p in parts):
            nums = [int(p) for p in parts]
            if all(n < m for n, m in zip(nums, _SCID_MAX)):
                return "x".join(str(n) for n in nums)
    raise _FieldError(f"has short_channel_id {json.dumps(v)[:40]}, expected BLOCKxTXxOUT")


_CANON_SCID = re.compile(r"(?:0|[1-9][0-9]{0,6})x(?:0|[1-9][0-9]{0,6})x(?:0|[1-9][0-9]{0,3})").fullmatch
_CANON_PUB = re.compile(r"[0-9a-f]{66}").fullmatch


def _canonical(c: object, ids: set[str]) -> bool:
    """Already in the loader's form (our snapshots: every value an int, `x` scid, lower-case ids): used as is.

    `ids` holds the node ids already seen valid: checking 18k distinct ids rather than 240k mentions keeps
    the 2024 snapshot's load as fast as before these checks existed (1.3-1.6 s on the 2-core dev machine)."""
    if type(c) is not dict:
        return False
    get = c.get
    scid, src, dst, active, sat = (get("short_channel_id"), get("source"), get("destination"), get("active"),
                                   get("satoshis"))
    if not (type(scid) is str and type(src) is str and type(dst) is str and src != dst and type(active) is bool
            and type(sat) is int and sat >= 0 and _CANON_SCID(scid)):
        return False
    if src not in ids:
        if not _CANON_PUB(src):
            return False
        ids.add(src)
    if dst not in ids:
        if not _CANON_PUB(dst):
            return False
        ids.add(dst)
    lu = get("last_update")
    if lu is not None and not (type(lu) is int and lu >= 0):
        return False
    if active:
        a, b, d, lo, hi = (get("base_fee_millisatoshi"), get("fee_per_millionth"), get("delay"),
                           get("htlc_minimum_msat"), get("htlc_maximum_msat"))
        if not (type(a) is int and type(b) is int and type(d) is int and type(lo) is int and type(hi) is int
                and a >= 0 and b >= 0 and d >= 0 and lo >= 0 and hi >= 0):
            return False
    return True


def _entry(c: object) -> dict:
    """One listchannels direction → the loader's form (ints, lower-case ids, `x` scid, `satoshis`)."""
    if not isinstance(c, dict):
        raise _FieldError(f"is {type(c).__name__}, expected an object")
    for key in ("short_channel_id", "source", "destination", "active"):
        if key not in c:
            raise _FieldError(f"has no {key}")
    scid = _scid(c["short_channel_id"])
    src, dst = _pubkey(c, "source"), _pubkey(c, "destination")
    if src == dst:
        raise _FieldError("has source == destination")
    active = c["active"]
    if type(active) is not bool:
        raise _FieldError(f"has active {json.dumps(active)[:40]}, expected true or false")
    if "satoshis" in c:  # our snapshots and Core Lightning before v23.08
        sat = _uint(c, "satoshis")
    elif "amount_msat" in c:  # Core Lightning: "100000000msat" (older) or 100000000 (newer)
        sat = _uint(c, "amount_msat", msat=True) // 1000
    else:
        raise _FieldError("has neither satoshis nor amount_msat (capacity)")
    lu = c.get("last_update")
    lu = _uint(c, "last_update") if lu is not None else 0
    out = {"short_channel_id": scid, "source": src, "destination": dst, "satoshis": sat, "active": active,
           "last_update": lu}
    if active:  # a disabled direction's policy is never used (our snapshots zero it)
        for key in ("base_fee_millisatoshi", "fee_per_millionth", "delay", "htlc_minimum_msat"):
            if key not in c:
                raise _FieldError(f"is active but has no {key}")
        out["base_fee_millisatoshi"] = _uint(c, "base_fee_millisatoshi", msat=True)
        out["fee_per_millionth"] = _uint(c, "fee_per_millionth")
        out["delay"] = _uint(c, "delay")
        out["htlc_minimum_msat"] = _uint(c, "htlc_minimum_msat", msat=True)
        # absent in dumps from before option_channel_htlc_max: the capacity is the only limit then
        out["htlc_maximum_msat"] = (_uint(c, "htlc_maximum_msat", msat=True)
                                    if c.get("htlc_maximum_msat") is not None else sat * 1000)
    return out


def _read_snapshot(path: str) -> dict:
    """The file's JSON object: gzip if it starts with gzip's magic bytes, else plain JSON (suffix ignored)."""
    hint = "; restore it from git" if Path(path).parent == default_graph_dir() else ""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _bad(path, f"cannot be read ({exc.strerror or exc})") from None
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt
            raise _bad(path, f"is not valid gzip ({exc}){hint}") from None
    if data.startswith(b"version https://git-lfs"):
        raise _bad(path, f"is a Git LFS pointer, not the snapshot{hint}")
    try:
        raw = json.loads(data)
    except ValueError as exc:  # also UnicodeDecodeError
        raise _bad(path, f"is not JSON ({exc}){hint}") from None
    if not isinstance(raw, dict):
        raise _bad(path, f'top level is a JSON {type(raw).__name__}, expected an object {{"channels": [...]}}')
    if not isinstance(raw.get("channels"), list):
        raise _bad(path, 'has no "channels" list (expected Core Lightning listchannels output)')
    if not raw["channels"]:
        raise _bad(path, '"channels" is empty')
    for key in ("meta", "aliases"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise _bad(path, f'"{key}" is a JSON {type(raw[key]).__name__}, expected an object')
    return raw


def _snapshot_date(path: str, raw: dict, channels: list[dict]) -> tuple[str, str]:
    """(YYYY-MM-DD, where it came from): meta.snapshot_date, else the newest last_update, else the file's mtime."""
    date = (raw.get("meta") or {}).get("snapshot_date")
    if date is not None:
        try:
            time.strptime(str(date), "%Y-%m-%d")
        except ValueError:
            raise _bad(path, f"meta.snapshot_date is {json.dumps(date)[:40]}, expected YYYY-MM-DD") from None
        return str(date), "meta.snapshot_date"
    newest = max((c.get("last_update") or 0 for c in channels), default=0)
    if newest > 0:
        return time.strftime("%Y-%m-%d", time.gmtime(newest)), "newest last_update"
    return time.strftime("%Y-%m-%d", time.gmtime(os.stat(path).st_mtime)), "file modification time"


def _load(path: str) -> Graph:
    raw = _read_snapshot(path)
    by_scid: dict[str, dict[str, dict]] = {}
    channels: list[dict] = []
    ids: set[str] = set()
    for i, entry in enumerate(raw["channels"]):
        try:
            c = entry if _canonical(entry, ids) else _entry(entry)
        except _FieldError as exc:
            scid = entry.get("short_channel_id") if isinstance(entry, dict) else None
            where = f"channel {i}" + (f" ({scid})" if isinstance(scid, str) else "")
            raise _bad(path, f"{where} {exc}") from None
        dirs = by_scid.setdefault(c["short_channel_id"], {})
        if dirs:
            other = next(iter(dirs.values()))
            if {c["source"], c["destination"]} != {other["source"], other["destination"]}:
                raise _bad(path, f"channel {i} ({c['short_channel_id']}) joins other nodes than channel "
                                 f"{channels.index(other)} with the same short_channel_id")
            if c["source"] in dirs:
                raise _bad(path, f"channel {i} ({c['short_channel_id']}) repeats channel "
                                 f"{channels.index(dirs[c['source']])} (same short_channel_id and source)")
        dirs[c["source"]] = c
        channels.append(c)
    aliases = dict(raw.get("aliases") or {})
    date, date_source = _snapshot_date(path, raw, channels)
    del raw, channels
    snapshot_ts = calendar.timegm(time.strptime(date, "%Y-%m-%d"))
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
                capacity=any_dir["satoshis"],
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
                    Competitor(src, c["satoshis"], c["base_fee_millisatoshi"], c["fee_per_millionth"])
                )
    return Graph(
        path=path,
        snapshot_date=date,
        snapshot_ts=snapshot_ts,
        aliases=aliases,
        edges=edges,
        edge_index={e.chan_id: i for i, e in enumerate(edges)},
        node_edges=node_edges,
        inbound=inbound,
        snapshot_date_source=date_source,
    )


def well_connected(graph: Graph, min_degree: int) -> list[str]:
    """Nodes simnode may pick as peers: at least `min_degree` distinct active channels into them."""
    return sorted(p for p, comps in graph.inbound.items() if len({c.source for c in comps}) >= min_degree)


def check_room_for_node(graph: Graph, channels: int, min_degree: int | None = None) -> None:
    """simnode opens `channels` channels to distinct well-connected nodes (and needs 5 for its closed/pending
    ones); a snapshot with fewer fails here, in one line, rather than deep inside SimNode.
    `min_degree`: what "well connected" means (None: simnode.node.MIN_PEER_DEGREE)."""
    from .node import MIN_PEER_DEGREE  # node imports this module

    degree = MIN_PEER_DEGREE if min_degree is None else min_degree
    need = max(channels, 5)
    have = len(well_connected(graph, degree))
    if have < need:
        raise GraphFormatError(
            f"graph snapshot {graph.path}: only {have} nodes have >= {degree} distinct active channels "
            f"into them; simnode needs {need} such peers for {channels} channels")
