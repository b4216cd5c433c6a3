"""Core Lightning v25.12 JSON shapes of the simulated node's channels, peers and funds (pure).

What lightningd prints (lightningd/peer_control.c json_add_channel, plugins/topology.c) for the same
SimNode the LND face shows.  States: an open channel is CHANNELD_NORMAL whether its peer is online
or not (CLN keeps the state and reports `peer_connected`); LND's pending open is
CHANNELD_AWAITING_LOCKIN, its waiting close CLOSINGD_COMPLETE, its pending force close ONCHAIN;
LND's two closed channels are gone (CLN forgets a channel once it is resolved on chain).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .cln_params import U64_MAX
from .graph import h64
from .node import Channel, Policy, SimNode

# CLN's defaults for what simnode does not model per channel (lightningd/options.c)
DEFAULT_FEE_BASE_MSAT, DEFAULT_FEE_PPM, DEFAULT_CLTV_DELTA = 1, 10, 34
DUST_LIMIT_MSAT = 354_000
MAX_ACCEPTED_HTLCS = 483
PEER_HTLC_MINIMUM_MSAT = 1  # what our (LND-like) peers require per HTLC: the floor of setchannel's htlcmin
FEERATE_PERKW = 2500
CHANNEL_TYPE = {"bits": [12, 22], "names": ["static_remotekey/even", "anchors/even"]}
CHANNEL_FEATURES = ["option_static_remotekey", "option_anchors"]
# feature bitmaps as hex, shaped like lightningd's (simnode negotiates no features: nothing reads them)
NODE_FEATURES_HEX = INIT_FEATURES_HEX = "08a0880a8a59a1"
INVOICE_FEATURES_HEX = "02000002024100"


def scid(chan_id: int) -> str:
    return f"{chan_id >> 40}x{(chan_id >> 16) & 0xFFFFFF}x{chan_id & 0xFFFF}"


def chan_id_of(short_channel_id: str) -> int:
    block, tx, out = (int(x) for x in short_channel_id.split("x"))
    return (block << 40) | (tx << 16) | out


def channel_id(txid: str, vout: int) -> str:
    """BOLT 2: the funding txid (in its internal byte order) XOR the output index in the last two bytes."""
    raw = bytearray(bytes.fromhex(txid)[::-1])
    raw[30] ^= vout >> 8
    raw[31] ^= vout & 0xFF
    return raw.hex()


def iso_time(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def address_json(addr: str) -> dict:
    host, _, port = addr.rpartition(":")
    return {"type": "ipv4", "address": host, "port": int(port)}


def direction(ours: str, theirs: str) -> int:
    """0 when we are node_1 (the smaller node id), as CLN and BOLT 7 number the directions."""
    return 0 if ours < theirs else 1


def htlc_max_possible_msat(c: Channel) -> int:
    """CLN's htlc_max_possible_send: the capacity less the reserve the peer makes us keep."""
    return c.capacity * 1000 - c.reserve_sat * 1000


def policy_update_json(p: Policy) -> dict:
    return {"htlc_minimum_msat": p.min_htlc_msat, "htlc_maximum_msat": p.max_htlc_msat,
            "cltv_expiry_delta": p.cltv, "fee_base_msat": p.base_msat,
            "fee_proportional_millionths": p.ppm}


@dataclass(frozen=True)
class PendingView:
    """A channel simnode keeps as an LND pending record (no policy, no traffic), in CLN's terms."""

    record: dict
    state: str  # CHANNELD_AWAITING_LOCKIN | CLOSINGD_COMPLETE | ONCHAIN

    @property
    def peer(self) -> str:
        return self.record["peer"]


def pending_views(sim: SimNode) -> list[PendingView]:
    return ([PendingView(p, "CHANNELD_AWAITING_LOCKIN") for p in sim.pending_open]
            + [PendingView(p, "CLOSINGD_COMPLETE") for p in sim.waiting_close]
            + [PendingView(p, "ONCHAIN") for p in sim.force_closing])


def closing_scid(sim: SimNode, view: PendingView) -> str | None:
    """A channel that was open had a short channel id; simnode's records do not keep one, so it is
    derived from the funding txid (deterministic, below the current height)."""
    if view.state == "CHANNELD_AWAITING_LOCKIN":
        return None
    x = h64("cln-scid", view.record["txid"])
    return f"{sim.block_height - 2000 - x % 50_000}x{(x >> 20) % 3000 + 1}x{view.record['vout']}"


def connected_peers(sim: SimNode) -> set[str]:
    """Peers online: those of active channels and of the pending open, and peers connected by `connect`."""
    online = {c.peer for c in sim.channels if c.active}
    online |= {p["peer"] for p in sim.pending_open}
    online |= set(getattr(sim, "extra_peers", []))
    return online


def _stats(c: Channel) -> dict:
    return {
        "in_payments_offered": c.fwd_in + c.local_failed_in, "in_offered_msat": c.fwd_in_msat + c.local_failed_in_msat,
        "in_payments_fulfilled": c.fwd_in, "in_fulfilled_msat": c.fwd_in_msat,
        "out_payments_offered": c.fwd_out, "out_offered_msat": c.fwd_out_msat,
        "out_payments_fulfilled": c.fwd_out, "out_fulfilled_msat": c.fwd_out_msat,
    }


def _last_stable_connection(sim: SimNode, c: Channel) -> int:
    """When the connection last became stable (invented: within the last day while online; for the
    offline peer, further back by the share of its life it was away)."""
    since = int(sim.now) - 60 - h64("cln-stable", c.peer) % 86400
    if not c.active:
        since -= int(sim.lifetime(c) * (1 - c.uptime_frac))
    return max(0, since)


def peer_channel_json(sim: SimNode, c: Channel) -> dict:
    """One listpeerchannels entry for an open channel."""
    connected = c.active
    entry: dict = {"peer_id": c.peer, "peer_connected": connected}
    if connected:
        entry["reestablished"] = True
    entry["channel_type"] = CHANNEL_TYPE
    if c.ignore_fee_limits:
        entry["ignore_fee_limits"] = True
    entry |= {
        "updates": {"local": policy_update_json(c.policy), "remote": policy_update_json(c.peer_policy)},
        "last_stable_connection": _last_stable_connection(sim, c),
        "state": "CHANNELD_NORMAL",
        "lost_state": False,
        "feerate": {"perkw": FEERATE_PERKW, "perkb": FEERATE_PERKW * 4},
    }
    if connected:
        entry["owner"] = "channeld"
    reserve = c.reserve_sat * 1000
    total = c.capacity * 1000
    entry |= {
        "short_channel_id": scid(c.chan_id),
        "direction": direction(sim.pubkey, c.peer),
        "channel_id": channel_id(c.txid, c.vout),
        "funding_txid": c.txid,
        "funding_outnum": c.vout,
        "private": False,
        "opener": "local" if c.initiator else "remote",
        "features": CHANNEL_FEATURES,
        "funding": {"local_funds_msat": total if c.initiator else 0, "remote_funds_msat": 0 if c.initiator else total,
                    "pushed_msat": 0, "withheld": False},
        "to_us_msat": c.local_msat,
        "min_to_us_msat": min(c.min_local_msat, c.local_msat),
        "max_to_us_msat": max(c.max_local_msat, c.local_msat),
        "total_msat": total,
        "fee_base_msat": c.policy.base_msat,
        "fee_proportional_millionths": c.policy.ppm,
        "dust_limit_msat": DUST_LIMIT_MSAT,
        "their_max_htlc_value_in_flight_msat": c.capacity * 990,
        "our_max_htlc_value_in_flight_msat": U64_MAX,
        "their_reserve_msat": reserve,
        "our_reserve_msat": reserve,
        "spendable_msat": max(0, c.local_msat - reserve),  # what simnode's forwarding check lets out
        "receivable_msat": max(0, c.remote_msat - reserve),
        "minimum_htlc_in_msat": 0,
        "minimum_htlc_out_msat": c.policy.min_htlc_msat,
        "maximum_htlc_out_msat": c.policy.max_htlc_msat,
        "their_to_self_delay": 144,
        "our_to_self_delay": 144 + (c.capacity // 1_000_000) % 3 * 144,
        "max_accepted_htlcs": MAX_ACCEPTED_HTLCS,
        "state_changes": [{"timestamp": iso_time(c.open_ts), "old_state": "CHANNELD_AWAITING_LOCKIN",
                           "new_state": "CHANNELD_NORMAL", "cause": "user" if c.initiator else "remote",
                           "message": "Lockin complete"}],
        "status": ["CHANNELD_NORMAL:Channel ready for use." if connected
                   else "CHANNELD_NORMAL:Will attempt reconnect in 300 seconds"],
    }
    return entry | _stats(c) | {"htlcs": []}


def _default_update(capacity_sat: int) -> dict:
    return {"htlc_minimum_msat": 0, "htlc_maximum_msat": capacity_sat * 990, "cltv_expiry_delta": DEFAULT_CLTV_DELTA,
            "fee_base_msat": DEFAULT_FEE_BASE_MSAT, "fee_proportional_millionths": DEFAULT_FEE_PPM}


STATUS = {
    "CHANNELD_AWAITING_LOCKIN": "CHANNELD_AWAITING_LOCKIN:Funding needs 3 more confirmations to be ready.",
    "CLOSINGD_COMPLETE": "CLOSINGD_COMPLETE:Waiting for the mutual close transaction to confirm.",
    "ONCHAIN": "ONCHAIN:Tracking our own unilateral close",
}


def pending_channel_json(sim: SimNode, view: PendingView) -> dict:
    """A listpeerchannels entry for a channel being opened or closed: CLN's defaults for its policy
    (simnode does not model one), nothing spendable."""
    p = view.record
    connected = view.state == "CHANNELD_AWAITING_LOCKIN"
    total, local = p["capacity"] * 1000, p["local"] * 1000
    reserve = p["capacity"] // 100 * 1000
    entry: dict = {"peer_id": p["peer"], "peer_connected": connected}
    if connected:
        entry["reestablished"] = True
    entry |= {"channel_type": CHANNEL_TYPE,
              "updates": {"local": _default_update(p["capacity"])},
              "state": view.state, "lost_state": False,
              "feerate": {"perkw": FEERATE_PERKW, "perkb": FEERATE_PERKW * 4}}
    if connected:
        entry["owner"] = "channeld"
    short = closing_scid(sim, view)
    if short is not None:
        entry |= {"short_channel_id": short, "direction": direction(sim.pubkey, p["peer"])}
    entry |= {
        "channel_id": channel_id(p["txid"], p["vout"]),
        "funding_txid": p["txid"],
        "funding_outnum": p["vout"],
        "private": False,
        "opener": "local",
    }
    if not connected:
        entry["closer"] = "local"
    entry |= {
        "features": CHANNEL_FEATURES,
        "funding": {"local_funds_msat": total, "remote_funds_msat": 0, "pushed_msat": 0, "withheld": False},
        "to_us_msat": local, "min_to_us_msat": local, "max_to_us_msat": local,
        "total_msat": total,
        "fee_base_msat": DEFAULT_FEE_BASE_MSAT, "fee_proportional_millionths": DEFAULT_FEE_PPM,
        "dust_limit_msat": DUST_LIMIT_MSAT,
        "their_max_htlc_value_in_flight_msat": p["capacity"] * 990, "our_max_htlc_value_in_flight_msat": U64_MAX,
        "their_reserve_msat": reserve, "our_reserve_msat": reserve,
        "spendable_msat": 0, "receivable_msat": 0,
        "minimum_htlc_in_msat": 0, "minimum_htlc_out_msat": 0, "maximum_htlc_out_msat": p["capacity"] * 990,
        "their_to_self_delay": 144, "our_to_self_delay": 144, "max_accepted_htlcs": MAX_ACCEPTED_HTLCS,
        "state_changes": [], "status": [STATUS[view.state]],
        "in_payments_offered": 0, "in_offered_msat": 0, "in_payments_fulfilled": 0, "in_fulfilled_msat": 0,
        "out_payments_offered": 0, "out_offered_msat": 0, "out_payments_fulfilled": 0, "out_fulfilled_msat": 0,
        "htlcs": [],
    }
    return entry


def peer_channels(sim: SimNode) -> list[dict]:
    """Every listpeerchannels entry, ordered by peer id as lightningd walks its peer map (unordered
    there; sorted here so answers are reproducible)."""
    rows = [(c.peer, 0, peer_channel_json(sim, c)) for c in sim.channels]
    rows += [(v.peer, 1, pending_channel_json(sim, v)) for v in pending_views(sim)]
    return [row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]


def funds_channel_json(entry: dict) -> dict:
    """listfunds' view of a listpeerchannels entry."""
    out = {"peer_id": entry["peer_id"], "connected": entry["peer_connected"], "state": entry["state"],
           "channel_id": entry["channel_id"]}
    if "short_channel_id" in entry:
        out["short_channel_id"] = entry["short_channel_id"]
    return out | {"our_amount_msat": entry["to_us_msat"], "amount_msat": entry["total_msat"],
                  "funding_txid": entry["funding_txid"], "funding_output": entry["funding_outnum"]}


def listchannels_entry(source: str, destination: str, short_channel_id: str, capacity_sat: int,
                       base: int, ppm: int, cltv: int, min_htlc: int, max_htlc: int, disabled: bool,
                       last_update: int) -> dict:
    """One direction of a public channel as plugins/topology.c prints it."""
    d = direction(source, destination)
    return {
        "source": source, "destination": destination, "short_channel_id": short_channel_id, "direction": d,
        "public": True, "amount_msat": capacity_sat * 1000, "message_flags": 1,
        "channel_flags": d | (2 if disabled else 0), "active": not disabled, "last_update": last_update,
        "base_fee_millisatoshi": base, "fee_per_millionth": ppm, "delay": cltv,
        "htlc_minimum_msat": min_htlc, "htlc_maximum_msat": max_htlc, "features": "",
    }


def our_channel_directions(sim: SimNode, c: Channel) -> list[dict]:
    """Both directions of one of our channels, ours first."""
    short = scid(c.chan_id)
    out = []
    for src, dst, p in ((sim.pubkey, c.peer, c.policy), (c.peer, sim.pubkey, c.peer_policy)):
        out.append(listchannels_entry(src, dst, short, c.capacity, p.base_msat, p.ppm, p.cltv, p.min_htlc_msat,
                                      p.max_htlc_msat, p.disabled, p.last_update))
    return out


def node_json(pub: str, alias: str, color: str, last_timestamp: int, addr: str) -> dict:
    return {"nodeid": pub, "alias": alias, "color": color.lstrip("#"), "last_timestamp": last_timestamp,
            "features": NODE_FEATURES_HEX, "addresses": [address_json(addr)]}


def our_node_json(sim: SimNode) -> dict:
    last = max([c.policy.last_update for c in sim.channels] + [sim.start_ts - 3600])
    return node_json(sim.pubkey, sim.alias, sim.color, last, sim.address)
