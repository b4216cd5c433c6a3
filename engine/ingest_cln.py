"""Core Lightning JSON -> engine types. Pure: the caller decodes the JSON.

`listchannels` + `listnodes` -> `NetworkGraph`; `listpeerchannels` -> our `Channel`s with their
complete policies; `listforwards` pages -> the rows of the forwarding history we keep.

`listchannels` has one entry per channel *direction*; BOLT 7 direction 0 (policy1)
is the update from the lexicographically smaller node id. A disabled direction
(`active` false) is kept as a disabled `Policy` so graph metrics can drop it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from .ingest_htlc import FAILED_DOWNSTREAM
from .snapshot import ACTIVE, INACTIVE, PENDING, Channel, GraphEdge, NetworkGraph, Policy


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


# --- our node through Core Lightning's JSON-RPC (the shell: cln_node.py) -----------------------
#
# The rest of the extension names a channel by LND's integer chan_id (block << 40 | tx << 16 | out)
# as a decimal string, and keeps forwards and failures in integer columns: CLN's short channel ids
# are converted to it, so one channel has one id whatever the backend.

# States of a channel that is open: usable while its peer is connected (a splice keeps it usable).
OPEN_STATES = ("CHANNELD_NORMAL", "CHANNELD_AWAITING_SPLICE")
# Every other listpeerchannels state is a channel being opened or closed (LND's pending channels:
# pending open, waiting close, pending force close). Closed channels are not listed at all.


def chan_id_from_scid(short_channel_id: str) -> str:
    """`BLOCKxTXxOUT` (or the very old `BLOCK:TX:OUT`) -> LND's decimal chan_id."""
    parts = short_channel_id.replace(":", "x").split("x")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a short channel id: {short_channel_id!r}")
    block, tx, out = (int(p) for p in parts)
    if block >= 1 << 24 or tx >= 1 << 24 or out >= 1 << 16:
        raise ValueError(f"short channel id out of range: {short_channel_id!r}")
    return str(block << 40 | tx << 16 | out)


def scid_from_chan_id(chan_id: str) -> str:
    number = int(chan_id)
    return f"{number >> 40}x{(number >> 16) & 0xFFFFFF}x{number & 0xFFFF}"


def policy_from_channel_update(update: Mapping[str, Any]) -> Policy:
    """One side of listpeerchannels' `updates` (local: ours, remote: the peer's) -> Policy. CLN has
    no inbound fees; `disabled` and gossip timestamps are not in it."""
    return Policy(
        base_msat=_msat(update.get("fee_base_msat")),
        ppm=int(update.get("fee_proportional_millionths") or 0),
        cltv_delta=int(update.get("cltv_expiry_delta") or 0),
        min_htlc_msat=_msat(update.get("htlc_minimum_msat")),
        max_htlc_msat=_msat(update.get("htlc_maximum_msat")),
    )


def local_policy(entry: Mapping[str, Any]) -> Optional[Policy]:
    """Our side of one listpeerchannels entry, complete (None when the node has not set one)."""
    updates = entry.get("updates")
    if isinstance(updates, Mapping) and isinstance(updates.get("local"), Mapping):
        return policy_from_channel_update(updates["local"])
    if entry.get("fee_base_msat") is None:
        return None
    # before v24.02 there was no `updates`: the fee fields and HTLC limits, no cltv delta
    return Policy(
        base_msat=_msat(entry.get("fee_base_msat")),
        ppm=int(entry.get("fee_proportional_millionths") or 0),
        cltv_delta=0,
        min_htlc_msat=_msat(entry.get("minimum_htlc_out_msat")),
        max_htlc_msat=_msat(entry.get("maximum_htlc_out_msat")),
    )


def channel_from_listpeerchannels(entry: Mapping[str, Any], aliases: Mapping[str, str]) -> Channel:
    """One listpeerchannels entry -> Channel. An open channel is named by its chan_id (from the short
    channel id); one being opened or closed by its outpoint, as LND's pending channels are."""
    state = str(entry.get("state", ""))
    connected = bool(entry.get("peer_connected", False))
    short_id = str(entry.get("short_channel_id") or "")
    point = f"{entry.get('funding_txid', '')}:{entry.get('funding_outnum', 0)}"
    is_open = state in OPEN_STATES and bool(short_id)
    total_msat, local_msat = _msat(entry.get("total_msat")), _msat(entry.get("to_us_msat"))
    updates = entry.get("updates") if isinstance(entry.get("updates"), Mapping) else {}
    remote = updates.get("remote")
    peer = str(entry.get("peer_id", ""))
    chan_id = chan_id_from_scid(short_id) if is_open else point
    opener = entry.get("opener")
    return Channel(
        chan_id=chan_id,
        short_id=short_id,
        channel_point=point,
        peer_id=peer,
        peer_alias=aliases.get(peer, ""),
        state=(ACTIVE if connected else INACTIVE) if is_open else PENDING,
        capacity_sat=total_msat // 1000,
        local_sat=local_msat // 1000,
        remote_sat=(total_msat - local_msat) // 1000,
        private=bool(entry.get("private", False)),
        initiator=None if opener is None else opener == "local",
        local_policy=local_policy(entry) if is_open else None,
        peer_policy=policy_from_channel_update(remote) if is_open and isinstance(remote, Mapping) else None,
        funding_height=(int(chan_id) >> 40) or None if is_open else None,
        peer_online=connected,
    )


def channels_from_listpeerchannels(raw: Mapping[str, Any], aliases: Mapping[str, str]) -> list[Channel]:
    """Every channel listpeerchannels lists, with its complete local policy."""
    return [channel_from_listpeerchannels(entry, aliases) for entry in raw.get("channels", []) or []]


def aliases_from_listnodes(raw: Mapping[str, Any]) -> dict[str, str]:
    return {str(n["nodeid"]): str(n.get("alias") or "") for n in raw.get("nodes", []) or [] if n.get("nodeid")}


def graph_from_cln(listchannels: Mapping[str, Any], listnodes: Mapping[str, Any], taken_at: int) -> NetworkGraph:
    """The public graph from the two answers (`listchannels`, `listnodes`) as they were decoded."""
    return graph_from_listchannels(listchannels.get("channels", []) or [], aliases_from_listnodes(listnodes), taken_at)


# --- listforwards -> the rows Fee Autopilot keeps ----------------------------------------------
#
# Failures (CLN's `local_failed`: our node refused a forward after the HTLC arrived) as the engine's
# failed_out_* read them (engine.ingest_htlc.LIQUIDITY_FAILURE_DETAILS):
#   failcode 4103 (0x1007) WIRE_TEMPORARY_CHANNEL_FAILURE -> INSUFFICIENT_BALANCE. channeld answers a
#       forward it cannot add to the outgoing channel with it — above all our balance (capacity
#       exceeded); listforwards keeps no finer reason, so the rarer causes under the same code (too
#       many HTLCs in flight, dust exposure) count as lack of balance too, as LND's
#       INSUFFICIENT_BALANCE covers its own link's capacity checks.
#   4108 (0x100c) WIRE_FEE_INSUFFICIENT -> FEE_INSUFFICIENT (LND's name for the same refusal);
#   any other code -> its wire name without `WIRE_` (e.g. UNKNOWN_NEXT_PEER, CHANNEL_DISABLED).
# `failed` (it left through our channel and failed further along) -> FAILED_DOWNSTREAM: nothing
# about our liquidity, as on LND.
TEMPORARY_CHANNEL_FAILURE = 0x1000 | 7
FEE_INSUFFICIENT = 0x1000 | 12
FAILCODE_DETAILS = {TEMPORARY_CHANNEL_FAILURE: "INSUFFICIENT_BALANCE", FEE_INSUFFICIENT: "FEE_INSUFFICIENT"}


def wire_failure_name(failcode: Optional[int], failreason: Optional[str]) -> str:
    """The BOLT 4 failure's name as LND's `wire_failure` spells it (TEMPORARY_CHANNEL_FAILURE)."""
    if failreason:
        return failreason[5:] if failreason.startswith("WIRE_") else failreason
    return f"FAILCODE_{failcode}" if failcode is not None else ""


def failure_detail(status: str, failcode: Optional[int], failreason: Optional[str]) -> str:
    if status == "failed":
        return FAILED_DOWNSTREAM
    if failcode in FAILCODE_DETAILS:
        return FAILCODE_DETAILS[failcode]  # type: ignore[index]
    return wire_failure_name(failcode, failreason) or "UNKNOWN"


def time_ns(seconds: Any) -> int:
    """CLN's times are seconds with millisecond decimals: to whole milliseconds, in ns."""
    return round(float(seconds) * 1000) * 1_000_000 if seconds else 0


@dataclass(frozen=True)
class ForwardRow:
    """A settled forward as crud.insert_forwards stores it (forward_events)."""

    ts_ns: int
    chan_out: int
    chan_in: int
    htlc_out: int
    htlc_in: int
    amt_out_msat: int
    fee_msat: int


@dataclass(frozen=True)
class FailureRow:
    """A forward that failed, as crud.insert_failed_forwards stores it (link_failures)."""

    ts_ns: int
    chan_in: int
    htlc_in: int
    chan_out: int
    amount_msat: int
    wire_failure: str
    failure_detail: str


@dataclass(frozen=True)
class ForwardPage:
    settled: tuple[ForwardRow, ...]
    failed: tuple[FailureRow, ...]
    read: int  # entries in the page
    last_index: int  # the highest created_index in it (0: empty)
    # the created_index of its first forward still in flight (`offered`: it will settle or fail
    # later, under the same created_index), or None: the next read must start there again
    first_offered: Optional[int]


def _htlc(value: Any) -> int:
    return -1 if value is None or value == "" else int(value)


def forward_page(forwards: Iterable[Mapping[str, Any]]) -> ForwardPage:
    """One listforwards page -> rows.

    A settled forward's time is `resolved_time`, when it settled: LND's ForwardingEvent is written
    when the forward settles and stamped then, so a forward is in the same window on either backend
    (received_time when an old row has none). A failure's is `resolved_time` too, else
    `received_time` (a local failure is refused as it arrives, as LND's link_fail_event is stamped).
    """
    settled: list[ForwardRow] = []
    failed: list[FailureRow] = []
    read = last = 0
    first_offered: Optional[int] = None
    for f in forwards:
        read += 1
        index = int(f.get("created_index") or 0)
        last = max(last, index)
        status = str(f.get("status", ""))
        if status == "offered":
            first_offered = index if first_offered is None else min(first_offered, index)
            continue
        if not f.get("in_channel") or not f.get("out_channel"):
            continue  # no channel of ours to count it on (a failure before the next hop was known)
        chan_in, chan_out = int(chan_id_from_scid(str(f["in_channel"]))), int(chan_id_from_scid(str(f["out_channel"])))
        at = time_ns(f.get("resolved_time") or f.get("received_time"))
        if status == "settled":
            out_msat = _msat(f.get("out_msat"))
            fee = _msat(f["fee_msat"]) if f.get("fee_msat") is not None else _msat(f.get("in_msat")) - out_msat
            settled.append(ForwardRow(at, chan_out, chan_in, _htlc(f.get("out_htlc_id")), _htlc(f.get("in_htlc_id")),
                                      out_msat, fee))
        elif status in ("local_failed", "failed"):
            code = int(f["failcode"]) if f.get("failcode") is not None else None
            reason = str(f["failreason"]) if f.get("failreason") else None
            # what would have left: out_msat when it was sent, else what the HTLC carried in
            amount = _msat(f.get("out_msat")) if f.get("out_msat") is not None else _msat(f.get("in_msat"))
            failed.append(FailureRow(at, chan_in, _htlc(f.get("in_htlc_id")), chan_out, amount,
                                     wire_failure_name(code, reason), failure_detail(status, code, reason)))
    return ForwardPage(tuple(settled), tuple(failed), read, last, first_offered)


# --- setchannel: the one call that writes a channel's fees on Core Lightning --------------------


def setchannel_params(short_channel_id: str, policy: Policy) -> dict[str, Any]:
    """`setchannel` parameters that leave the channel at `policy`.

    setchannel keeps what is omitted (lightningd's json_setchannel), but Fee Autopilot names the
    HTLC limits anyway, as they are in `policy` (the live ones it read): the write then says
    exactly what the channel should be, as an LND chanpolicy body does. There is no cltv delta (a
    node-wide option on CLN) and no inbound fee (CLN has none): `unwritable` refuses a policy that
    would need them. `enforcedelay` is left at lightningd's default (600 s): the old fee stays
    acceptable that long, so HTLCs already on their way are not failed for it.
    """
    return {
        "id": short_channel_id,
        "feebase": policy.base_msat,
        "feeppm": policy.ppm,
        "htlcmin": policy.min_htlc_msat,
        "htlcmax": policy.max_htlc_msat,
    }


def unwritable(live: Policy, policy: Policy) -> Optional[str]:
    """Why setchannel cannot leave the channel at `policy` from `live`, or None."""
    if policy.inbound_base_msat or policy.inbound_ppm:
        return "Core Lightning has no inbound fees"
    if policy.cltv_delta != live.cltv_delta:
        return (f"Core Lightning's cltv delta is node-wide (cltv-delta option), not set per channel: "
                f"{live.cltv_delta} cannot become {policy.cltv_delta} here")
    return None


def is_setchannel_answer(answer: Any) -> bool:
    return isinstance(answer, Mapping) and isinstance(answer.get("channels"), list)


def setchannel_left_out(answer: Mapping[str, Any], short_channel_id: str) -> bool:
    """lightningd leaves a channel out of its answer when it did not change it (not in a state that
    takes the change)."""
    return not any(isinstance(c, Mapping) and c.get("short_channel_id") == short_channel_id for c in answer["channels"])


def setchannel_problem(answer: Mapping[str, Any], short_channel_id: str, policy: Policy) -> Optional[str]:
    """What differs from `policy` in setchannel's answer for the channel it changed (None: nothing).

    lightningd clamps an htlcmin below the peer's minimum or an htlcmax above what the channel can
    carry, and says so in a warning.
    """
    row = next(c for c in answer["channels"] if isinstance(c, Mapping) and c.get("short_channel_id") == short_channel_id)
    warnings = [str(v) for k, v in sorted(row.items()) if k.startswith("warning_")]
    got = (_msat(row.get("fee_base_msat")), int(row.get("fee_proportional_millionths") or 0),
           _msat(row.get("minimum_htlc_out_msat")), _msat(row.get("maximum_htlc_out_msat")))
    wanted = (policy.base_msat, policy.ppm, policy.min_htlc_msat, policy.max_htlc_msat)
    if warnings or got != wanted:
        said = f" ({'; '.join(warnings)})" if warnings else ""
        return (f"Core Lightning set base {got[0]} msat, {got[1]} ppm, htlc {got[2]}..{got[3]} msat instead of "
                f"base {wanted[0]} msat, {wanted[1]} ppm, htlc {wanted[2]}..{wanted[3]} msat{said}")
    return None
