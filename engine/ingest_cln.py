"""CLN `listchannels` entries -> `NetworkGraph`. Pure: the caller decodes the JSON.

`listchannels` has one entry per channel *direction*; BOLT 7 direction 0 (policy1)
is the update from the lexicographically smaller node id. A disabled direction
(`active` false) is kept as a disabled `Policy` so graph metrics can drop it.
"""

from __future__ import annotations

import hashlib
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from .snapshot import GraphEdge, NetworkGraph, Policy


def _msat(value: Any) -> int:
    """CLN gives msat as int, or as "123msat" strings in older versions."""
    if value is None:
        return 0
    if isinstance(value, str):
        return int(value[:-4]) if value.endswith("msat") else int(value)
    return int(value)


def policy_from_listchannels(entry: Mapping[str, Any]) -> Policy:
    return Policy(
        base_msat=_msat(entry.get("base_fee_millisatoshi")),
        ppm=int(entry.get("fee_per_millionth") or 0),
        cltv_delta=int(entry.get("delay") or 0),
        min_htlc_msat=_msat(entry.get("htlc_minimum_msat")),
        max_htlc_msat=_msat(entry.get("htlc_maximum_msat")),
        disabled=not bool(entry.get("active", False)),
        last_update=int(entry["last_update"]) if entry.get("last_update") else None,
    )


def _capacity_sat(entry: Mapping[str, Any]) -> int:
    if entry.get("satoshis") is not None:
        return int(entry["satoshis"])
    return _msat(entry.get("amount_msat")) // 1000


def graph_from_listchannels(
    entries: Iterable[Mapping[str, Any]],
    aliases: Optional[Mapping[str, str]] = None,
    taken_at: int = 0,
) -> NetworkGraph:
    """Pair the two directions of each channel into one `GraphEdge`.

    Entries without source/destination/short_channel_id are skipped; a channel seen
    in one direction only gets `None` for the other policy.
    """
    halves: Dict[str, Dict[str, Any]] = {}
    order = []
    for entry in entries:
        scid = entry.get("short_channel_id")
        source = entry.get("source")
        destination = entry.get("destination")
        if not scid or not source or not destination or source == destination:
            continue
        node1, node2 = (source, destination) if source < destination else (destination, source)
        slot = halves.get(scid)
        if slot is None:
            slot = {"node1": node1, "node2": node2, "capacity": _capacity_sat(entry), "p1": None, "p2": None}
            halves[scid] = slot
            order.append(scid)
        elif (slot["node1"], slot["node2"]) != (node1, node2):
            continue  # same scid between other nodes: malformed, keep the first
        slot["p1" if source == node1 else "p2"] = policy_from_listchannels(entry)

    edges: Tuple[GraphEdge, ...] = tuple(
        GraphEdge(
            channel_id=scid,
            node1=halves[scid]["node1"],
            node2=halves[scid]["node2"],
            capacity_sat=halves[scid]["capacity"],
            policy1=halves[scid]["p1"],
            policy2=halves[scid]["p2"],
        )
        for scid in order
    )
    return NetworkGraph(
        edges=edges,
        aliases=dict(aliases or {}),
        fingerprint=graph_fingerprint(edges, prefix="cln"),
        taken_at=taken_at,
    )


def graph_fingerprint(edges: Iterable[GraphEdge], prefix: str = "graph") -> str:
    """Content hash of the parts graph metrics depend on (topology, capacity, fees)."""
    digest = hashlib.sha256()
    count = 0
    for e in edges:
        count += 1
        digest.update(f"{e.channel_id}|{e.node1}|{e.node2}|{e.capacity_sat}|".encode())
        for policy in (e.policy1, e.policy2):
            if policy is not None:
                digest.update(f"{policy.base_msat},{policy.ppm},{policy.disabled};".encode())
            else:
                digest.update(b"-;")
    return f"{prefix}:{count}:{digest.hexdigest()[:16]}"
