"""What happens to an HTLC at our node: a settled forward or a failed one (the node's records)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Forward:
    ts_ns: int
    chan_in: int
    chan_out: int
    amt_in_msat: int
    amt_out_msat: int
    fee_msat: int
    in_htlc: int
    out_htlc: int


@dataclass(frozen=True)
class FailedForward:
    ts_ns: int
    chan_in: int
    chan_out: int
    amt_out_msat: int
    reason: str  # INSUFFICIENT_BALANCE (ours, outgoing) | INCOMING_INSUFFICIENT (peer side) | FEE_INSUFFICIENT
    # the HTLC's id on the incoming channel (LND numbers every HTLC a channel adds, failed or not);
    # -1 when it never reached us (INCOMING_INSUFFICIENT: the peer could not send it)
    in_htlc: int = -1
