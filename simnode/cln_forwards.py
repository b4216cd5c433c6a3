"""CLN's listforwards over the node's forward log (lightningd/forwards.c, wallet.c of v25.12).

Statuses: `settled` (a Forward), `local_failed` (our node refused it after it arrived: no out HTLC,
no out_msat/fee, a failcode).  `offered` never shows (simnode settles within the step) and `failed`
never does (simnode does not model failures downstream of the peer).  Paging: `index=created` walks
rowids from `start`, `index=updated` the update counter; `in_channel`/`out_channel` select and ignore
index/limit, as the SQL of that branch does.
"""

from __future__ import annotations

from .cln_params import INVALID_PARAMS, ClnError
from .cln_shapes import chan_id_of, scid
from .events import FailedForward, Forward
from .node import SimNode

# BOLT 4 failure codes (UPDATE = 0x1000) and onion_wire_name() for the reasons our node fails a forward
FAILCODES = {
    "INSUFFICIENT_BALANCE": (0x1000 | 7, "WIRE_TEMPORARY_CHANNEL_FAILURE"),
    "FEE_INSUFFICIENT": (0x1000 | 12, "WIRE_FEE_INSUFFICIENT"),
}


def _seconds(ts_ns: int) -> float:
    """json_add_timeabs: seconds with three decimals."""
    return ts_ns // 1_000_000 / 1000


def forward_json(sim: SimNode, position: int) -> dict:
    log = sim.forward_log
    row = log.rows[position]
    out: dict = {"created_index": position + 1}
    updated = log.updated_index(position)
    if updated:
        out["updated_index"] = updated
    out |= {"in_channel": scid(row.chan_in), "in_htlc_id": row.in_htlc, "out_channel": scid(row.chan_out)}
    if isinstance(row, Forward):
        out |= {"out_htlc_id": row.out_htlc, "in_msat": row.amt_in_msat, "out_msat": row.amt_out_msat,
                "fee_msat": row.fee_msat, "status": "settled"}
    else:
        code, name = FAILCODES[row.reason]
        out |= {"in_msat": log.in_msat[position], "status": "local_failed", "failcode": code, "failreason": name}
    out |= {"style": "tlv", "received_time": _seconds(row.ts_ns)}
    if isinstance(row, Forward):
        out["resolved_time"] = _seconds(row.ts_ns)
    return out


def _status(row: Forward | FailedForward) -> str:
    return "settled" if isinstance(row, Forward) else "local_failed"


def listforwards(sim: SimNode, status: str | None, in_channel: str | None, out_channel: str | None,
                 index: str | None, start: int, limit: int | None) -> dict:
    if start and index is None:
        raise ClnError(INVALID_PARAMS, "Can only specify {start} with {index}")
    if limit is not None and index is None:
        raise ClnError(INVALID_PARAMS, "Can only specify {limit} with {index}")
    if (in_channel or out_channel) and start:
        raise ClnError(INVALID_PARAMS, "Cannot use start with in_channel or out_channel")
    log = sim.forward_log
    if in_channel or out_channel:
        want_in = chan_id_of(in_channel) if in_channel else None
        want_out = chan_id_of(out_channel) if out_channel else None
        positions = [i for i, r in enumerate(log.rows)
                     if (want_in is None or r.chan_in == want_in) and (want_out is None or r.chan_out == want_out)]
        limit = None
    elif index == "updated":
        positions = log.positions_by_updated(start)
    else:
        positions = range(max(0, start - 1), len(log))
    out = []
    for i in positions:
        if status is not None and _status(log.rows[i]) != status:
            continue
        if limit is not None and len(out) >= limit:
            break
        out.append(forward_json(sim, i))
    return {"forwards": out}
