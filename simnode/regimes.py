"""Named market regimes: what changes in the market around our node during a run.

`TrafficParams.regime` picks one (README "Market regimes" has the sources and the reasons):

* ``stationary`` (default): the model as it was — a fixed graph, fixed demand, senders without memory.
* ``mission_control``: senders remember failures on our channels (LND's default apriori estimator:
  a failed pair is avoided and recovers with a one-hour penalty half-life).
* ``competitors_move``: a share of the competing last hops into each peer re-price over time
  (a balance rule, a slow random walk, one step change per peer).
* ``demand_shifts``: a daily rhythm of demand over UTC hours and, mid-run, a change of some peers'
  demand size or direction.

Every regime is a rule of the market, not of the fee setter: its random draws come from RNGs keyed by
the seed (and step or peer), never from the traffic stream `simnode-traffic:<seed>:<step>`, and what
it reacts to (failures, time) is the same model for whoever sets the fees. Pure Python, no I/O.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from dataclasses import dataclass, replace

from .graph import Competitor
from .traffic import AmountBuckets, Market, TrafficParams, eff_ppm, weight

REGIMES = ("stationary", "mission_control", "competitors_move", "demand_shifts")
DAY = 86400


def check_regime(name: str) -> str:
    """The regime's name, or ValueError naming the known ones."""
    if name not in REGIMES:
        raise ValueError(f"unknown regime {name!r}: one of {', '.join(REGIMES)}")
    return name


# --- mission_control ------------------------------------------------------------------------------


class MissionControl:
    """Per (sender class, outgoing channel): the last failure's time and amount, LND-style.

    A class's demand for a channel is scaled by LND's apriori pair probability relative to an untried
    pair, ``1 − s·2^(−age/half_life)`` for amounts at or above the failed amount (LND penalises only
    amounts ≥ FailAmt), s = 1 for a liquidity failure and 0.5 for a fee failure (LND's half penalty
    for a policy failure). A later success above the failed amount lifts it, as LND does.
    """

    EXPIRE_HALF_LIVES = 20  # 2^-20 ≈ 1e-6: the penalty is gone, drop the entry

    def __init__(self, p: TrafficParams, buckets: AmountBuckets) -> None:
        self.classes = max(1, int(p.mc_sender_classes))
        self.half_life = max(1.0, p.mc_penalty_half_life_minutes * 60)
        self.half_penalty = p.mc_fee_failure_penalty
        self.reps = buckets.reps_msat
        # chan_id -> class -> [fail_ts, fail_amt_msat, scale, first bucket index at or above fail_amt]
        self.state: dict[int, dict[int, list[float]]] = {}
        self.failures_recorded = 0

    def _weights(self, chan_id: int, t: float) -> dict[int, tuple[float, int]] | None:
        """class -> (penalty weight now, first penalised bucket); None when nothing is penalised."""
        classes = self.state.get(chan_id)
        if not classes:
            return None
        out: dict[int, tuple[float, int]] = {}
        for g in list(classes):
            ts, _, scale, first = classes[g]
            age = max(0.0, t - ts)
            if age > self.EXPIRE_HALF_LIVES * self.half_life:
                del classes[g]
                continue
            out[g] = (scale * 2.0 ** (-age / self.half_life), int(first))
        return out or None

    def bucket_factors(self, chan_id: int, t: float) -> tuple[list[float], dict] | None:
        """Per amount bucket, the share of demand still offered (mean over classes); None = all of it."""
        w = self._weights(chan_id, t)
        if w is None:
            return None
        n = len(self.reps)
        diff = [0.0] * (n + 1)
        for pen, first in w.values():  # a class's penalty covers its bucket and every larger one
            diff[first] += pen
        out, acc = [], 0.0
        for b in range(n):
            acc += diff[b]
            out.append(max(0.0, 1.0 - acc / self.classes))
        return out, w

    def draw_class(self, rng: random.Random, bucket: int, w: dict | None) -> int:
        """The sender class of a forward in `bucket`, weighted by what each class still offers."""
        if w is None:
            return rng.randrange(self.classes)
        weights = [1.0 - w[g][0] if g in w and bucket >= w[g][1] else 1.0 for g in range(self.classes)]
        if sum(weights) <= 0:
            return rng.randrange(self.classes)
        return rng.choices(range(self.classes), weights=weights)[0]

    def failure(self, chan_id: int, cls: int, t: float, amt_msat: int, fee_failure: bool) -> None:
        scale = self.half_penalty if fee_failure else 1.0
        first = bisect.bisect_left(self.reps, amt_msat)  # buckets whose typical amount is >= the failed one
        self.state.setdefault(chan_id, {})[cls] = [t, float(amt_msat), scale, float(min(first, len(self.reps) - 1))]
        self.failures_recorded += 1

    def success(self, chan_id: int, cls: int, amt_msat: int) -> None:
        entry = self.state.get(chan_id, {}).get(cls)
        if entry is not None and amt_msat >= entry[1]:  # it carried more than failed: FailAmt moves above it
            entry[1] = float(amt_msat + 1)
            entry[3] = float(bisect.bisect_left(self.reps, entry[1]))  # may be len(reps): no bucket penalised

    def describe(self, t: float) -> dict:
        live = {str(cid): round(sum(pen for pen, _ in (self._weights(cid, t) or {}).values()) / self.classes, 6)
                for cid in sorted(self.state)}
        return {"failures_recorded": self.failures_recorded, "penalised_share": live}


# --- competitors_move -----------------------------------------------------------------------------


@dataclass
class _Mover:
    kind: str  # "balance" | "walk" | "step"
    ppm0: int
    ppm: int
    level: float  # balance: hidden local share; walk: log-ppm (float, so small steps accumulate)
    anchor: float  # balance: the share at which the fee equals ppm0
    weight: float
    base_msat: int


class CompetitorMoves:
    """Competing last hops into each of our peers that re-price on their own clock.

    Deterministic from the seed and time only: the movers, their rules and every draw come from
    `Random("simnode-competitors:<seed>:<peer>")`, events are processed in (time, peer, competitor)
    order at step boundaries, so every strategy's SimNode of one seed sees the same market.
    """

    def __init__(self, markets: dict[str, tuple[Market, list[Competitor]]], p: TrafficParams,
                 buckets: AmountBuckets, seed: int, start_ts: int) -> None:
        self.p, self.buckets = p, buckets
        self.peers = sorted(markets)
        self.markets: dict[str, Market] = {}
        self.static: dict[str, Market] = {}  # the snapshot's market per peer, for comparison
        self.sums: dict[str, list[float]] = {}
        self.movers: dict[str, dict[int, _Mover]] = {}
        self.rngs: dict[str, random.Random] = {}
        self.events: list[tuple[float, int, int]] = []  # (time, peer index, competitor index)
        self.log: list[dict] = []
        self.updates = 0
        for pi, peer in enumerate(self.peers):
            market, comps = markets[peer]
            self.markets[peer] = self.static[peer] = market
            self.sums[peer] = list(market.comp_sum)
            self.rngs[peer] = rng = random.Random(f"simnode-competitors:{seed}:{peer}")
            self.movers[peer] = self._choose(rng, comps, pi, start_ts)

    def _choose(self, rng: random.Random, comps: list[Competitor], pi: int, start_ts: int) -> dict[int, _Mover]:
        p = self.p
        movers: dict[int, _Mover] = {}
        step = -1
        if comps and p.comp_step_factors:  # one sizeable competitor (top 5 by weight) steps once, at a random time
            # among those charging >= 2 ppm, so that halving the fee changes it (many 2024 hops charge 0-1 ppm)
            priced = [i for i in range(len(comps)) if comps[i].ppm >= 2] or list(range(len(comps)))
            top = sorted(priced, key=lambda i: (-weight(comps[i].capacity, p.capacity_alpha), i))[:5]
            step = rng.choice(top)
            c = comps[step]
            movers[step] = _Mover("step", c.ppm, c.ppm, rng.choice(list(p.comp_step_factors)), 0.0,
                                  weight(c.capacity, p.capacity_alpha), c.base_msat)
            heapq.heappush(self.events, (start_ts + rng.uniform(0, p.regime_days) * DAY, pi, step))
        for i, c in enumerate(comps):
            r = rng.random()
            if i == step:
                continue
            w = weight(c.capacity, p.capacity_alpha)
            if r < p.comp_balance_share:
                anchor = rng.uniform(0.2, 0.8)
                movers[i] = _Mover("balance", c.ppm, c.ppm, anchor, anchor, w, c.base_msat)
                heapq.heappush(self.events, (start_ts + rng.uniform(0, p.comp_balance_hours * 3600), pi, i))
            elif r < p.comp_balance_share + p.comp_walk_share:
                movers[i] = _Mover("walk", c.ppm, c.ppm, math.log(max(c.ppm, 1)), 0.0, w, c.base_msat)
                heapq.heappush(self.events, (start_ts + rng.uniform(0, p.comp_walk_hours * 3600), pi, i))
        return movers

    def _new_ppm(self, rng: random.Random, m: _Mover) -> int:
        """The mover's next fee (a step mover has one event only: it is not rescheduled)."""
        p = self.p
        if m.kind == "balance":  # CLBOSS / feeadjuster's 50^(0.5 − share) around the fee it had
            m.level = min(1.0, max(0.0, m.level + rng.gauss(0.0, p.comp_balance_sigma)))
            return int(round(m.ppm0 * 50.0 ** (m.anchor - m.level)))
        if m.kind == "walk":
            lo, hi = math.log(max(m.ppm0, 1) / 4), math.log(max(m.ppm0, 1) * 4)
            m.level = min(hi, max(lo, m.level + rng.gauss(0.0, p.comp_walk_sigma)))
            return int(round(math.exp(m.level))) if m.ppm0 > 0 else 0
        return max(1, int(round(max(m.ppm0, 1) * m.level)))

    def _contribution(self, tau: float, m: _Mover, ppm: int) -> list[float]:
        return [m.weight * math.exp(-min(eff_ppm(m.base_msat, ppm, rep), 50 * tau) / tau) for rep in self.buckets.reps_msat]

    def advance_to(self, t: float) -> set[str]:
        """Apply every re-pricing due at or before t; the peers whose market changed."""
        changed: set[str] = set()
        p = self.p
        while self.events and self.events[0][0] <= t:
            ts, pi, i = heapq.heappop(self.events)
            peer = self.peers[pi]
            m = self.movers[peer][i]
            rng = self.rngs[peer]
            new = self._new_ppm(rng, m)
            if m.kind == "balance":
                heapq.heappush(self.events, (ts + p.comp_balance_hours * 3600, pi, i))
            elif m.kind == "walk":
                heapq.heappush(self.events, (ts + p.comp_walk_hours * 3600, pi, i))
            if new == m.ppm:
                continue
            tau = self.markets[peer].tau
            old_c, new_c = self._contribution(tau, m, m.ppm), self._contribution(tau, m, new)
            sums = self.sums[peer]
            for b in range(len(sums)):
                sums[b] = max(0.0, sums[b] + new_c[b] - old_c[b])
            self.log.append({"time": ts, "peer": peer, "competitor": i, "kind": m.kind, "old_ppm": m.ppm, "new_ppm": new})
            m.ppm = new
            self.updates += 1
            changed.add(peer)
        for peer in changed:
            self.markets[peer] = replace(self.markets[peer], comp_sum=tuple(self.sums[peer]))
        return changed

    def describe(self) -> dict:
        kinds: dict[str, int] = {}
        for movers in self.movers.values():
            for m in movers.values():
                kinds[m.kind] = kinds.get(m.kind, 0) + 1
        steps = [e for e in self.log if e["kind"] == "step"]
        return {"movers": dict(sorted(kinds.items())), "updates": self.updates, "steps": steps}


# --- demand_shifts --------------------------------------------------------------------------------


def daily_rhythm(t: float, p: TrafficParams) -> float:
    """Demand multiplier at unix time t: 1 + A·cos(2π(hour − peak)/24); its mean over a day is 1."""
    hour = (t % DAY) / 3600
    return 1.0 + p.rhythm_amplitude * math.cos(2 * math.pi * (hour - p.rhythm_peak_hour_utc) / 24)


@dataclass(frozen=True)
class DemandShift:
    at: float  # unix time
    chan_index: int  # index into the node's channels (sorted by chan_id)
    kind: str  # "flip" (direction bias b → −b) | "scale" (demand size × factor)
    factor: float


def plan_shifts(p: TrafficParams, seed: int, start_ts: int, active: list[int]) -> list[DemandShift]:
    """Which peers change mid-run and how: from `Random("simnode-shifts:<seed>")` only."""
    rng = random.Random(f"simnode-shifts:{seed}")
    at = start_ts + p.shift_at_fraction * p.regime_days * DAY
    chosen = rng.sample(active, min(p.shift_peers, len(active)))
    plan = []
    for idx in chosen:
        kind = rng.choice(("flip", "scale", "scale"))
        factor = rng.choice(p.shift_scale_factors) if kind == "scale" else -1.0
        plan.append(DemandShift(at, idx, kind, factor))
    return plan
