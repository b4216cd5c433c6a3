"""Failed forwards from LND's HTLC event stream (`GET /v2/router/htlcevents`), pure.

LND reports a forward that failed on our side only on this stream, never in the forwarding
history: a `link_fail_event` of event type FORWARD, with the outgoing channel, the amounts in
`info`, the wire failure and LND's `failure_detail` (INSUFFICIENT_BALANCE when our side of the
outgoing channel could not carry it). A `forward_fail_event` (it left through our channel and failed
further along the route) names only the HTLC: `HtlcFailures` remembers the `forward_event` that sent
it, for its outgoing channel and amount, and records it as FAILED_DOWNSTREAM (nothing about our
liquidity: the engine's `failed_out_*` count only lack of our balance).

The stream has no backlog: a subscription sees what happens after it. An event's identity is its
incoming channel and HTLC id (LND numbers every HTLC a channel adds) and its time, so an event
seen twice is stored once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Optional

from .snapshot import ACTIVE, INACTIVE, Channel, FailedOut

# What "failed for lack of balance" means for the engine's `failed_out_*` (LNDg counts the same).
LIQUIDITY_FAILURE_DETAILS = ("INSUFFICIENT_BALANCE",)
FAILED_OUT_WINDOW_S = 86_400  # the snapshot's failed_out_* are the last 24 h
# Our name (LND gives none) for a forward that left through our channel and failed further along.
FAILED_DOWNSTREAM = "FAILED_DOWNSTREAM"
NS = 1_000_000_000


@dataclass(frozen=True)
class LinkFailure:
    key: str  # the event's identity: incoming channel, incoming HTLC id, time
    ts_ns: int
    chan_id_out: str
    chan_id_in: str
    amount_msat: int  # what would have left through the outgoing channel
    wire_failure: str
    failure_detail: str
    htlc_in: int = -1  # the incoming HTLC's id (in `key`)

    @property
    def lack_of_balance(self) -> bool:
        return self.failure_detail in LIQUIDITY_FAILURE_DETAILS

    @property
    def at(self) -> int:
        return self.ts_ns // NS


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
        htlc_in=_int(event.get("incoming_htlc_id")),
    )


class HtlcFailures:
    """The failed forwards one subscription's messages tell, in order: a `link_fail_event` is one at
    once; a `forward_fail_event` is one when the `forward_event` that sent that HTLC was seen on the
    same subscription (remembered until it settles or fails; at most `capacity` in flight, the
    oldest forgotten first)."""

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._sent: "OrderedDict[tuple[str, int], tuple[str, int]]" = OrderedDict()

    def observe(self, event: Mapping[str, Any]) -> Optional[LinkFailure]:
        if event.get("event_type") != "FORWARD":
            return None
        chan_in = str(event.get("incoming_channel_id") or "0")
        htlc = (chan_in, _int(event.get("incoming_htlc_id")))
        if isinstance(event.get("forward_event"), Mapping):
            info = event["forward_event"].get("info") if isinstance(event["forward_event"].get("info"), Mapping) else {}
            self._sent[htlc] = (str(event.get("outgoing_channel_id") or "0"), _int(info.get("outgoing_amt_msat")))
            self._sent.move_to_end(htlc)
            while len(self._sent) > self.capacity:
                self._sent.popitem(last=False)
            return None
        if "settle_event" in event:
            self._sent.pop(htlc, None)
            return None
        if "forward_fail_event" in event:
            sent = self._sent.pop(htlc, None)
            if sent is None or sent[0] == "0":
                return None
            ts_ns = _int(event.get("timestamp_ns"))
            return LinkFailure(key=f"{chan_in}:{htlc[1]}:{ts_ns}", ts_ns=ts_ns, chan_id_out=sent[0], chan_id_in=chan_in,
                               amount_msat=sent[1], wire_failure="", failure_detail=FAILED_DOWNSTREAM, htlc_in=htlc[1])
        return link_failure(event)


def failed_out_by_channel(failures: Iterable[LinkFailure], now: int,
                          window_s: int = FAILED_OUT_WINDOW_S) -> dict[str, FailedOut]:
    """Per outgoing channel, the forwards that failed for lack of local balance in
    [now - window_s, now] (the window LNDg's auto-fees count) and their amount in sat (msat summed,
    then floored). Other failures (fee, HTLC limits, the peer's side) are not missed demand for our
    balance. The shell sums the same rule in SQL over the failures it stored (htlc_listener.py)."""
    counts: dict[str, list[int]] = {}
    since = now - window_s
    for f in failures:
        if not f.lack_of_balance or not (since <= f.at <= now):
            continue
        row = counts.setdefault(f.chan_id_out, [0, 0])
        row[0] += 1
        row[1] += f.amount_msat
    return {chan: FailedOut(n, msat // 1000) for chan, (n, msat) in counts.items()}


def with_failed_out(channels: Iterable[Channel], failed: Mapping[str, FailedOut]) -> list[Channel]:
    """Channels with `failed_out_1d` / `failed_out_amount_1d_sat`: open channels without a failure
    get known zeros (the stream was heard), others keep what they have. Call it only when the
    failures of the whole window are known; otherwise the fields stay unknown (None)."""
    result = []
    for channel in channels:
        row = failed.get(channel.chan_id)
        if row is None and channel.state in (ACTIVE, INACTIVE):
            row = FailedOut()
        result.append(channel if row is None else
                      replace(channel, failed_out_1d=row.count, failed_out_amount_1d_sat=row.amount_sat))
    return result
