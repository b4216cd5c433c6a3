"""CLN's setchannel (lightningd/peer_control.c json_setchannel / set_channel_config of v25.12).

`id` is "all", a peer id (all its channels), a channel id or a short channel id.  Omitted values stay
as they are; htlcmin below what the peer accepts and htlcmax above what the channel can carry are
clamped, with a warning in the answer.  A change that makes the policy stricter keeps the previous one
acceptable for `enforcedelay` seconds (600 by default) in simulated time; an unchanged policy is not
a new channel_update (lightningd suppresses redundant ones), so it counts as no policy update.  There
is no cltv or inbound fee here: CLN's cltv delta is a node-wide option and CLN has no inbound fees.

Faults (simnode/faults.py): `failed_updates` makes the listed channels act as if not in a state that
takes setchannel (named directly: an error; through "all" or their peer: left out of the answer);
`htlcmin_floor_msat` / `htlcmax_ceiling_msat` stand for a peer demanding a higher minimum and a
channel able to carry less, so a request beyond them is clamped and warned about.
"""

from __future__ import annotations

import re

from .cln_params import LIGHTNINGD, ClnError, bad_param
from .cln_shapes import PEER_HTLC_MINIMUM_MSAT, channel_id, htlc_max_possible_msat, pending_views, scid
from .faults import FaultAction
from .node import Channel, Policy, SimNode

FAULT_STATE = "CHANNELD_SHUTTING_DOWN"  # the state a faulted channel claims


def _faulted(c: Channel, fault: FaultAction) -> bool:
    names = {str(c.chan_id), scid(c.chan_id), channel_id(c.txid, c.vout)}
    return any(n in fault.failed_updates for n in names)


def _known_peer(sim: SimNode, node: str) -> bool:
    return (any(c.peer == node for c in sim.channels) or any(v.peer == node for v in pending_views(sim))
            or node in getattr(sim, "extra_peers", []))


def resolve(sim: SimNode, target: str, fault: FaultAction) -> list[Channel]:
    if target == "all":
        return [c for c in sim.channels if not _faulted(c, fault)]
    if re.fullmatch(r"0[23][0-9a-fA-F]{64}", target) and _known_peer(sim, target.lower()):
        chans = [c for c in sim.channels if c.peer == target.lower() and not _faulted(c, fault)]
        if not chans:
            raise ClnError(LIGHTNINGD, "Could not find any active channels of peer with that id")
        return chans
    if re.fullmatch(r"[0-9a-fA-F]{64}", target):
        found = next((c for c in sim.channels if channel_id(c.txid, c.vout) == target.lower()), None)
        if found is None:
            raise bad_param("id", "Channel id not found")
    elif re.fullmatch(r"\d+x\d+x\d+", target):
        found = next((c for c in sim.channels if scid(c.chan_id) == target), None)
        if found is None:
            raise bad_param("id", "Short channel id not found")
    else:
        raise bad_param("id", "should be a channel ID or short channel ID")
    if _faulted(found, fault):
        raise bad_param("id", f"Channel in state {FAULT_STATE}")
    return [found]


def _apply(sim: SimNode, c: Channel, base: int | None, ppm: int | None, htlcmin: int | None, htlcmax: int | None,
           delay: int, ignore_fee_limits: bool | None, fault: FaultAction) -> dict:
    old = c.policy
    new_min, new_max = old.min_htlc_msat, old.max_htlc_msat
    warn_min = warn_max = False
    if htlcmin is not None:
        floor = max(PEER_HTLC_MINIMUM_MSAT, fault.htlcmin_floor_msat or 0)
        warn_min = htlcmin < floor
        new_min = floor if warn_min else htlcmin
    if htlcmax is not None:
        ceiling = htlc_max_possible_msat(c)
        if fault.htlcmax_ceiling_msat is not None:
            ceiling = min(ceiling, fault.htlcmax_ceiling_msat)
        warn_max = htlcmax > ceiling
        new_max = ceiling if warn_max else htlcmax
    new_base = old.base_msat if base is None else base
    new_ppm = old.ppm if ppm is None else ppm
    if (new_base, new_ppm, new_min, new_max) != (old.base_msat, old.ppm, old.min_htlc_msat, old.max_htlc_msat):
        new = Policy(new_base, new_ppm, old.cltv, new_min, new_max, old.inbound_base_msat, old.inbound_ppm)
        sim.set_policy(c, new, source="setchannel", enforce_delay_s=delay)
    if ignore_fee_limits is not None:
        c.ignore_fee_limits = ignore_fee_limits
    p = c.policy
    out: dict = {"peer_id": c.peer, "channel_id": channel_id(c.txid, c.vout), "short_channel_id": scid(c.chan_id),
                 "fee_base_msat": p.base_msat, "fee_proportional_millionths": p.ppm,
                 "minimum_htlc_out_msat": p.min_htlc_msat}
    if warn_min:
        out["warning_htlcmin_too_low"] = "Set minimum_htlc_out_msat to minimum allowed by peer"
    out |= {"maximum_htlc_out_msat": p.max_htlc_msat, "ignore_fee_limits": c.ignore_fee_limits}
    if warn_max:
        out["warning_htlcmax_too_high"] = "Set maximum_htlc_out_msat to maximum possible in channel"
    return out


def setchannel(sim: SimNode, args: dict, raw_params: object, fault: FaultAction) -> dict:
    record: dict = {"time": int(sim.now), "params": raw_params}
    sim.setchannel_requests.append(record)
    try:
        targets = resolve(sim, args["id"], fault)
        if args["htlcmin"] is not None and args["htlcmax"] is not None and args["htlcmax"] < args["htlcmin"]:
            raise ClnError(LIGHTNINGD, "htlcmax cannot be less than htlcmin")
    except ClnError as err:
        record["error"] = err.message
        raise
    channels = [_apply(sim, c, args["feebase"], args["feeppm"], args["htlcmin"], args["htlcmax"],
                       args["enforcedelay"], args["ignorefeelimits"], fault) for c in targets]
    record["channels"] = channels
    return {"channels": channels}
