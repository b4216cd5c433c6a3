"""Routing-demand model: how many forwards each of our channels wins per hour.

Pure functions over the graph and our current policies; no state, no I/O.
The model (documented in README.md) in one paragraph:

* Payments that must reach peer P arrive at a rate proportional to P's
  demand weight D_P.  Every active channel x→P in the real graph is an
  alternative last hop; ours is one more.
* A payment of amount A picks a last hop with a capacity-weighted logit on the
  effective fee (ppm + base/A): share_c = w_c e^{-f_c/τ_P} / Σ_k w_k e^{-f_k/τ_P}
  with w = (capacity / 1 M sat)^α and τ_P tied to the competitors' median fee.
  Revenue f·share(f) therefore has an interior optimum near τ_P: neither
  "cheapest wins" nor "dearest earns" holds.
* Amounts are log-normal (median 50 k sat, σ 1.4), truncated to [1 k, 5 M] sat
  and discretised into log-spaced buckets so the competition sums are cached.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field

from .graph import Competitor


@dataclass
class TrafficParams:
    step_minutes: int = 10  # simulation step; traffic is drawn per whole step
    base_forwards_per_hour: float = 0.6  # a 1 M-weight channel priced like its market, D=1
    capacity_alpha: float = 0.5  # w = (capacity/1M)^α
    tau_factor: float = 0.8  # τ_P = max(tau_min_ppm, tau_factor · weighted median competitor ppm)
    tau_min_ppm: float = 25.0
    amount_median_sat: float = 50_000.0
    amount_sigma: float = 1.4
    amount_min_sat: int = 1_000
    amount_max_sat: int = 5_000_000
    amount_buckets: int = 12
    bias_max: float = 0.6  # peer direction bias b ∈ [-bias_max, bias_max]; b>0 = sink
    size_exponent: float = 0.25  # D_P ∝ (inbound capacity of P / 100 BTC)^size_exponent
    history_days: float = 14.0  # traffic simulated before the start so /v1/switch has history
    # --- how senders learn our policy (gossip realism; README "Gossip"; prior-art §3) -------------
    gossip_realism: bool = True  # False = every update reaches every sender at once (the old model)
    gossip_lag_minutes: tuple = (10.0, 60.0, 240.0)  # sender classes: how long until an update reaches them
    gossip_lag_weights: tuple = (0.5, 0.3, 0.2)  # share of senders (demand) in each lag class
    gossip_limited_share: float = 0.25  # senders that only learn updates the CLN budget relays
    gossip_tokens_per_hour: float = 1.0  # CLN gossipd token bucket per channel direction …
    gossip_update_cost: float = 12.0  # … tokens per relayed update …
    gossip_bucket_max: float = 48.0  # … bucket size (2 updates/day sustained, burst 4)
    fee_retry_share: float = 1.0  # senders that apply the channel_update from a FEE_INSUFFICIENT error and retry once
    old_fee_grace_minutes: float = 0.0  # we (LND) enforce a new fee at once; CLN would accept the old one 10 min
    # --- market regimes (README "Market regimes"; simnode/regimes.py) ------------------------------
    regime: str = "stationary"  # stationary | mission_control | competitors_move | demand_shifts
    regime_days: float = 30.0  # run length after the start that timed events fall in (mid-run shift, a step)
    mc_penalty_half_life_minutes: float = 60.0  # LND routerrpc.apriori.penaltyhalflife default (1 h)
    mc_sender_classes: int = 5  # senders with their own mission control, equal shares of demand (assumption)
    mc_fee_failure_penalty: float = 0.5  # a policy (fee) failure is LND's half penalty; a liquidity one is full
    comp_balance_share: float = 0.15  # competitors re-pricing by balance (CLBOSS/feeadjuster 50^(0.5-p)) ...
    comp_balance_hours: float = 12.0  # ... twice a day (CLN's relay budget) ...
    comp_balance_sigma: float = 0.1  # ... their hidden local share moving by N(0, σ) each time
    comp_walk_share: float = 0.15  # competitors whose ppm takes a slow random walk ...
    comp_walk_hours: float = 24.0  # ... once a day ...
    comp_walk_sigma: float = 0.1  # ... log-ppm step N(0, σ), kept within 1/4x..4x of the snapshot fee
    comp_step_factors: tuple = (0.5, 2.0)  # one top-5 competitor per peer halves or doubles its ppm once
    rhythm_amplitude: float = 0.3  # demand × (1 + A cos(2π(hour − peak)/24)) over UTC hours (assumption)
    rhythm_peak_hour_utc: float = 18.0
    shift_at_fraction: float = 0.5  # the mid-run change happens at this fraction of regime_days
    shift_peers: int = 3  # peers whose demand changes then: direction flipped (b → −b) or size scaled
    shift_scale_factors: tuple = (0.5, 2.0)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@dataclass(frozen=True)
class AmountBuckets:
    edges_msat: tuple[float, ...]  # len = n+1, log-spaced
    probs: tuple[float, ...]  # P(bucket), sums to 1
    reps_msat: tuple[float, ...]  # geometric midpoints

    @staticmethod
    def build(p: TrafficParams) -> "AmountBuckets":
        lo, hi = math.log(p.amount_min_sat * 1000), math.log(p.amount_max_sat * 1000)
        n = p.amount_buckets
        edges = [math.exp(lo + (hi - lo) * i / n) for i in range(n + 1)]
        mu = math.log(p.amount_median_sat * 1000)
        cdf = [_norm_cdf((math.log(e) - mu) / p.amount_sigma) for e in edges]
        total = cdf[-1] - cdf[0]
        probs = tuple((cdf[i + 1] - cdf[i]) / total for i in range(n))
        reps = tuple(math.sqrt(edges[i] * edges[i + 1]) for i in range(n))
        return AmountBuckets(tuple(edges), probs, reps)

    def sample(self, rng: random.Random, bucket: int) -> int:
        a, b = math.log(self.edges_msat[bucket]), math.log(self.edges_msat[bucket + 1])
        msat = math.exp(rng.uniform(a, b))
        return max(1000, int(msat) // 1000 * 1000)  # whole sats, like most payments


def weight(capacity_sat: int, alpha: float) -> float:
    return (max(capacity_sat, 1) / 1_000_000) ** alpha


def eff_ppm(base_msat: int, ppm: int, amt_msat: float) -> float:
    return ppm + base_msat * 1e6 / amt_msat


@dataclass(frozen=True)
class Market:
    """Static competition into one peer: cached per (graph, peer, params)."""

    peer: str
    tau: float
    n_eff: float  # Σ w_k of competitors
    comp_sum: tuple[float, ...]  # per bucket Σ w_k e^{-f_k/τ}
    median_ppm: float
    competitors: int


def weighted_median(values: list[tuple[float, float]]) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    total = sum(w for _, w in values)
    acc = 0.0
    for v, w in values:
        acc += w
        if acc >= total / 2:
            return v
    return values[-1][0]


def build_market(
    peer: str, comps: list[Competitor], p: TrafficParams, buckets: AmountBuckets, exclude: str
) -> Market:
    comps = [c for c in comps if c.source != exclude]
    ws = [weight(c.capacity, p.capacity_alpha) for c in comps]
    med = weighted_median([(float(c.ppm), w) for c, w in zip(comps, ws)])
    tau = max(p.tau_min_ppm, p.tau_factor * med)
    sums = []
    for rep in buckets.reps_msat:
        s = 0.0
        for c, w in zip(comps, ws):
            s += w * math.exp(-min(eff_ppm(c.base_msat, c.ppm, rep), 50 * tau) / tau)
        sums.append(s)
    return Market(peer, tau, sum(ws), tuple(sums), med, len(comps))


def bucket_rates(
    market: Market, demand: float, capacity_sat: int, base_msat: int, ppm: int,
    p: TrafficParams, buckets: AmountBuckets,
) -> list[float]:
    """Expected forwards per hour won by our channel, per amount bucket."""
    w = weight(capacity_sat, p.capacity_alpha)
    scale = p.base_forwards_per_hour * demand * (market.n_eff + w)
    out = []
    for prob, rep, comp in zip(buckets.probs, buckets.reps_msat, market.comp_sum):
        mine = w * math.exp(-min(eff_ppm(base_msat, ppm, rep), 50 * market.tau) / market.tau)
        share = mine / (mine + comp) if mine + comp > 0 else 0.0
        out.append(scale * prob * share)
    return out


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k
