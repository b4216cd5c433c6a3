"""Failed forwards from LND's HTLC event stream (`GET /v2/router/htlcevents`), pure.

LND reports a forward that failed on our side only on this stream, never in the forwarding
history: a `link_fail_event` of event type FORWARD, with the outgoing channel, the amounts in
`info`, the wire failure and LND's `failure_detail` (INSUFFICIENT_BALANCE when our side of the
outgoing channel could not carry it). `forward_fail_event`s (failed further downstream, after it
left us) carry no amount and say nothing about our liquidity: they are not recorded.

The stream has no backlog: a subscription sees what happens after it. An event's identity is its
incoming channel and HTLC id (LND numbers every HTLC a channel adds) and its time, so an event
seen twice is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

# What "failed for lack of balance" means for the engine's `failed_out_*` (LNDg counts the same).
LIQUIDITY_FAILURE_DETAILS = ("INSUFFICIENT_BALANCE",)


@dataclass(frozen=True)
class LinkFailure:
    key: str  # the event's identity: incoming channel, incoming HTLC id, time
    ts_ns: int
    chan_id_out: str
    chan_id_in: str
    amount_msat: int  # what would have left through the outgoing channel
    wire_failure: str
    failure_detail: str

    @property
    def lack_of_balance(self) -> bool:
        return self.failure_detail in LIQUIDITY_FAILURE_DETAILS


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def link_failure(event: Mapping[str, Any]) -> Optional[LinkFailure]:
    """The failed forward one stream message reports, or None (any other event: a forward, a
    settle, the subscription's first message, a failure of our own payment or invoice)."""
    fail = event.get("link_fail_event")
    if not isinstance(fail, Mapping) or event.get("event_type") != "FORWARD":
        return None
    chan_out = str(event.get("outgoing_channel_id") or "0")
    if chan_out == "0":
        return None
    info = fail.get("info") if isinstance(fail.get("info"), Mapping) else {}
    chan_in = str(event.get("incoming_channel_id") or "0")
    ts_ns = _int(event.get("timestamp_ns"))
    return LinkFailure(
        key=f"{chan_in}:{_int(event.get('incoming_htlc_id'))}:{ts_ns}",
        ts_ns=ts_ns,
        chan_id_out=chan_out,
        chan_id_in=chan_in,
        amount_msat=_int(info.get("outgoing_amt_msat")),
        wire_failure=str(fail.get("wire_failure") or ""),
        failure_detail=str(fail.get("failure_detail") or ""),
    )
