"""What the engine knows about the node: immutable, backend-neutral, no I/O.

`node.py` (the shell) fills these from LND or CLN; the benchmark fills them from
simnode through the same parsers. Everything the engine decides can be reproduced
from a stored `NodeSnapshot`.

Conventions: amounts in sat unless the name ends in `_msat`; times are unix
seconds; a field that the backend could not provide is `None` (unknown), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple

ACTIVE = "active"
INACTIVE = "inactive"
PENDING = "pending"
CLOSED = "closed"
CHANNEL_STATES = (ACTIVE, INACTIVE, PENDING, CLOSED)

FLOW_WINDOWS_DAYS = (1, 7, 30)


@dataclass(frozen=True)
class Policy:
    """One direction's routing policy, complete, so a change can preserve it."""

    base_msat: int
    ppm: int
    cltv_delta: int
    min_htlc_msat: int
    max_htlc_msat: int
    disabled: bool = False
    inbound_base_msat: int = 0
    inbound_ppm: int = 0
    last_update: Optional[int] = None

    def with_fees(self, base_msat: int, ppm: int) -> "Policy":
        """The same policy with only the outbound fee fields replaced."""
        return Policy(
            base_msat=base_msat,
            ppm=ppm,
            cltv_delta=self.cltv_delta,
            min_htlc_msat=self.min_htlc_msat,
            max_htlc_msat=self.max_htlc_msat,
            disabled=self.disabled,
            inbound_base_msat=self.inbound_base_msat,
            inbound_ppm=self.inbound_ppm,
            last_update=self.last_update,
        )

    def fee_msat(self, amount_msat: int) -> int:
        return self.base_msat + amount_msat * self.ppm // 1_000_000


@dataclass(frozen=True)
class FlowStats:
    """Settled forwards through one channel over one window."""

    days: int
    forwards_out: int = 0  # forwards that left through this channel
    forwards_in: int = 0  # forwards that arrived through this channel
    volume_out_sat: int = 0
    volume_in_sat: int = 0
    fees_earned_msat: int = 0  # fees of forwards that left through this channel
    fees_assisted_msat: int = 0  # fees earned elsewhere on forwards that came in here


@dataclass(frozen=True)
class Channel:
    chan_id: str  # LND decimal chan_id or CLN channel_id
    short_id: str  # BLOCKxTXxOUT
    channel_point: str  # "<txid>:<n>"
    peer_id: str
    peer_alias: str
    state: str  # one of CHANNEL_STATES
    capacity_sat: int
    local_sat: int
    remote_sat: int
    private: bool = False
    initiator: Optional[bool] = None
    local_policy: Optional[Policy] = None  # our fees toward the peer
    peer_policy: Optional[Policy] = None  # the peer's fees toward us
    funding_height: Optional[int] = None  # from the short channel id
    uptime_s: Optional[int] = None  # LND: seconds the peer was online while monitored
    lifetime_s: Optional[int] = None  # LND: seconds monitored
    peer_online: Optional[bool] = None
    peer_flap_count: Optional[int] = None
    # window days -> stats; missing when forwarding history is unavailable
    flow: Mapping[int, FlowStats] = field(default_factory=dict)
    # forwards that failed on this outgoing channel for lack of local balance,
    # over the last day; None when the backend cannot tell
    failed_out_1d: Optional[int] = None
    failed_out_amount_1d_sat: Optional[int] = None

    @property
    def local_share(self) -> float:
        total = self.local_sat + self.remote_sat
        return self.local_sat / total if total > 0 else 0.0

    @property
    def is_active(self) -> bool:
        return self.state == ACTIVE


@dataclass(frozen=True)
class FailedOut:
    """A channel's failed outgoing forwards for lack of local balance in one window."""

    count: int = 0
    amount_sat: int = 0


@dataclass(frozen=True)
class GraphEdge:
    """A public channel of the network graph (LND ChannelEdge, CLN listchannels pair)."""

    channel_id: str
    node1: str  # lexicographically smaller node id (BOLT 7)
    node2: str
    capacity_sat: int
    policy1: Optional[Policy] = None  # node1 -> node2
    policy2: Optional[Policy] = None  # node2 -> node1


@dataclass(frozen=True)
class NetworkGraph:
    edges: Tuple[GraphEdge, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    # identifies this graph's content so derived metrics can be cached by it
    fingerprint: str = ""
    taken_at: int = 0


@dataclass(frozen=True)
class ChangeRecord:
    """A fee change made earlier to one of our channels (from the change log)."""

    chan_id: str
    at: int
    old_ppm: int
    new_ppm: int
    old_base_msat: int = 0
    new_base_msat: int = 0
    by_autopilot: bool = True


@dataclass(frozen=True)
class NodeSnapshot:
    node_id: str
    alias: str
    taken_at: int
    block_height: Optional[int]
    channels: Tuple[Channel, ...]
    graph: Optional[NetworkGraph] = None
    backend: str = ""
    # data source -> usable: "channels", "policies", "forwards", "graph", "peers", "failed_forwards"
    sources: Mapping[str, bool] = field(default_factory=dict)
    # why a source is unusable, for the operator
    source_errors: Mapping[str, str] = field(default_factory=dict)

    def channel(self, chan_id: str) -> Optional[Channel]:
        for channel in self.channels:
            if channel.chan_id == chan_id:
                return channel
        return None
