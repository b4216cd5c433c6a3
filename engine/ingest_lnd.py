"""LND REST JSON -> engine snapshot types. Pure functions: no I/O, no LNbits imports.

The shell (`node.py`) fetches; the benchmark feeds simnode's answers through the
same functions, so both see the node the same way.

LND encodes uint64 as decimal strings and int32 as numbers; both are accepted
here because callers (and tests) may hand over either.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Iterable, Mapping, Optional, Sequence

from .snapshot import (
    ACTIVE,
    CLOSED,
    INACTIVE,
    PENDING,
    Channel,
    FlowStats,
    GraphEdge,
    NetworkGraph,
    Policy,
)


def _int(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    return int(value)


def short_id_from_chan_id(chan_id: str) -> str:
    """LND's decimal chan_id -> BLOCKxTXxOUT (BOLT 7 short channel id)."""
    number = int(chan_id)
    return f"{number >> 40}x{(number >> 16) & 0xFFFFFF}x{number & 0xFFFF}"


def funding_height_from_chan_id(chan_id: str) -> Optional[int]:
    height = int(chan_id) >> 40
    return height or None


def policy_from_lnd(raw: Optional[Mapping[str, Any]]) -> Optional[Policy]:
    """RoutingPolicy (graph edge) -> Policy; `None` when LND has no policy."""
    if not raw:
        return None
    return Policy(
        base_msat=_int(raw.get("fee_base_msat")),
        # LND names it milli_msat but it is parts per million.
        ppm=_int(raw.get("fee_rate_milli_msat")),
        cltv_delta=_int(raw.get("time_lock_delta")),
        min_htlc_msat=_int(raw.get("min_htlc")),
        max_htlc_msat=_int(raw.get("max_htlc_msat")),
        disabled=bool(raw.get("disabled", False)),
        inbound_base_msat=_int(raw.get("inbound_fee_base_msat")),
        inbound_ppm=_int(raw.get("inbound_fee_rate_milli_msat")),
        last_update=_int(raw.get("last_update")) or None,
    )


def edge_policies(edge: Mapping[str, Any], our_id: str) -> tuple[Optional[Policy], Optional[Policy]]:
    """(our policy, the peer's policy) of a ChannelEdge we are part of."""
    node1_policy = policy_from_lnd(edge.get("node1_policy"))
    node2_policy = policy_from_lnd(edge.get("node2_policy"))
    if edge.get("node1_pub") == our_id:
        return node1_policy, node2_policy
    return node2_policy, node1_policy


def fee_report_by_chan(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(fee["chan_id"]): fee for fee in report.get("channel_fees", [])}


def policy_from_fee_report(
    fee: Mapping[str, Any], edge_policy: Optional[Policy]
) -> Policy:
    """Fees from the fee report (always current), the rest from the graph edge.

    LND's fee report has no cltv delta or HTLC limits; the graph edge has them.
    """
    base = _int(fee.get("base_fee_msat"))
    ppm = _int(fee.get("fee_per_mil"))
    inbound_base = _int(fee.get("inbound_base_fee_msat"))
    inbound_ppm = _int(fee.get("inbound_fee_per_mil"))
    if edge_policy is None:
        return Policy(
            base_msat=base,
            ppm=ppm,
            cltv_delta=0,
            min_htlc_msat=0,
            max_htlc_msat=0,
            inbound_base_msat=inbound_base,
            inbound_ppm=inbound_ppm,
        )
    return Policy(
        base_msat=base,
        ppm=ppm,
        cltv_delta=edge_policy.cltv_delta,
        min_htlc_msat=edge_policy.min_htlc_msat,
        max_htlc_msat=edge_policy.max_htlc_msat,
        disabled=edge_policy.disabled,
        inbound_base_msat=inbound_base,
        inbound_ppm=inbound_ppm,
        last_update=edge_policy.last_update,
    )


def open_channel_from_lnd(
    raw: Mapping[str, Any],
    *,
    local_policy: Optional[Policy],
    peer_policy: Optional[Policy],
    peer_online: Optional[bool] = None,
    peer_flap_count: Optional[int] = None,
    flow: Optional[Mapping[int, FlowStats]] = None,
    alias: str = "",
) -> Channel:
    chan_id = str(raw["chan_id"])
    lifetime = _int(raw.get("lifetime"))
    return Channel(
        chan_id=chan_id,
        short_id=short_id_from_chan_id(chan_id),
        channel_point=raw.get("channel_point", ""),
        peer_id=raw.get("remote_pubkey", ""),
        peer_alias=raw.get("peer_alias") or alias,
        state=ACTIVE if raw.get("active") else INACTIVE,
        capacity_sat=_int(raw.get("capacity")),
        local_sat=_int(raw.get("local_balance")),
        remote_sat=_int(raw.get("remote_balance")),
        private=bool(raw.get("private", False)),
        initiator=raw.get("initiator"),
        local_policy=local_policy,
        peer_policy=peer_policy,
        funding_height=funding_height_from_chan_id(chan_id),
        # LND reports 0 when it has not monitored the channel yet: unknown.
        uptime_s=_int(raw.get("uptime")) if lifetime else None,
        lifetime_s=lifetime or None,
        peer_online=peer_online,
        peer_flap_count=peer_flap_count,
        flow=dict(flow or {}),
    )


def pending_channels_from_lnd(raw: Mapping[str, Any], aliases: Mapping[str, str]) -> list[Channel]:
    channels = []
    for group in (
        "pending_open_channels",
        "pending_force_closing_channels",
        "waiting_close_channels",
    ):
        for entry in raw.get(group, []) or []:
            info = entry.get("channel") or {}
            point = info.get("channel_point", "")
            peer = info.get("remote_node_pub", "")
            channels.append(
                Channel(
                    # LND gives pending channels no chan_id: the outpoint names them.
                    chan_id=point,
                    short_id="",
                    channel_point=point,
                    peer_id=peer,
                    peer_alias=aliases.get(peer, ""),
                    state=PENDING,
                    capacity_sat=_int(info.get("capacity")),
                    local_sat=_int(info.get("local_balance")),
                    remote_sat=_int(info.get("remote_balance")),
                )
            )
    return channels


def closed_channels_from_lnd(raw: Mapping[str, Any], aliases: Mapping[str, str]) -> list[Channel]:
    channels = []
    for info in raw.get("channels", []) or []:
        chan_id = str(info.get("chan_id", "0"))
        peer = info.get("remote_pubkey", "")
        channels.append(
            Channel(
                chan_id=chan_id if chan_id != "0" else info.get("channel_point", ""),
                short_id=short_id_from_chan_id(chan_id) if chan_id != "0" else "",
                channel_point=info.get("channel_point", ""),
                peer_id=peer,
                peer_alias=aliases.get(peer, ""),
                state=CLOSED,
                capacity_sat=_int(info.get("capacity")),
                local_sat=_int(info.get("settled_balance")),
                remote_sat=0,
                funding_height=funding_height_from_chan_id(chan_id) if chan_id != "0" else None,
            )
        )
    return channels


def peers_from_lnd(raw: Mapping[str, Any]) -> dict[str, int]:
    """Connected peers -> flap count."""
    return {
        peer["pub_key"]: _int(peer.get("flap_count"))
        for peer in raw.get("peers", []) or []
    }


def aggregate_forwards(
    events: Iterable[Mapping[str, Any]], now: int, windows: Iterable[int]
) -> dict[str, dict[int, FlowStats]]:
    """Forwarding events -> per channel, per window (days) stats."""
    windows = sorted(windows)
    acc: dict[str, dict[int, list[int]]] = {}

    def bucket(chan: str, days: int) -> list[int]:
        return acc.setdefault(chan, {}).setdefault(days, [0, 0, 0, 0, 0, 0])

    for event in events:
        ts = _int(event.get("timestamp_ns")) // 1_000_000_000 or _int(event.get("timestamp"))
        age = now - ts
        chan_in = str(event.get("chan_id_in"))
        chan_out = str(event.get("chan_id_out"))
        amt_in = _int(event.get("amt_in_msat")) // 1000
        amt_out = _int(event.get("amt_out_msat")) // 1000
        fee = _int(event.get("fee_msat"))
        for days in windows:
            if age > days * 86400:
                continue
            out = bucket(chan_out, days)
            out[0] += 1
            out[2] += amt_out
            out[4] += fee
            inc = bucket(chan_in, days)
            inc[1] += 1
            inc[3] += amt_in
            inc[5] += fee
    return flows_from_sums(acc)


# The sums of one channel over one window, in this order (aggregate_forwards, and the
# shell's totals of the forwards it keeps: crud.forward_sums).
FLOW_SUMS = ("forwards_out", "forwards_in", "volume_out_sat", "volume_in_sat", "fees_earned_msat", "fees_assisted_msat")


def flows_from_sums(sums: Mapping[str, Mapping[int, Sequence[int]]]) -> dict[str, dict[int, FlowStats]]:
    """Per channel, per window (days): the FLOW_SUMS of its forwards -> FlowStats."""
    return {
        chan: {days: FlowStats(days=days, **dict(zip(FLOW_SUMS, map(int, v)))) for days, v in per_window.items()}
        for chan, per_window in sums.items()
    }


def graph_from_describegraph(raw: Mapping[str, Any], taken_at: int) -> NetworkGraph:
    edges = []
    for edge in raw.get("edges", []) or []:
        edges.append(
            GraphEdge(
                channel_id=str(edge.get("channel_id")),
                node1=edge.get("node1_pub", ""),
                node2=edge.get("node2_pub", ""),
                capacity_sat=_int(edge.get("capacity")),
                policy1=policy_from_lnd(edge.get("node1_policy")),
                policy2=policy_from_lnd(edge.get("node2_policy")),
            )
        )
    aliases = {
        node["pub_key"]: node.get("alias", "")
        for node in raw.get("nodes", []) or []
        if node.get("pub_key")
    }
    digest = hashlib.sha256()
    for e in edges:
        digest.update(f"{e.channel_id}|{e.node1}|{e.node2}|{e.capacity_sat}|".encode())
        for policy in (e.policy1, e.policy2):
            if policy is not None:
                digest.update(f"{policy.base_msat},{policy.ppm},{policy.disabled};".encode())
    fingerprint = f"lnd:{len(edges)}:{digest.hexdigest()[:16]}"
    return NetworkGraph(edges=tuple(edges), aliases=aliases, fingerprint=fingerprint, taken_at=taken_at)


def daily_earnings(
    events: Iterable[Mapping[str, Any]], now: int, days: int
) -> tuple[list[dict[str, int]], dict[str, list[int]]]:
    """Fees earned per UTC day (oldest first) for the node, and per outgoing channel."""
    first_day = (now - (days - 1) * 86400) // 86400
    totals = [{"day": (first_day + i) * 86400, "fees_msat": 0, "forwards": 0, "volume_sat": 0} for i in range(days)]
    per_channel: dict[str, list[int]] = {}
    for event in events:
        ts = _int(event.get("timestamp_ns")) // 1_000_000_000 or _int(event.get("timestamp"))
        index = ts // 86400 - first_day
        if not 0 <= index < days:
            continue
        fee = _int(event.get("fee_msat"))
        day = totals[index]
        day["fees_msat"] += fee
        day["forwards"] += 1
        day["volume_sat"] += _int(event.get("amt_out_msat")) // 1000
        per_channel.setdefault(str(event.get("chan_id_out")), [0] * days)[index] += fee
    return totals, per_channel


def channels_from_lnd(
    our_id: str,
    open_raw: Mapping[str, Any],
    pending_raw: Mapping[str, Any],
    closed_raw: Mapping[str, Any],
    fees_raw: Mapping[str, Any],
    node_raw: Mapping[str, Any],
    peers_raw: Mapping[str, Any],
) -> list[Channel]:
    """Every channel with its complete policies, from six LND answers:
    /v1/channels, /v1/channels/pending, /v1/channels/closed, /v1/fees,
    /v1/graph/node/<us>?include_channels=true and /v1/peers.

    Fees come from the fee report (authoritative); cltv delta and HTLC limits
    from our node's edges in the graph (the fee report lacks them).
    """
    fees = fee_report_by_chan(fees_raw)
    edges = {str(edge["channel_id"]): edge for edge in node_raw.get("channels", []) or []}
    flaps = peers_from_lnd(peers_raw)
    channels: list[Channel] = []
    aliases: dict[str, str] = {}
    for raw in open_raw.get("channels", []) or []:
        chan_id = str(raw["chan_id"])
        edge = edges.get(chan_id)
        ours, theirs = edge_policies(edge, our_id) if edge else (None, None)
        fee = fees.get(chan_id)
        local = policy_from_fee_report(fee, ours) if fee else ours
        peer = raw.get("remote_pubkey", "")
        channel = open_channel_from_lnd(
            raw,
            local_policy=local,
            peer_policy=theirs,
            peer_online=peer in flaps,
            peer_flap_count=flaps.get(peer),
        )
        aliases[peer] = channel.peer_alias
        channels.append(channel)
    channels += pending_channels_from_lnd(pending_raw, aliases)
    channels += closed_channels_from_lnd(closed_raw, aliases)
    return channels


def with_flows(channels: Iterable[Channel], flows: Mapping[str, Mapping[int, FlowStats]], windows: Iterable[int]) -> list[Channel]:
    """Channels with their forwarding stats; open channels without forwards get
    known zeros (history was read), others keep what they have."""
    windows = tuple(windows)
    result = []
    for channel in channels:
        flow = dict(flows.get(channel.chan_id, {}))
        if channel.state in (ACTIVE, INACTIVE):
            for days in windows:
                flow.setdefault(days, FlowStats(days=days))
        result.append(replace(channel, flow={d: flow[d] for d in windows if d in flow}))
    return result


def chanpolicy_body(channel_point: str, policy: Policy) -> dict[str, Any]:
    """A complete LND UpdateChannelPolicy body for one channel.

    LND overwrites: an omitted fee is 0 and the cltv delta is required, so every
    field is sent back as it is, with only what the caller changed differing.
    """
    txid, index = channel_point.split(":")
    return {
        "chan_point": {"funding_txid_str": txid, "output_index": int(index)},
        "base_fee_msat": str(policy.base_msat),
        "fee_rate_ppm": policy.ppm,
        "time_lock_delta": policy.cltv_delta,
        "max_htlc_msat": str(policy.max_htlc_msat),
        "min_htlc_msat": str(policy.min_htlc_msat),
        "min_htlc_msat_specified": True,
        "inbound_fee": {
            "base_fee_msat": policy.inbound_base_msat,
            "fee_rate_ppm": policy.inbound_ppm,
        },
    }

