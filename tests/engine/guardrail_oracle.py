"""An independent oracle for the guardrails, for the property tests.

Written from the rules' definitions (README "Safety rules", engine/README.md
"Guardrails", the defaults and comments in engine/settings.py), computed from the
raw `ChangeRecord` list. It deliberately imports nothing from `engine.guardrails`,
`engine.history` or `engine.decisions`, so a rule that is missing or wrong there
is not missing or wrong here too. The rule names are spelled out (they are stored
and shown, so they must not change).

The definitions used:

- selection: a channel is untouched when its chan_id or short id is in
  `pinned_channels` or its override says `pinned`; its chan_id or short id is in
  `deny_channels`; its peer is in `deny_peers`; any allow list is non-empty and
  neither the channel (chan_id or short id) nor its peer is on one; `only_active`
  is set and the channel is not active;
- bounds: `new ppm` in [min_ppm, max_ppm] and `new base` in [min_base_msat,
  max_base_msat]; an override (keyed by chan_id, else by short id) replaces each
  bound it sets;
- max step: a change moves the ppm by at most min(max_step_ppm, max(max_step_pct x
  old ppm, step_floor_ppm)) — "bounds win over the step": further only as far as
  needed to bring a ppm from outside the bounds back in;
- no change: an accepted proposal changes the base fee or the ppm;
- min change: the ppm moves at least max(min_change_ppm, min_change_pct x old ppm),
  waived when the old policy (ppm or base) is outside the bounds;
- urgent: a change is urgent when urgent_share > 0, the channel has a balance, and it raises the
  ppm of a channel at or below urgent_share local, or lowers that of one at or above
  1 − urgent_share local; an urgent change's max step uses max(max_step_pct,
  urgent_max_step_pct) when urgent_max_step_pct > 0, and its cooldown is
  min(cooldown_hours, urgent_cooldown_hours);
- cooldown: no recorded change of this channel less than cooldown_hours ago (0: off);
- minimum spacing: no recorded change of this channel less than min_update_spacing_minutes ago
  (BOLT 7: nodes accept the previous fees for a while after an update);
- relay budget (Core Lightning gossipd's token bucket, per channel direction): the bucket
  holds at most relay_bucket_max tokens and is full at the channel's first record; it gains
  relay_tokens_per_hour tokens per hour elapsed (continuously, never above the most); every
  recorded change, ours or external, is an update: one that finds at least
  relay_tokens_per_update tokens is relayed and takes that many, one that finds fewer is not
  relayed and takes none; a new update is allowed only when the bucket holds at least
  relay_tokens_per_update tokens at `now` (relay_tokens_per_update 0: no budget);
- daily limit (max_updates_per_day 0: off): the changes of the last 24 h (a change exactly
  24 h ago is outside), plus this one, are at most max_updates_per_day;
- reversals: a change's direction is the sign of its ppm move (a base-only change
  has none and is skipped); a reversal is a change whose direction differs from
  the previous directed change, both inside the window (the last
  `reversal_window_days`); a change that would be a reversal is refused when the
  window already holds max_reversals of them;
- only the fee fields: every policy field other than base_msat and ppm is kept (the property tests
  here run with inbound management off, its default, so the inbound fields count as non-fee fields;
  the rules of managed inbound fees — `inbound_bounds`, `inbound_step` — have their own oracle in
  test_engine_inbound.py);
- a blocked proposal applies nothing but shows what the capping rules (max step, then
  bounds) give its request — the policy it would have had absent the block (issue 13:
  "588 → 441", the change the operator would get, not the uncapped request).

Records match a channel by chan_id or short id. Change times of one channel must be
distinct (the order of two changes in the same second is not defined by the
rules), see `channel_records`.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from engine.settings import EngineSettings
from engine.snapshot import Channel, ChangeRecord, Policy

DAY = 86_400
BLOCK_SECONDS = 600  # ~10 min a block: the channel's age from its funding height

PINNED = "pinned"
DENY_CHANNEL = "deny_channels"
DENY_PEER = "deny_peers"
ALLOW_LIST = "allow_list"
ONLY_ACTIVE = "only_active"
MAX_STEP = "max_step"
PPM_BOUNDS = "ppm_bounds"
BASE_BOUNDS = "base_bounds"
NO_CHANGE = "no_change"
MIN_CHANGE = "min_change"
COOLDOWN = "cooldown"
MIN_SPACING = "min_spacing"
RELAY_BUDGET = "relay_budget"
DAILY_LIMIT = "max_updates_per_day"
REVERSALS = "max_reversals"
ONLY_FEE_FIELDS = "only_fee_fields"
INBOUND_BOUNDS = "inbound_bounds"
INBOUND_STEP = "inbound_step"
MAX_PER_RUN = "max_changes_per_run"

# check()'s order (README): the first rule that applies is the proposal's blocked_by
ORDER = (PINNED, DENY_CHANNEL, DENY_PEER, ALLOW_LIST, ONLY_ACTIVE, MAX_STEP, PPM_BOUNDS, BASE_BOUNDS,
         NO_CHANGE, MIN_CHANGE, COOLDOWN, MIN_SPACING, RELAY_BUDGET, DAILY_LIMIT, REVERSALS, ONLY_FEE_FIELDS)
# violations() only, when an inbound fee changed (judged in test_engine_inbound.py)
INBOUND_RULES = (INBOUND_BOUNDS, INBOUND_STEP)
FEE_FIELDS = ("base_msat", "ppm")


def channel_ids(channel: Channel) -> Set[str]:
    return {i for i in (channel.chan_id, channel.short_id) if i}


def channel_records(history: Iterable[ChangeRecord], channel: Channel) -> List[ChangeRecord]:
    """This channel's records, oldest first; two in the same second are ambiguous."""
    ids = channel_ids(channel)
    mine = [r for r in history if r.chan_id in ids]
    times = [r.at for r in mine]
    if len(set(times)) != len(times):
        raise ValueError("two changes of one channel in the same second: their order is undefined")
    return sorted(mine, key=lambda r: r.at)


def bounds(channel: Channel, settings: EngineSettings) -> Tuple[int, int, int, int, bool]:
    """(min ppm, max ppm, min base, max base, pinned by override)."""
    g = settings.guardrails
    overrides = dict(g.channel_overrides or {})
    o = overrides.get(channel.chan_id)
    if o is None and channel.short_id:
        o = overrides.get(channel.short_id)

    def pick(name: str) -> int:
        value = getattr(o, name) if o is not None else None
        return getattr(g, name) if value is None else value

    return (pick("min_ppm"), pick("max_ppm"), pick("min_base_msat"), pick("max_base_msat"),
            bool(o is not None and o.pinned))


def selection_problems(channel: Channel, settings: EngineSettings) -> List[str]:
    g = settings.guardrails
    ids = channel_ids(channel)
    found = []
    if ids & set(g.pinned_channels) or bounds(channel, settings)[4]:
        found.append(PINNED)
    if ids & set(g.deny_channels):
        found.append(DENY_CHANNEL)
    if channel.peer_id in g.deny_peers:
        found.append(DENY_PEER)
    if (g.allow_channels or g.allow_peers) and not (ids & set(g.allow_channels) or channel.peer_id in g.allow_peers):
        found.append(ALLOW_LIST)
    if g.only_active and channel.state != "active":
        found.append(ONLY_ACTIVE)
    return found


def is_urgent(channel: Channel, direction: int, settings: EngineSettings) -> bool:
    ao = settings.anti_oscillation
    total = channel.local_sat + channel.remote_sat
    if ao.urgent_share <= 0 or total <= 0:
        return False
    share = channel.local_sat / total
    return (direction > 0 and share <= ao.urgent_share) or (direction < 0 and share >= 1 - ao.urgent_share)


def step_limit(old_ppm: int, settings: EngineSettings, urgent: bool = False) -> float:
    g = settings.guardrails
    pct = g.max_step_pct
    if urgent and settings.anti_oscillation.urgent_max_step_pct > 0:
        pct = max(pct, settings.anti_oscillation.urgent_max_step_pct)
    return min(g.max_step_ppm, max(pct * old_ppm, g.step_floor_ppm))


def min_change(old_ppm: int, settings: EngineSettings) -> float:
    ao = settings.anti_oscillation
    return max(ao.min_change_ppm, ao.min_change_pct * old_ppm)


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


def reversal_state(records: Sequence[ChangeRecord], now: int, settings: EngineSettings) -> Tuple[int, int]:
    """(reversals inside the window, direction of the last directed change inside it, 0 = none)."""
    start = now - settings.anti_oscillation.reversal_window_days * DAY
    directions = [sign(r.new_ppm - r.old_ppm) for r in records if r.at > start]
    directions = [d for d in directions if d != 0]
    flips = 0
    for i in range(1, len(directions)):
        if directions[i] != directions[i - 1]:
            flips += 1
    return flips, (directions[-1] if directions else 0)


def bucket_tokens(records: Sequence[ChangeRecord], now: int, settings: EngineSettings) -> Fraction:
    """The relay bucket at `now`, in exact arithmetic, walking the records as the rule says."""
    ao = settings.anti_oscillation
    most, per, rate = Fraction(ao.relay_bucket_max), Fraction(ao.relay_tokens_per_update), Fraction(ao.relay_tokens_per_hour)
    times = sorted(r.at for r in records) + [now]
    tokens = most
    for i, at in enumerate(times):
        if i:
            tokens = min(most, tokens + max(0, at - times[i - 1]) * rate / 3600)
        if i < len(times) - 1 and tokens >= per:  # a recorded update: relayed when affordable
            tokens -= per
    return tokens


def relayed(records: Sequence[ChangeRecord], now: int, settings: EngineSettings) -> bool:
    """Would CLN relay one more update of this channel at `now`?"""
    per = settings.anti_oscillation.relay_tokens_per_update
    return per == 0 or bucket_tokens(records, now, settings) >= Fraction(per)


def outside(policy: Policy, b: Tuple[int, int, int, int, bool]) -> bool:
    lo, hi, blo, bhi, _ = b
    return not (lo <= policy.ppm <= hi) or not (blo <= policy.base_msat <= bhi)


def problems(old: Policy, new: Policy, channel: Channel, history: Iterable[ChangeRecord],
             settings: EngineSettings, now: int) -> Set[str]:
    """Every rule the change old -> new of this channel at `now` breaks."""
    found: Set[str] = set(selection_problems(channel, settings))
    b = bounds(channel, settings)
    lo, hi, blo, bhi, _ = b
    moved = abs(new.ppm - old.ppm)
    urgent = is_urgent(channel, sign(new.ppm - old.ppm), settings)
    needed_to_enter = max(lo - old.ppm, old.ppm - hi, 0)
    if moved > step_limit(old.ppm, settings, urgent) and moved > needed_to_enter:
        found.add(MAX_STEP)
    if not lo <= new.ppm <= hi:
        found.add(PPM_BOUNDS)
    if not blo <= new.base_msat <= bhi:
        found.add(BASE_BOUNDS)
    if new.ppm == old.ppm and new.base_msat == old.base_msat:
        found.add(NO_CHANGE)
    elif moved < min_change(old.ppm, settings) and not outside(old, b):
        found.add(MIN_CHANGE)
    records = channel_records(history, channel)
    ao = settings.anti_oscillation
    cooldown = min(ao.cooldown_hours, ao.urgent_cooldown_hours) if urgent else ao.cooldown_hours
    if any(now - r.at < cooldown * 3600 for r in records):
        found.add(COOLDOWN)
    if any(now - r.at < ao.min_update_spacing_minutes * 60 for r in records):
        found.add(MIN_SPACING)
    if not relayed(records, now, settings):
        found.add(RELAY_BUDGET)
    if ao.max_updates_per_day and sum(1 for r in records if r.at > now - DAY) + 1 > ao.max_updates_per_day:
        found.add(DAILY_LIMIT)
    flips, last = reversal_state(records, now, settings)
    direction = sign(new.ppm - old.ppm)
    if direction and last and direction != last and flips + 1 > ao.max_reversals:
        found.add(REVERSALS)
    for f in dataclasses.fields(Policy):
        if f.name not in FEE_FIELDS and getattr(new, f.name) != getattr(old, f.name):
            found.add(ONLY_FEE_FIELDS)
    return found


def expected_check(old: Policy, requested_ppm: int, channel: Channel, history: Iterable[ChangeRecord],
                   settings: EngineSettings, now: int) -> Tuple[Policy, Set[str]]:
    """What check() must do with a request: the clamped policy and the rules it breaks
    (accepted iff none; blocked_by is then the first of them in ORDER)."""
    lo, hi, blo, bhi, _ = bounds(channel, settings)
    limit = math.floor(step_limit(old.ppm, settings, is_urgent(channel, sign(requested_ppm - old.ppm), settings)))
    ppm = old.ppm + sign(requested_ppm - old.ppm) * min(abs(requested_ppm - old.ppm), limit)
    ppm = min(max(ppm, lo), hi)
    base = min(max(old.base_msat, blo), bhi)
    new = dataclasses.replace(old, base_msat=base, ppm=ppm)
    return new, problems(old, new, channel, history, settings, now)


def first_rule(rules: Iterable[str]) -> Optional[str]:
    ranked = sorted(rules, key=ORDER.index)
    return ranked[0] if ranked else None


def age_days(channel: Channel, block_height: Optional[int]) -> Optional[float]:
    if channel.funding_height is None or channel.funding_height <= 0 or block_height is None:
        return None
    return max(0, block_height - channel.funding_height) * BLOCK_SECONDS / DAY


def evaluation_problems(evaluation, snapshot, settings: EngineSettings, history: Sequence[ChangeRecord],
                        now: int) -> Dict[str, List[str]]:
    """Per channel, what an `evaluate()` result breaks (empty dict: nothing).

    Each proposal is what `expected_check` gives for its requested ppm (accepted with that
    policy, or blocked by the first rule it breaks and showing that policy); every accepted proposal obeys every rule
    above (checked on its own as well), starts from the channel's policy and,
    while the channel is in its grace period, cuts only to bring its ppm down into the bounds;
    a blocked one is not accepted, names a rule and shows the capped policy; at most max_changes_per_run are accepted
    and the ones the limit blocked rank below every accepted one (|pressure|, then capacity).
    """
    found: Dict[str, List[str]] = {}
    accepted, dropped = [], []
    for channel in snapshot.channels:
        a = evaluation.channel(channel.chan_id)
        mine: List[str] = []
        if a is None:
            found[channel.chan_id] = ["no assessment"]
            continue
        p = a.proposal
        if p is not None:
            expected, rules = expected_check(p.old_policy, p.requested_ppm, channel, history, settings, now)
            if p.blocked_by == MAX_PER_RUN:
                if rules:
                    mine.append(f"blocked by the run limit, but it breaks {sorted(rules)} anyway")
            elif p.accepted != (not rules) or p.blocked_by != first_rule(rules):
                mine.append(f"accepted={p.accepted} blocked_by={p.blocked_by}; the rules say {sorted(rules, key=ORDER.index)}")
            elif p.accepted and p.new_policy != expected:
                mine.append(f"accepted {p.new_policy.base_msat}/{p.new_policy.ppm}, "
                            f"the rules give {expected.base_msat}/{expected.ppm}")
        if p is not None and p.accepted:
            accepted.append(a)
            mine += sorted(problems(p.old_policy, p.new_policy, channel, history, settings, now))
            if p.old_policy != channel.local_policy:
                mine.append("old policy is not the channel's")
            if channel.state not in ("active", "inactive"):
                mine.append(f"proposal for a {channel.state} channel")
            age = age_days(channel, snapshot.block_height)
            grace = settings.anti_oscillation.new_channel_grace_days
            if age is not None and age < grace and p.new_policy.ppm < p.old_policy.ppm:
                hi = bounds(channel, settings)[1]
                if not (p.old_policy.ppm > hi and p.new_policy.ppm == hi):
                    mine.append(f"cut during the grace period ({age:.2f} of {grace} days)")
        elif p is not None:
            expected, _ = expected_check(p.old_policy, p.requested_ppm, channel, history, settings, now)
            if not p.blocked_by:
                mine.append("blocked proposal without a rule")
            if p.new_policy != expected:
                mine.append(f"blocked proposal shows {p.new_policy.base_msat}/{p.new_policy.ppm}, "
                            f"the capping rules give {expected.base_msat}/{expected.ppm}")
            if p.blocked_by == MAX_PER_RUN:
                dropped.append(a)
        if mine:
            found[channel.chan_id] = mine
    limit = settings.guardrails.max_changes_per_run
    if len(accepted) > limit:
        found["<run>"] = [f"{len(accepted)} accepted, limit {limit}"]
    if dropped and len(accepted) != limit:
        found["<run>"] = [f"{len(dropped)} blocked by the run limit with only {len(accepted)} of {limit} accepted"]
    for d in dropped:
        for k in accepted:
            if (abs(d.pressure), d.capacity_sat) > (abs(k.pressure), k.capacity_sat):
                found.setdefault(d.chan_id, []).append(f"dropped by the run limit before {k.chan_id}")
    return found
