"""SimNode: the whole simulated node (channels, policies, clock, traffic). No networking.

Create many from one loaded graph:

    g = load_graph()                      # cached per process
    sim = SimNode(g, seed=7, channels=16)
    sim.advance(hours=24)                 # deterministic traffic
    sim.state()                           # ground truth (what /sim/state serves)

Everything random is drawn from `random.Random` seeded with the seed (and,
for traffic, the step index), so the same seed and the same calls give the same
state.  The traffic RNG never looks at which strategy set the fees.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import time
from dataclasses import asdict, dataclass, field

from .events import FailedForward, Forward
from .faults import Faults
from .forward_log import ForwardLog
from .graph import Graph, fake_txid, h64, well_connected
from .regimes import CompetitorMoves, DemandShift, MissionControl, check_regime, daily_rhythm, plan_shifts
from .traffic import AmountBuckets, Market, TrafficParams, bucket_rates, build_market, poisson, weight

HALVING_HEIGHT, HALVING_TS = 840_000, 1_713_571_200  # anchor for block height ↔ time
BLOCK_SEC = 600
ANCHOR_SAT = 330
FEE_PER_KW, COMMIT_WEIGHT = 2500, 1116
COMMIT_FEE = FEE_PER_KW * COMMIT_WEIGHT // 1000
MIN_PEER_DEGREE = 40  # "well connected": at least this many active channels into it


def height_at(ts: float) -> int:
    return HALVING_HEIGHT + int((ts - HALVING_TS) // BLOCK_SEC)


def block_hash(height: int) -> str:
    return "00000000000000000001" + hashlib.sha256(f"block:{height}".encode()).hexdigest()[:44]


@dataclass
class Policy:
    base_msat: int
    ppm: int
    cltv: int
    min_htlc_msat: int
    max_htlc_msat: int
    inbound_base_msat: int = 0
    inbound_ppm: int = 0
    disabled: bool = False
    last_update: int = 0

    def fee_msat(self, amt_msat: int) -> int:
        return self.base_msat + self.ppm * amt_msat // 1_000_000

    def inbound_fee_msat(self, amt_msat: int) -> int:
        return self.inbound_base_msat + self.inbound_ppm * amt_msat // 1_000_000


@dataclass
class Channel:
    chan_id: int
    txid: str
    vout: int
    peer: str
    alias: str
    capacity: int  # sat
    local_msat: int
    remote_msat: int
    initiator: bool
    active: bool
    funding_height: int
    open_ts: int
    policy: Policy  # ours (outgoing toward the peer)
    peer_policy: Policy  # the peer's, toward us
    bias: float  # >0: peer is a net sink (our local balance drains), <0: a source
    demand: float  # D_P: demand to reach the peer through us, before the fee share
    source_size: float  # weight of the peer as the origin of forwards
    uptime_frac: float
    flap_count: int
    sent_sat_base: int
    recv_sat_base: int
    num_updates: int
    htlc_index: int = 0
    fwd_out: int = 0
    fwd_in: int = 0
    fwd_out_msat: int = 0
    fwd_in_msat: int = 0
    failed_out: int = 0  # lack of local balance on this (outgoing) channel
    failed_in: int = 0  # the peer lacked balance to send into us
    rejected_htlc_limits: int = 0
    revenue_msat: int = 0
    update_times: list[int] = field(default_factory=list)
    rates: list[float] | None = None  # cached expected forwards/h per amount bucket
    # gossip realism (README "How senders learn our policy"): what each sender class can know
    failed_fee: int = 0  # FEE_INSUFFICIENT: a sender offered the fee of a policy it believed, below ours
    fee_retries_won: int = 0  # ... of which the sender's retry (with the update from the error) came back through us
    gossip_ts: list[float] = field(default_factory=list)  # every update (the first entry = the initial policy)
    gossip_fee: list[tuple[int, int]] = field(default_factory=list)  # (base msat, ppm) of each
    relayed_ts: list[float] = field(default_factory=list)  # the updates CLN's per-direction budget relays
    relayed_fee: list[tuple[int, int]] = field(default_factory=list)
    tokens: float = 0.0  # CLN token bucket for our direction, as of tokens_ts
    tokens_ts: float = 0.0
    gossip_suppressed: int = 0
    # the previous policy, still accepted until old_policy_until (CLN's enforcedelay; LND's old_fee_grace_minutes)
    old_policy: Policy | None = None
    old_policy_until: float = float("-inf")
    ignore_fee_limits: bool = False  # CLN setchannel's flag (commitment feerates: no effect on routing)
    min_local_msat: int = 0  # lowest / highest local balance seen (CLN's min_to_us_msat / max_to_us_msat)
    max_local_msat: int = 0
    local_failed_in: int = 0  # HTLCs that came in on this channel and our node refused to forward (CLN counts them offered)
    local_failed_in_msat: int = 0

    @property
    def channel_point(self) -> str:
        return f"{self.txid}:{self.vout}"

    @property
    def reserve_sat(self) -> int:
        return max(354, self.capacity // 100)

    @property
    def commit_fee(self) -> int:
        return COMMIT_FEE if self.initiator else 0


_MARKETS: dict[tuple, Market] = {}


def _market(graph: Graph, peer: str, params: TrafficParams, buckets: AmountBuckets, us: str) -> Market:
    key = (graph.path, peer, params.tau_factor, params.tau_min_ppm, params.capacity_alpha, buckets)
    m = _MARKETS.get(key)
    if m is None:
        m = _MARKETS[key] = build_market(peer, graph.inbound.get(peer, []), params, buckets, us)
    return m


def node_key(seed: int) -> tuple[bytes, str]:
    """Deterministic secp256k1 key for our node (real point when coincurve exists)."""
    secret = hashlib.sha256(f"simnode-node-key:{seed}".encode()).digest()
    try:
        from coincurve import PrivateKey

        return secret, PrivateKey(secret).public_key.format(compressed=True).hex()
    except Exception:  # pragma: no cover - coincurve ships with LNbits
        return secret, "02" + hashlib.sha256(secret).hexdigest()


class SimNode:
    def __init__(
        self,
        graph: Graph,
        seed: int = 7,
        channels: int = 16,
        params: TrafficParams | None = None,
        start_ts: int | None = None,
        alias: str | None = None,
        min_peer_degree: int | None = None,
    ) -> None:
        self.graph = graph
        # peers are drawn from nodes with at least this many distinct channels into them
        self.min_peer_degree = MIN_PEER_DEGREE if min_peer_degree is None else min_peer_degree
        self.seed = seed
        self.params = params or TrafficParams()
        self.buckets = AmountBuckets.build(self.params)
        self.privkey, self.pubkey = node_key(seed)
        self.alias = alias or f"feepilot-sim-{seed}"
        self.color = "#3399ff"
        self.address = graph.node_address(self.pubkey)
        self.start_ts = int(start_ts if start_ts is not None else graph.snapshot_ts + 12 * 3600)
        self.step_sec = self.params.step_minutes * 60
        hist = int(self.params.history_days * 86400) // self.step_sec * self.step_sec
        self.origin_ts = self.start_ts - hist  # traffic is simulated from here
        self.now: float = float(self.origin_ts)
        self.steps_done = 0
        self.node_start_ts = self.start_ts - 30 * 86400  # for lifetime/uptime
        self.faults = Faults(seed)
        # "METHOD path" -> count of LND REST requests served, so tests can check
        # how many node calls a client makes.
        self.request_counts: dict[str, int] = {}
        # the same key -> bytes of the answers' bodies, counted by server.py (HTTP only; streams not counted)
        self.response_bytes: dict[str, int] = {}
        self.forwards: list[Forward] = []
        self.forward_log = ForwardLog()  # CLN's forwards table (settled and local failures, never trimmed)
        self.setchannel_requests: list[dict] = []  # CLN setchannel calls: params, answer or error
        self._fwd_ts: list[int] = []
        self._fee_cum: list[int] = [0]
        self.failed: list[FailedForward] = []
        self.policy_log: list[dict] = []
        self.chanpolicy_requests: list[dict] = []
        self.invoices: list[dict] = []
        self.invoice_events: list[dict] = []
        self.payments: list[dict] = []
        self.onchain_sat = 0
        self.channels: list[Channel] = []
        self.pending_open: list[dict] = []
        self.waiting_close: list[dict] = []
        self.force_closing: list[dict] = []
        self.closed: list[dict] = []
        self._build(channels)
        self._src_cache: tuple | None = None
        self._rate_cache: dict[tuple, list[float]] = {}
        self._init_regime()
        self.advance_to(self.start_ts)
        self.history_end_index = len(self.forwards)

    # ------------------------------------------------------------------ setup
    def _candidates(self) -> list[str]:
        return well_connected(self.graph, self.min_peer_degree)

    def _peer_typical_policy(self, peer: str) -> tuple[int, int, int]:
        g = self.graph
        ppms, bases, cltvs = [], [], []
        for i in g.node_edges.get(peer, ()):
            e = g.edges[i]
            pol = e.pol1 if e.node1 == peer else e.pol2
            if pol and not pol.disabled:
                ppms.append(pol.ppm)
                bases.append(pol.base_msat)
                cltvs.append(pol.cltv)
        if not ppms:
            return 1000, 100, 80
        ppms.sort()
        base = max(set(bases), key=bases.count)
        cltv = max(set(cltvs), key=cltvs.count)
        return base, ppms[len(ppms) // 2], max(cltv, 24)

    def _build(self, n: int) -> None:
        rng = random.Random(f"simnode-build:{self.seed}")
        g, p = self.graph, self.params
        cands = self._candidates()
        weights = [math.sqrt(len(g.inbound[c])) for c in cands]
        chosen: list[str] = []
        extra = 6  # pending open, waiting close, force closing, 2 closed, spare
        while len(chosen) < min(n + extra, len(cands)):
            pick = rng.choices(cands, weights=weights)[0]
            if pick not in chosen:
                chosen.append(pick)
        peers, others = chosen[:n], chosen[n:]
        h_now = height_at(self.start_ts)
        young = set(rng.sample(range(n), min(2, n)))
        # deliberate mis-pricing so a fee manager has work: index → multiplier
        mult_idx = rng.sample(range(n), min(4, n))
        special_mult = dict(zip(mult_idx, [6.0, 4.0, 0.05, 0.15]))
        depleted, full = (mult_idx[0], mult_idx[2]) if n >= 4 else (-1, -1)
        inbound_idx = set(rng.sample(range(n), min(2, n)))
        inactive_idx = n - 1 if n >= 3 else -1
        used_scids: set[int] = set()
        for i, peer in enumerate(peers):
            market = _market(g, peer, p, self.buckets, self.pubkey)
            cap = int(math.exp(rng.uniform(math.log(1e6), math.log(1e7))) // 100_000 * 100_000)
            age_days = rng.uniform(1, 2) if i in young else rng.uniform(20, 700)
            fheight = h_now - int(age_days * 144)
            while True:
                cid = (fheight << 40) | (rng.randrange(1, 3500) << 16) | rng.randrange(0, 2)
                if cid not in used_scids and cid not in g.edge_index:
                    used_scids.add(cid)
                    break
            initiator = rng.random() < 0.8
            usable = cap * 1000 - (COMMIT_FEE + 2 * ANCHOR_SAT) * 1000 * initiator
            frac = 0.02 if i == depleted else 0.97 if i == full else rng.uniform(0.15, 0.85)
            local = int(usable * frac) // 1000 * 1000
            med = max(market.median_ppm, 1.0)
            mult = special_mult.get(i, math.exp(rng.gauss(0.0, 0.6)))
            ppm = int(min(5000, max(0, round(med * mult))))
            base = rng.choice([0, 0, 0, 1000, 1000, 500, 1])
            cltv = rng.choice([40, 80, 80, 144])
            inb_ppm = -rng.choice([25, 50, 100]) if i in inbound_idx else 0
            pbase, pppm, pcltv = self._peer_typical_policy(peer)
            open_ts = self.start_ts - int(age_days * 86400)
            lu = self.start_ts - rng.randrange(3600, 20 * 86400 if age_days > 20 else 3600 * 12)
            active = i != inactive_idx
            sink = rng.uniform(-p.bias_max, p.bias_max)
            size = min(2.5, max(0.5, (sum(c.capacity for c in g.inbound.get(peer, [])) / 1e10) ** p.size_exponent))
            age_factor = min(1.0, age_days / 365)
            ch = Channel(
                chan_id=cid,
                txid=fake_txid(f"ours:{self.seed}:{i}"),
                vout=cid & 0xFFFF,
                peer=peer,
                alias=g.aliases.get(peer, ""),
                capacity=cap,
                local_msat=local,
                remote_msat=usable - local,
                initiator=initiator,
                active=active,
                funding_height=fheight,
                open_ts=open_ts,
                policy=Policy(base, ppm, cltv, 1000, cap * 990, 0, inb_ppm, not active, lu),
                peer_policy=Policy(pbase, pppm, pcltv, 1000, cap * 990, 0, 0, not active, lu - 777),
                bias=sink,
                demand=size * (1 + sink),
                source_size=size * (1 - sink),
                uptime_frac=rng.uniform(0.93, 1.0) if active else rng.uniform(0.3, 0.6),
                flap_count=rng.choice([0, 0, 1, 2, 3, 14]),
                sent_sat_base=int(cap * rng.uniform(0, 8) * age_factor),
                recv_sat_base=int(cap * rng.uniform(0, 8) * age_factor),
                num_updates=int(rng.uniform(0, 40000) * age_factor),
            )
            self.channels.append(ch)
        self.channels.sort(key=lambda c: c.chan_id)
        for c in self.channels:  # every sender knows the initial policy; the CLN bucket starts full
            c.min_local_msat = c.max_local_msat = c.local_msat
            fee = (c.policy.base_msat, c.policy.ppm)
            c.gossip_ts, c.gossip_fee, c.relayed_ts, c.relayed_fee = [-1.0], [fee], [-1.0], [fee]
            c.tokens, c.tokens_ts = p.gossip_bucket_max, float(self.origin_ts)
        self._build_inactive_sets(rng, others, h_now)
        self.onchain_sat = rng.randrange(500_000, 5_000_000)

    def _build_inactive_sets(self, rng: random.Random, others: list[str], h_now: int) -> None:
        """One pending open, one waiting close, one force closing, two closed channels."""
        g = self.graph
        def pc(tag: str, peer: str, cap: int, local: int) -> dict:
            return {
                "peer": peer, "alias": g.aliases.get(peer, ""), "txid": fake_txid(f"{tag}:{self.seed}"),
                "vout": rng.randrange(0, 2), "capacity": cap, "local": local, "remote": cap - local - (COMMIT_FEE + 660 if local else 0),
            }
        o = (others + [c.peer for c in self.channels])[:5]
        self.pending_open.append(pc("pending-open", o[0], 2_000_000, 2_000_000 - COMMIT_FEE - 660) | {"remote": 0, "conf_height": 0})
        wc = pc("waiting-close", o[1], 3_000_000, 1_200_000)
        self.waiting_close.append(wc | {"closing_txid": fake_txid(f"wc-close:{self.seed}")})
        fc = pc("force-closing", o[2], 1_500_000, 600_000)
        self.force_closing.append(fc | {"closing_txid": fake_txid(f"fc-close:{self.seed}"), "maturity_height": h_now + 120})
        for j, (ctype, peer) in enumerate([("COOPERATIVE_CLOSE", o[3]), ("REMOTE_FORCE_CLOSE", o[4])]):
            cap = 1_000_000 * (j + 2)
            close_h = h_now - rng.randrange(200, 5000)
            open_h = close_h - rng.randrange(2000, 30000)
            cid = (open_h << 40) | (rng.randrange(1, 3000) << 16)
            self.closed.append({
                "peer": peer, "txid": fake_txid(f"closed{j}:{self.seed}"), "vout": 0, "chan_id": cid,
                "capacity": cap, "close_height": close_h, "close_type": ctype,
                "settled": cap // 3, "closing_txid": fake_txid(f"closed{j}-tx:{self.seed}"),
                "close_initiator": "INITIATOR_LOCAL" if j == 0 else "INITIATOR_REMOTE",
            })

    # ------------------------------------------------------------------ regimes
    def _init_regime(self) -> None:
        """The market regime (simnode/regimes.py): its state, built from the seed only."""
        self.regime = check_regime(self.params.regime)
        self.mc = MissionControl(self.params, self.buckets) if self.regime == "mission_control" else None
        self.comp: CompetitorMoves | None = None
        if self.regime == "competitors_move":
            markets = {c.peer: (_market(self.graph, c.peer, self.params, self.buckets, self.pubkey),
                                [k for k in self.graph.inbound.get(c.peer, []) if k.source != self.pubkey])
                       for c in self.channels}
            self.comp = CompetitorMoves(markets, self.params, self.buckets, self.seed, self.start_ts)
        active = [i for i, c in enumerate(self.channels) if c.active]
        self.shifts: list[DemandShift] = (plan_shifts(self.params, self.seed, self.start_ts, active)
                                          if self.regime == "demand_shifts" else [])
        self._shift_next = 0
        self.shift_log: list[dict] = []

    def _mkt(self, peer: str) -> Market:
        """The market into `peer` now: the snapshot's, or the one competitors moved to."""
        if self.comp is not None and peer in self.comp.markets:
            return self.comp.markets[peer]
        return _market(self.graph, peer, self.params, self.buckets, self.pubkey)

    def _regime_tick(self, t0: float) -> None:
        """Apply the regime's timed events due by t0 (they depend on time only, never on our fees)."""
        if self.comp is not None:
            changed = self.comp.advance_to(t0)
            if changed:
                self._rate_cache.clear()
                for c in self.channels:
                    if c.peer in changed:
                        c.rates = None
        while self._shift_next < len(self.shifts) and self.shifts[self._shift_next].at <= t0:
            self._apply_shift(self.shifts[self._shift_next])
            self._shift_next += 1

    def _apply_shift(self, s: DemandShift) -> None:
        ch = self.channels[s.chan_index]
        size = (ch.demand + ch.source_size) / 2  # demand = size(1+b), source_size = size(1-b)
        before = {"bias": round(ch.bias, 6), "demand": round(ch.demand, 6), "source_size": round(ch.source_size, 6)}
        if s.kind == "flip":
            ch.bias = -ch.bias
        else:
            size *= s.factor
        ch.demand, ch.source_size = size * (1 + ch.bias), size * (1 - ch.bias)
        ch.rates = None
        self._src_cache = None
        self.shift_log.append({"time": s.at, "chan_id": str(ch.chan_id), "kind": s.kind, "factor": s.factor,
                               "before": before, "after": {"bias": round(ch.bias, 6), "demand": round(ch.demand, 6),
                                                           "source_size": round(ch.source_size, 6)}})

    def regime_state(self) -> dict:
        out: dict = {"name": self.regime}
        if self.mc is not None:
            out["mission_control"] = self.mc.describe(self.now)
        if self.comp is not None:
            out["competitors"] = self.comp.describe()
        if self.regime == "demand_shifts":
            out["rhythm_now"] = round(daily_rhythm(self.now, self.params), 6)
            out["shifts_planned"] = [{"time": s.at, "chan_id": str(self.channels[s.chan_index].chan_id),
                                      "kind": s.kind, "factor": s.factor} for s in self.shifts]
            out["shifts_applied"] = self.shift_log
        return out

    # ------------------------------------------------------------------ lookup
    def channel(self, chan_id: int) -> Channel | None:
        for c in self.channels:
            if c.chan_id == chan_id:
                return c
        return None

    def channel_by_point(self, txid: str, vout: int) -> Channel | None:
        for c in self.channels:
            if c.txid == txid and c.vout == vout:
                return c
        return None

    def pending_by_point(self, txid: str, vout: int) -> dict | None:
        for p in self.pending_open + self.waiting_close + self.force_closing:
            if p["txid"] == txid and p["vout"] == vout:
                return p
        return None

    @property
    def block_height(self) -> int:
        return height_at(self.now)

    # ------------------------------------------------------------------ policy
    def set_policy(self, ch: Channel, new: Policy, source: str = "api", enforce_delay_s: float | None = None) -> None:
        """Apply a policy (each face decides its own API's semantics); count gossip updates.

        How long the previous policy stays acceptable to senders differs per implementation:
        `enforce_delay_s=None` is LND's rule (at once, or `old_fee_grace_minutes` after any update);
        a number is CLN setchannel's `enforcedelay`: only an update that makes the policy stricter
        (fee up, htlc minimum up, htlc maximum down) keeps the old one, for that many seconds, and
        only that one (CLN remembers a single previous policy)."""
        old = ch.policy
        self._keep_old_policy(ch, old, new, enforce_delay_s)
        ts = int(self.now)
        new.last_update = ts if ts > old.last_update else old.last_update + 1
        new.disabled = old.disabled
        ch.policy = new
        ch.rates = None
        self._src_cache = None
        ch.update_times.append(new.last_update)
        relayed = self._gossip(ch, new)
        self.policy_log.append({
            "time": new.last_update, "chan_id": str(ch.chan_id), "source": source,
            "old": asdict(old), "new": asdict(new), "relayed": relayed,
        })

    def _keep_old_policy(self, ch: Channel, old: Policy, new: Policy, enforce_delay_s: float | None) -> None:
        if enforce_delay_s is None:  # LND: the new policy alone holds from now (or the configured grace)
            grace = self.params.old_fee_grace_minutes * 60
            ch.old_policy, ch.old_policy_until = (old, self.now + grace) if grace > 0 else (None, float("-inf"))
            return
        stricter = (new.base_msat > old.base_msat or new.ppm > old.ppm or new.min_htlc_msat > old.min_htlc_msat
                    or new.max_htlc_msat < old.max_htlc_msat)
        if stricter:
            ch.old_policy, ch.old_policy_until = old, self.now + enforce_delay_s

    def _tokens_now(self, ch: Channel) -> float:
        p = self.params
        return min(p.gossip_bucket_max, ch.tokens + (self.now - ch.tokens_ts) / 3600 * p.gossip_tokens_per_hour)

    def _gossip(self, ch: Channel, new: Policy) -> bool:
        """Record the update for the senders; CLN's token bucket decides whether it is relayed."""
        p = self.params
        tokens = self._tokens_now(ch)
        relayed = tokens >= p.gossip_update_cost - 1e-9
        ch.tokens, ch.tokens_ts = tokens - p.gossip_update_cost if relayed else tokens, self.now
        fee = (new.base_msat, new.ppm)
        ch.gossip_ts.append(self.now)
        ch.gossip_fee.append(fee)
        if relayed:
            ch.relayed_ts.append(self.now)
            ch.relayed_fee.append(fee)
        else:
            ch.gossip_suppressed += 1
        return relayed

    def _believed(self, ch: Channel, t0: float) -> list[tuple[tuple[int, int], float]] | None:
        """(base, ppm) the senders believe at t0 with their share of demand; None = all know ours."""
        p = self.params
        current = (ch.policy.base_msat, ch.policy.ppm)
        if not p.gossip_realism or len(ch.gossip_ts) == 1:
            return None
        groups: dict[tuple[int, int], float] = {}
        limited = min(1.0, max(0.0, p.gossip_limited_share))
        for share, times, fees in ((1.0 - limited, ch.gossip_ts, ch.gossip_fee),
                                   (limited, ch.relayed_ts, ch.relayed_fee)):
            if share <= 0:
                continue
            for lag, w in zip(p.gossip_lag_minutes, p.gossip_lag_weights):
                fee = fees[max(0, bisect.bisect_right(times, t0 - lag * 60) - 1)]
                groups[fee] = groups.get(fee, 0.0) + share * w
        if len(groups) == 1:
            fee = next(iter(groups))
            return None if fee == current else [(fee, 1.0)]
        total = sum(groups.values())
        return [(fee, w / total) for fee, w in groups.items()]

    def _rates_for(self, ch: Channel, fee: tuple[int, int]) -> list[float]:
        if fee == (ch.policy.base_msat, ch.policy.ppm):
            return self._rates(ch)
        key = (ch.chan_id, fee, ch.demand, ch.capacity)
        r = self._rate_cache.get(key)
        if r is None:
            m = self._mkt(ch.peer)
            r = self._rate_cache[key] = bucket_rates(m, ch.demand, ch.capacity, fee[0], fee[1], self.params, self.buckets)
        return r

    # ------------------------------------------------------------------ time
    def advance(self, hours: float = 0.0, seconds: float = 0.0) -> int:
        """Move the clock forward; returns the number of whole steps simulated."""
        return self.advance_to(self.now + hours * 3600 + seconds)

    def advance_to(self, ts: float) -> int:
        if ts > self.now:
            self.now = ts
        target = int((self.now - self.origin_ts) // self.step_sec)
        n = 0
        while self.steps_done < target:
            self._step(self.steps_done)
            self.steps_done += 1
            n += 1
        return n

    def _rates(self, ch: Channel) -> list[float]:
        if ch.rates is None:
            m = self._mkt(ch.peer)
            ch.rates = bucket_rates(m, ch.demand, ch.capacity, ch.policy.base_msat, ch.policy.ppm, self.params, self.buckets)
        return ch.rates

    def _sources(self) -> tuple[list[Channel], list[float]]:
        if self._src_cache is None:
            act = [c for c in self.channels if c.active]
            ws = []
            for c in act:
                m = self._mkt(c.peer)
                typical = self.params.amount_median_sat * 1000
                inb = c.policy.inbound_fee_msat(int(typical)) * 1e6 / typical
                ws.append(c.source_size * weight(c.capacity, self.params.capacity_alpha) * math.exp(-max(-3.0, min(3.0, inb / m.tau))))
            self._src_cache = (act, ws)
        return self._src_cache

    def _step(self, k: int) -> None:
        rng = random.Random(f"simnode-traffic:{self.seed}:{k}")
        t0 = self.origin_ts + k * self.step_sec
        dt_h = self.step_sec / 3600
        self._regime_tick(t0)
        act, src_w = self._sources()
        if len(act) < 2:
            return
        # demand_shifts: the hour's share of the day's demand (×1.0 otherwise, which leaves every draw as it was)
        scale = daily_rhythm(t0 + self.step_sec / 2, self.params) if self.regime == "demand_shifts" else 1.0
        # mission_control: which sender class sends each forward comes from its own RNG, not the traffic stream
        mrng = random.Random(f"simnode-mc:{self.seed}:{k}") if self.mc is not None else None
        draws: list[tuple[float, int, int, Channel, int, tuple[int, int] | None, int]] = []
        for c in act:
            if c.policy.disabled:
                continue
            penalty = self.mc.bucket_factors(c.chan_id, t0) if self.mc is not None else None
            believed = self._believed(c, t0)
            if believed is None:  # every sender prices our channel at its current policy
                rates = self._offered_rates(self._rates(c), penalty)
                total = sum(rates)
                for j in range(poisson(rng, total * dt_h * scale)):
                    b = rng.choices(range(len(rates)), weights=rates)[0]
                    draws.append((rng.random(), 0, j, c, b, None, self._sender_class(mrng, b, penalty)))
                continue
            for g, (fee, share) in enumerate(believed):  # senders route by the fee they believe
                rates = self._offered_rates(self._rates_for(c, fee), penalty)
                for j in range(poisson(rng, sum(rates) * share * dt_h * scale)):
                    b = rng.choices(range(len(rates)), weights=rates)[0]
                    draws.append((rng.random(), g, j, c, b, fee, self._sender_class(mrng, b, penalty)))
        draws.sort(key=lambda d: (d[0], d[3].chan_id, d[1], d[2]))
        grng = random.Random(f"simnode-gossip:{self.seed}:{k}")  # retries only: the demand stream is untouched
        for off, _, _, out, b, fee, cls in draws:
            amt = self.buckets.sample(rng, b)
            while True:
                inc = rng.choices(act, weights=src_w)[0]
                if inc is not out:
                    break
            ts_ns = t0 * 1_000_000_000 + int(off * self.step_sec * 1e9)
            self._forward(ts_ns, inc, out, amt, b, fee, grng, cls)

    @staticmethod
    def _offered_rates(rates: list[float], penalty: tuple[list[float], dict] | None) -> list[float]:
        """The demand senders still offer per amount bucket after mission-control penalties."""
        if penalty is None:
            return rates
        return [r * f for r, f in zip(rates, penalty[0])]

    def _sender_class(self, mrng: random.Random | None, bucket: int, penalty: tuple[list[float], dict] | None) -> int:
        if self.mc is None or mrng is None:
            return -1
        return self.mc.draw_class(mrng, bucket, penalty[1] if penalty is not None else None)

    def _offered_fee(self, inc: Channel, out: Channel, amt: int, bucket: int, believed: tuple[int, int] | None,
                     ts_ns: int, grng: random.Random | None) -> int | None:
        """Fee the HTLC pays us: the believed policy's (an overpayment is kept, as LND does); below
        ours it fails FEE_INSUFFICIENT and the sender may retry once with our policy from the error."""
        pol = out.policy
        required = pol.fee_msat(amt)
        if believed is None or believed == (pol.base_msat, pol.ppm):
            return required
        offered = believed[0] + believed[1] * amt // 1_000_000
        if offered >= required:
            return offered
        p = self.params
        if self._old_policy_accepts(out, ts_ns) and offered >= out.old_policy.fee_msat(amt):
            return offered
        out.failed_fee += 1
        inc.htlc_index += 1
        failed = FailedForward(ts_ns, inc.chan_id, out.chan_id, amt, "FEE_INSUFFICIENT", inc.htlc_index - 1)
        self.failed.append(failed)
        self._log_local_failure(failed, inc, amt + max(0, offered + inc.policy.inbound_fee_msat(amt + offered)))
        if grng is None or grng.random() >= p.fee_retry_share:
            return None
        # The retry re-runs route choice with our real fee: it comes back to us with probability
        # share(real fee) / share(believed fee) for this amount (a dearer fee loses share).
        mine, theirs = self._rates(out)[bucket], self._rates_for(out, believed)[bucket]
        if theirs <= 0 or grng.random() >= mine / theirs:
            return None
        out.fee_retries_won += 1
        return required

    def _forward(self, ts_ns: int, inc: Channel, out: Channel, amt: int, bucket: int = 0,
                 believed: tuple[int, int] | None = None, grng: random.Random | None = None, cls: int = -1) -> None:
        pol = out.policy
        if amt > pol.max_htlc_msat or amt < pol.min_htlc_msat:
            old = out.old_policy
            if not (self._old_policy_accepts(out, ts_ns) and old.min_htlc_msat <= amt <= old.max_htlc_msat):
                out.rejected_htlc_limits += 1  # senders see our limits in gossip and route elsewhere
                return
        fee = self._offered_fee(inc, out, amt, bucket, believed, ts_ns, grng)
        if fee is None:  # FEE_INSUFFICIENT and the retry (if any) went elsewhere: a policy failure for MC
            if self.mc is not None and cls >= 0:
                self.mc.failure(out.chan_id, cls, ts_ns / 1e9, amt, fee_failure=True)
            return
        fee = max(0, fee + inc.policy.inbound_fee_msat(amt + fee))
        amt_in = amt + fee
        if amt > out.local_msat - out.reserve_sat * 1000:
            out.failed_out += 1
            inc.htlc_index += 1
            failed = FailedForward(ts_ns, inc.chan_id, out.chan_id, amt, "INSUFFICIENT_BALANCE", inc.htlc_index - 1)
            self.failed.append(failed)
            self._log_local_failure(failed, inc, amt_in)
            if self.mc is not None and cls >= 0:
                self.mc.failure(out.chan_id, cls, ts_ns / 1e9, amt, fee_failure=False)
            return
        if amt_in > inc.remote_msat - inc.reserve_sat * 1000:
            inc.failed_in += 1
            self.failed.append(FailedForward(ts_ns, inc.chan_id, out.chan_id, amt, "INCOMING_INSUFFICIENT"))
            return
        out.local_msat -= amt
        out.remote_msat += amt
        inc.remote_msat -= amt_in
        inc.local_msat += amt_in
        out.min_local_msat = min(out.min_local_msat, out.local_msat)
        inc.max_local_msat = max(inc.max_local_msat, inc.local_msat)
        inc.htlc_index += 1
        out.htlc_index += 1
        inc.num_updates += 2
        out.num_updates += 2
        out.fwd_out += 1
        out.fwd_out_msat += amt
        inc.fwd_in += 1
        inc.fwd_in_msat += amt_in
        out.revenue_msat += fee
        if self.mc is not None and cls >= 0:
            self.mc.success(out.chan_id, cls, amt)
        fwd = Forward(ts_ns, inc.chan_id, out.chan_id, amt_in, amt, fee, inc.htlc_index - 1, out.htlc_index - 1)
        self.forwards.append(fwd)
        self.forward_log.add_settled(fwd)
        self._fwd_ts.append(ts_ns)
        self._fee_cum.append(self._fee_cum[-1] + fee)

    @staticmethod
    def _old_policy_accepts(ch: Channel, ts_ns: int) -> bool:
        return ch.old_policy is not None and ts_ns / 1e9 <= ch.old_policy_until

    def _log_local_failure(self, failed: FailedForward, inc: Channel, in_msat: int) -> None:
        """A forward our node refused after the HTLC arrived (CLN's local_failed)."""
        self.forward_log.add_local_failure(failed, in_msat)
        inc.local_failed_in += 1
        inc.local_failed_in_msat += in_msat

    # ------------------------------------------------------------------ queries
    def forwards_between(self, start_ns: int, end_ns: int) -> tuple[int, int]:
        """Index range [lo, hi) of forwards with start_ns <= ts <= end_ns."""
        return bisect.bisect_left(self._fwd_ts, start_ns), bisect.bisect_right(self._fwd_ts, end_ns)

    def fee_sum_msat(self, seconds: int) -> int:
        now_ns = int(self.now) * 1_000_000_000
        lo, hi = self.forwards_between(now_ns - seconds * 1_000_000_000, now_ns)
        return self._fee_cum[hi] - self._fee_cum[lo]

    def revenue_between(self, from_s: int, to_s: int) -> dict:
        """Ground truth of the forwards in a window of whole seconds: those whose second
        (ts_ns // 10**9) is at least `from_s` and below `to_s`, node-wide and per outgoing
        channel (the one that earned the fee); volume is the sum of amt_out_msat // 1000."""
        lo = bisect.bisect_left(self._fwd_ts, from_s * 1_000_000_000)
        hi = bisect.bisect_left(self._fwd_ts, to_s * 1_000_000_000)
        per: dict[str, dict] = {}
        for f in self.forwards[lo:hi]:
            row = per.setdefault(str(f.chan_out), {"forwards": 0, "fees_msat": 0, "volume_out_sat": 0})
            row["forwards"] += 1
            row["fees_msat"] += f.fee_msat
            row["volume_out_sat"] += f.amt_out_msat // 1000
        return {
            "from": from_s, "to": to_s, "now": self.now,
            "forwards": hi - lo, "fees_msat": self._fee_cum[hi] - self._fee_cum[lo],
            "volume_out_sat": sum(row["volume_out_sat"] for row in per.values()),
            "channels": dict(sorted(per.items())),
        }

    def lifetime(self, ch: Channel) -> int:
        return max(0, int(self.now) - max(ch.open_ts, self.node_start_ts))

    def state(self, include_forwards: bool = False) -> dict:
        """Ground truth for tests and the benchmark (JSON-ready, deterministic)."""
        since = self.start_ts * 1_000_000_000
        chans = []
        for c in self.channels:
            chans.append({
                "chan_id": str(c.chan_id), "channel_point": c.channel_point, "peer": c.peer, "peer_alias": c.alias,
                "active": c.active, "capacity_sat": c.capacity, "local_msat": c.local_msat, "remote_msat": c.remote_msat,
                "funding_height": c.funding_height, "open_ts": c.open_ts,
                "policy": asdict(c.policy), "peer_policy": asdict(c.peer_policy),
                "old_policy": asdict(c.old_policy) if c.old_policy is not None else None,
                "old_policy_until": c.old_policy_until if c.old_policy is not None else None,
                "bias": round(c.bias, 6), "demand": round(c.demand, 6),
                "forwards_out": c.fwd_out, "forwards_in": c.fwd_in, "forwarded_out_msat": c.fwd_out_msat,
                "forwarded_in_msat": c.fwd_in_msat, "failed_out": c.failed_out, "failed_in": c.failed_in,
                "rejected_htlc_limits": c.rejected_htlc_limits, "revenue_msat": c.revenue_msat,
                "failed_fee": c.failed_fee, "fee_retries_won": c.fee_retries_won,
                "policy_updates": len(c.update_times), "policy_update_times": list(c.update_times),
                "gossip": {"relayed": len(c.relayed_ts) - 1, "suppressed": c.gossip_suppressed,
                           "tokens": round(self._tokens_now(c), 4),
                           "believed": [{"base_msat": f[0], "ppm": f[1], "share": round(w, 6)}
                                        for f, w in (self._believed(c, self.now) or [((c.policy.base_msat, c.policy.ppm), 1.0)])]},
                "market": self.market_info(c),
            })
        after = [f for f in self.forwards if f.ts_ns >= since]
        state = {
            "seed": self.seed, "node_id": self.pubkey, "alias": self.alias, "graph": self.graph.snapshot_date,
            "now": self.now, "start_ts": self.start_ts, "origin_ts": self.origin_ts, "block_height": self.block_height,
            "steps_done": self.steps_done, "params": self.params.to_dict(),
            "channels": chans,
            "totals": {
                "forwards": len(self.forwards), "forwards_since_start": len(after),
                "revenue_msat": self._fee_cum[-1], "revenue_since_start_msat": sum(f.fee_msat for f in after),
                "failed_forwards": len(self.failed),
                "failed_since_start": sum(1 for f in self.failed if f.ts_ns >= since),
                "failed_liquidity_since_start": sum(1 for f in self.failed if f.ts_ns >= since
                                                    and f.reason == "INSUFFICIENT_BALANCE"),
                "failed_fee_since_start": sum(1 for f in self.failed if f.ts_ns >= since
                                              and f.reason == "FEE_INSUFFICIENT"),
                "gossip_suppressed": sum(c.gossip_suppressed for c in self.channels),
                "policy_updates": len(self.policy_log),
            },
            "failed_forwards": [asdict(f) for f in self.failed],
            "policy_log": self.policy_log,
            "chanpolicy_requests": self.chanpolicy_requests,
            "setchannel_requests": self.setchannel_requests,
            "faults": self.faults.describe(),
            "regime": self.regime_state(),
            "requests": dict(sorted(self.request_counts.items())),
        }
        if include_forwards:
            state["forwards"] = [asdict(f) for f in self.forwards]
        return state

    def market_info(self, c: Channel) -> dict:
        m = self._mkt(c.peer)
        return {"competitors": m.competitors, "median_ppm": m.median_ppm, "tau_ppm": round(m.tau, 3),
                "expected_forwards_per_day": round(sum(self._rates(c)) * 24, 4)}

    # ------------------------------------------------------------------ invoices
    def add_invoice(self, value_msat: int, memo: str, preimage: bytes, expiry: int, private: bool,
                    description_hash: bytes = b"") -> dict:
        r_hash = hashlib.sha256(preimage).digest()
        add_index = len(self.invoices) + 1
        inv = {
            "memo": memo, "r_preimage": preimage, "r_hash": r_hash, "value_msat": value_msat,
            "creation_date": int(self.now), "settle_date": 0, "expiry": expiry or 86400,
            "private": private, "description_hash": description_hash, "add_index": add_index,
            "settle_index": 0, "state": "OPEN", "amt_paid_msat": 0,
            "payment_addr": hashlib.sha256(b"addr" + preimage).digest(),
        }
        inv["payment_request"] = self._bolt11(inv)
        self.invoices.append(inv)
        self.invoice_events.append(dict(inv))
        return inv

    def settle_invoice(self, r_hash: bytes) -> dict | None:
        for inv in self.invoices:
            if inv["r_hash"] == r_hash and inv["state"] == "OPEN":
                inv["state"] = "SETTLED"
                inv["settle_date"] = int(self.now)
                inv["amt_paid_msat"] = inv["value_msat"]
                inv["settle_index"] = 1 + sum(1 for i in self.invoices if i["settle_index"])
                self.invoice_events.append(dict(inv))
                return inv
        return None

    def _bolt11(self, inv: dict) -> str:
        try:
            from bolt11 import Bolt11, MilliSatoshi, encode
            from bolt11.models.tags import Tag, Tags
            from bolt11.types import TagChar

            tags = Tags([
                Tag(TagChar.payment_hash, inv["r_hash"].hex()),
                Tag(TagChar.payment_secret, inv["payment_addr"].hex()),
                Tag(TagChar.expire_time, inv["expiry"]),
                Tag(TagChar.min_final_cltv_expiry, 80),
            ])
            if inv["description_hash"]:
                tags.add(TagChar.description_hash, inv["description_hash"].hex())
            else:
                tags.add(TagChar.description, inv["memo"])
            b = Bolt11(currency="bc", date=inv["creation_date"], tags=tags,
                       amount_msat=MilliSatoshi(inv["value_msat"]) if inv["value_msat"] else None)
            return encode(b, self.privkey.hex())
        except Exception:
            return "lnbc1simnode" + inv["r_hash"].hex()

    # ------------------------------------------------------------------ forwarding history retention
    def delete_forwards_before(self, ts_ns: int) -> tuple[int, int]:
        """LND's DeleteForwardingHistory: drop the forwards at or before ts_ns from the log
        /v1/switch reads. (count, their fees in msat). The channels' counters stay: they are
        the node's state, not its log."""
        cut = bisect.bisect_right(self._fwd_ts, ts_ns)
        fees = self._fee_cum[cut] - self._fee_cum[0]
        del self.forwards[:cut], self._fwd_ts[:cut]
        self._fee_cum = [0]
        for f in self.forwards:
            self._fee_cum.append(self._fee_cum[-1] + f.fee_msat)
        self.history_end_index = max(0, self.history_end_index - cut)
        return cut, fees


def now_wall() -> int:
    return int(time.time())


__all__ = ["SimNode", "Channel", "Policy", "Forward", "FailedForward", "height_at", "block_hash", "h64"]
