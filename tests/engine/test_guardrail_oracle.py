"""The guardrails against an independent oracle (`guardrail_oracle`, written from the
rules' definitions, not from engine.guardrails / engine.history / engine.decisions):

- `violations()` (the re-check of every apply and every manual change) names exactly
  the rules a proposal breaks — hand-made proposals that break one rule at a time, every
  rule, and arbitrary ones;
- `check()` turns any fee intent into what the rules give: the clamped policy when no rule
  blocks it, else blocked by the first rule it breaks — still showing the clamped policy.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from engine.decisions import DECREASE_FEES, INCREASE_FEES, FeeIntent
from engine.guardrails import FeeProposal, check, violations
from engine.settings import ChannelOverride, EngineSettings
from engine.snapshot import ACTIVE, CHANNEL_STATES, INACTIVE, Channel, ChangeRecord, Policy
from tests.engine import guardrail_oracle as oracle

NOW = 1_700_000_000
DAY = 86_400
HOUR = 3_600
CHAN, SHORT, PEER = "c1", "1xc1x0", "n01"


def policy(ppm: int = 1000, base: int = 1000, **kw) -> Policy:
    fields = dict(cltv_delta=40, min_htlc_msat=1000, max_htlc_msat=990_000_000, disabled=False,
                  inbound_base_msat=-5, inbound_ppm=-7, last_update=NOW - 100)
    fields.update(kw)
    return Policy(base_msat=base, ppm=ppm, **fields)


def channel(old: Policy, state: str = ACTIVE, short_id: str = SHORT, peer: str = PEER, local: int = 500_000) -> Channel:
    return Channel(chan_id=CHAN, short_id=short_id, channel_point="tx:0", peer_id=peer, peer_alias="",
                   state=state, capacity_sat=1_000_000, local_sat=local, remote_sat=1_000_000 - local,
                   local_policy=old)


def settings(max_reversals: int = 1, cooldown_hours: float = 24.0, per_day: int = 2, dead_band: bool = True,
             anti: Optional[dict] = None, **guardrails) -> EngineSettings:
    base = EngineSettings()
    ao = dataclasses.replace(base.anti_oscillation, max_reversals=max_reversals, cooldown_hours=cooldown_hours,
                             max_updates_per_day=per_day, **(anti or {}))
    if not dead_band:
        ao = dataclasses.replace(ao, min_change_ppm=0, min_change_pct=0.0)
    s = dataclasses.replace(
        base,
        anti_oscillation=ao,
        guardrails=dataclasses.replace(base.guardrails, **guardrails),
    )
    assert s.validate() == []
    return s


def change(days_ago: float, old_ppm: int, new_ppm: int, chan: str = CHAN, base: int = 1000) -> ChangeRecord:
    return ChangeRecord(chan, int(NOW - days_ago * DAY), old_ppm, new_ppm, base, base)


# One raise and one cut inside the window (one reversal), the last a cut 5 days ago; another
# channel's changes, and the records out of order. With max_reversals=1, a further raise is
# a second reversal; a cut is not a reversal.
HISTORY = [change(5, 1100, 1000), change(9, 1000, 1100), change(0.1, 500, 600, chan="c2"), change(0.5, 5, 9, chan="c3")]


def both(old: Policy, new: Policy, chan: Channel, history, s: EngineSettings, now: int = NOW):
    proposal = FeeProposal(old_policy=old, new_policy=new, requested_ppm=new.ppm, accepted=True)
    return violations(proposal, chan, history, s, now), oracle.problems(old, new, chan, history, s, now)


def one_rule_cases():
    """(id, old, new, channel, history, settings, the one rule it breaks or None)."""
    old = policy()
    cut = old.with_fees(1000, 900)  # allowed: 100 ppm <= step 250, >= min change 50, same direction as the last
    ch = channel(old)
    yield "valid cut", old, cut, ch, HISTORY, settings(), None
    yield "pinned list", old, cut, ch, HISTORY, settings(pinned_channels=(CHAN,)), oracle.PINNED
    yield "pinned list by short id", old, cut, ch, HISTORY, settings(pinned_channels=(SHORT,)), oracle.PINNED
    yield "pinned override", old, cut, ch, HISTORY, settings(channel_overrides={CHAN: ChannelOverride(pinned=True)}), oracle.PINNED
    yield "pinned override by short id", old, cut, ch, HISTORY, \
        settings(channel_overrides={SHORT: ChannelOverride(pinned=True)}), oracle.PINNED
    yield "deny channel", old, cut, ch, HISTORY, settings(deny_channels=(CHAN,)), oracle.DENY_CHANNEL
    yield "deny channel by short id", old, cut, ch, HISTORY, settings(deny_channels=(SHORT,)), oracle.DENY_CHANNEL
    yield "deny peer", old, cut, ch, HISTORY, settings(deny_peers=(PEER,)), oracle.DENY_PEER
    yield "allow peers", old, cut, ch, HISTORY, settings(allow_peers=("n02",)), oracle.ALLOW_LIST
    yield "allow channels", old, cut, ch, HISTORY, settings(allow_channels=("c9",)), oracle.ALLOW_LIST
    yield "allowed by short id", old, cut, ch, HISTORY, settings(allow_channels=(SHORT,)), None
    yield "allowed by peer", old, cut, ch, HISTORY, settings(allow_channels=("c9",), allow_peers=(PEER,)), None
    yield "inactive", old, cut, channel(old, state=INACTIVE), HISTORY, settings(), oracle.ONLY_ACTIVE
    yield "inactive allowed", old, cut, channel(old, state=INACTIVE), HISTORY, settings(only_active=False), None
    yield "max step", old, old.with_fees(1000, 700), ch, HISTORY, settings(), oracle.MAX_STEP
    yield "max step floor", policy(ppm=20), policy(ppm=0), ch, [], settings(step_floor_ppm=15), oracle.MAX_STEP
    yield "max step: back into bounds", policy(ppm=6000), policy(ppm=5000), ch, HISTORY, settings(), None
    yield "max step: past what the bounds need", policy(ppm=6000), policy(ppm=4000), ch, HISTORY, settings(), oracle.MAX_STEP
    yield "max step: base out of bounds waives no ppm step", policy(base=6000), policy(base=5000, ppm=500), ch, HISTORY, \
        settings(), oracle.MAX_STEP
    yield "ppm below the channel's min (override by short id)", old, cut, ch, HISTORY, \
        settings(channel_overrides={SHORT: ChannelOverride(min_ppm=950)}), oracle.PPM_BOUNDS
    yield "ppm above the global max", policy(ppm=4800), policy(ppm=5200), ch, [], settings(), oracle.PPM_BOUNDS
    yield "chan_id override wins", old, cut, ch, HISTORY, \
        settings(channel_overrides={CHAN: ChannelOverride(min_ppm=0), SHORT: ChannelOverride(min_ppm=950)}), None
    yield "base above the max", old, old.with_fees(6000, 900), ch, HISTORY, settings(), oracle.BASE_BOUNDS
    yield "base below the channel's min", old, old.with_fees(100, 900), ch, HISTORY, \
        settings(channel_overrides={CHAN: ChannelOverride(min_base_msat=500)}), oracle.BASE_BOUNDS
    yield "no change", old, old, ch, HISTORY, settings(), oracle.NO_CHANGE
    yield "no change without a dead band", old, old, ch, HISTORY, settings(dead_band=False), oracle.NO_CHANGE
    yield "1 ppm without a dead band", old, old.with_fees(1000, 999), ch, HISTORY, settings(dead_band=False), None
    yield "min change", old, old.with_fees(1000, 960), ch, HISTORY, settings(), oracle.MIN_CHANGE
    yield "min change: base only", old, old.with_fees(2000, 1000), ch, HISTORY, settings(), oracle.MIN_CHANGE
    yield "min change waived back into bounds", policy(base=6000), policy(base=5000, ppm=990), ch, HISTORY, settings(), None
    yield "cooldown", old, cut, ch, HISTORY + [change(0.5, 1050, 1000)], settings(), oracle.COOLDOWN
    yield "cooldown: a record under the short id", old, cut, ch, HISTORY + [change(0.5, 1050, 1000, chan=SHORT)], \
        settings(), oracle.COOLDOWN
    yield "cooldown over", old, cut, ch, HISTORY + [change(1.01, 1050, 1000)], settings(), None
    yield "daily limit", old, cut, ch, HISTORY + [change(2 / 24, 1050, 1000)], settings(cooldown_hours=1, per_day=1), \
        oracle.DAILY_LIMIT
    yield "daily limit: two in 24 h", old, cut, ch, HISTORY + [change(20 / 24, 1100, 1050), change(2 / 24, 1050, 1000)], \
        settings(cooldown_hours=1, per_day=2), oracle.DAILY_LIMIT
    yield "daily limit: exactly 24 h ago is outside", old, cut, ch, HISTORY + [change(1, 1050, 1000)], \
        settings(cooldown_hours=1, per_day=1), None
    # the relay budget by hand (CLN: full 48, 12 an update, +1 an hour), the fixed limits off
    free = settings(cooldown_hours=0, per_day=0)

    def burst(ended_s_ago: int, n: int = 4):  # n cuts 10 s apart, the last `ended_s_ago` before now
        return [ChangeRecord(CHAN, NOW - ended_s_ago - 10 * (n - 1 - i), 1050, 1000, 1000, 1000) for i in range(n)]

    yield "relay budget: 4 updates at once from full, a 5th an hour later refused", old, cut, ch, \
        HISTORY + burst(HOUR), free, oracle.RELAY_BUDGET
    # 48 − 48 + 30 s of tokens, then 12 h: 12.008 tokens
    yield "relay budget: one more 12 h after the burst", old, cut, ch, HISTORY + burst(12 * HOUR), free, None
    yield "relay budget: not a minute before", old, cut, ch, HISTORY + burst(12 * HOUR - 60), free, oracle.RELAY_BUDGET
    # a 5th update in the burst was not relayed (no tokens): it spends nothing
    yield "relay budget: an update CLN dropped spends nothing", old, cut, ch, HISTORY + burst(12 * HOUR, 5), free, None
    yield "relay budget: 4 an hour apart leave 4 tokens", old, cut, ch, \
        HISTORY + [change(h / 24, 1050, 1000) for h in (4, 3, 2, 1)], free, oracle.RELAY_BUDGET
    yield "relay budget: ...and 8 h later there are 12", old, cut, ch, \
        HISTORY + [change(h / 24, 1050, 1000) for h in (12, 11, 10, 9)], free, None
    yield "relay budget: the other channel's updates are its own", old, cut, ch, \
        HISTORY + [dataclasses.replace(r, chan_id="c2") for r in burst(HOUR)], free, None
    yield "relay budget off (0 tokens an update)", old, cut, ch, HISTORY + burst(HOUR), \
        settings(cooldown_hours=0, per_day=0, anti={"relay_tokens_per_update": 0}), None
    yield "relay budget: a smaller bucket", old, cut, ch, HISTORY + [change(2 / 24, 1050, 1000)], \
        settings(cooldown_hours=0, per_day=0, anti={"relay_bucket_max": 12}), oracle.RELAY_BUDGET
    yield "minimum spacing", old, cut, ch, HISTORY + [ChangeRecord(CHAN, NOW - 9 * 60, 1050, 1000, 1000, 1000)], free, \
        oracle.MIN_SPACING
    yield "minimum spacing over", old, cut, ch, HISTORY + [ChangeRecord(CHAN, NOW - 10 * 60, 1050, 1000, 1000, 1000)], \
        free, None
    yield "daily limit off: 3 in 24 h", old, cut, ch, HISTORY + [change(h / 24, 1050, 1000) for h in (20, 10)], free, None
    raise_ = old.with_fees(1000, 1100)
    yield "reversal", old, raise_, ch, HISTORY, settings(), oracle.REVERSALS
    yield "reversal: the limit not reached", old, raise_, ch, HISTORY, settings(max_reversals=2), None
    yield "reversal: a base-only change is no direction", old, raise_, ch, \
        HISTORY + [ChangeRecord(CHAN, NOW - 3 * DAY, 1000, 1000, 900, 1000)], settings(), oracle.REVERSALS
    yield "reversal: under the short id", old, raise_, ch, [change(5, 1100, 1000, chan=SHORT), change(9, 1000, 1100)], \
        settings(), oracle.REVERSALS
    yield "reversal: zero allowed", old, raise_, ch, [change(5, 1100, 1000)], settings(max_reversals=0), oracle.REVERSALS
    yield "reversal: the earlier flip left the window", old, raise_, ch, [change(5, 1100, 1000), change(15, 1000, 1100)], \
        settings(), None
    yield "reversal: the last change left the window", old, raise_, ch, [change(15, 1100, 1000)], settings(max_reversals=0), None
    yield "reversal: a cut after a cut", old, cut, ch, [change(5, 1100, 1000)], settings(max_reversals=0), None
    for field, value in (("cltv_delta", 80), ("min_htlc_msat", 1), ("max_htlc_msat", 1), ("disabled", True),
                         ("inbound_base_msat", 0), ("inbound_ppm", 0), ("last_update", NOW)):
        yield f"only fee fields: {field}", old, dataclasses.replace(cut, **{field: value}), ch, HISTORY, settings(), \
            oracle.ONLY_FEE_FIELDS


CASES = list(one_rule_cases())


@pytest.mark.parametrize("name, old, new, chan, history, s, rule", CASES, ids=[c[0] for c in CASES])
def test_violations_names_the_one_rule_a_proposal_breaks(name, old, new, chan, history, s, rule):
    found, expected = both(old, new, chan, history, s)
    assert expected == ({rule} if rule else set()), "the oracle disagrees with the case"
    assert found == ([rule] if rule else [])


def test_every_rule_has_a_case():
    rules = {c[-1] for c in CASES}
    assert rules == set(oracle.ORDER) | {None}


def test_violations_lists_every_selection_rule_and_skips_what_was_not_accepted():
    old = policy()
    s = settings(pinned_channels=(CHAN,), deny_channels=(SHORT,), deny_peers=(PEER,), allow_peers=("n02",))
    proposal = FeeProposal(old, old.with_fees(1000, 900), 900, True)
    assert violations(proposal, channel(old, state=INACTIVE), HISTORY, s, NOW) == [
        oracle.PINNED, oracle.DENY_CHANNEL, oracle.DENY_PEER, oracle.ALLOW_LIST, oracle.ONLY_ACTIVE]
    assert violations(dataclasses.replace(proposal, accepted=False), channel(old), HISTORY, s, NOW) == []


# --- arbitrary proposals ------------------------------------------------------------

PEERS = ["n01", "n02", "n03"]
IDS = [CHAN, SHORT, "c2"]


def names(pool, most):
    """Mostly empty (most proposals should get past the selection rules to the others)."""
    return st.one_of(st.just(()), st.just(()), st.lists(st.sampled_from(pool), min_size=1, max_size=most).map(tuple))


def pair(low, high):
    """(a, b) with low <= a <= b <= high."""
    return st.tuples(st.integers(low, high), st.integers(low, high)).map(sorted).map(tuple)


OPTIONAL_PAIR = st.one_of(st.just((None, None)), pair(0, 6000), st.tuples(st.none(), st.integers(0, 6000)),
                          st.tuples(st.integers(0, 1500), st.none()))
OVERRIDES = st.dictionaries(
    st.sampled_from(IDS),
    st.tuples(OPTIONAL_PAIR, OPTIONAL_PAIR, st.sampled_from([False, False, False, True])).map(
        lambda t: ChannelOverride(min_ppm=t[0][0], max_ppm=t[0][1], min_base_msat=t[1][0], max_base_msat=t[1][1],
                                  pinned=t[2])),
    max_size=2)
SELECTION = st.fixed_dictionaries(dict(
    pinned_channels=names(IDS, 1), deny_channels=names(IDS, 1), deny_peers=names(PEERS, 1),
    allow_channels=names(IDS, 2), allow_peers=names(PEERS, 2), only_active=st.booleans()))
NO_SELECTION = dict(pinned_channels=(), deny_channels=(), deny_peers=(), allow_channels=(), allow_peers=(),
                    only_active=False)


def _settings(t) -> EngineSettings:
    (lo, hi), (blo, bhi), step, overrides, selection, strict, ao = t
    base = EngineSettings()
    if not strict:  # no selection rule applies, so more proposals get past them
        selection = NO_SELECTION
        overrides = {k: dataclasses.replace(o, pinned=False) for k, o in overrides.items()}
    g = dataclasses.replace(base.guardrails, min_ppm=lo, max_ppm=hi, min_base_msat=blo, max_base_msat=bhi,
                            max_step_pct=step[0], max_step_ppm=step[1], step_floor_ppm=step[2],
                            channel_overrides=overrides, **selection)
    s = dataclasses.replace(base, guardrails=g, anti_oscillation=dataclasses.replace(base.anti_oscillation, **ao))
    if s.validate():  # an override's bound against a global one: keep the globals
        s = dataclasses.replace(s, guardrails=dataclasses.replace(g, channel_overrides={}))
    assert s.validate() == []
    return s


WIDE = st.just((0, 5000))  # the defaults: most fees are inside
guardrail_settings = st.tuples(
    WIDE | pair(0, 6000), WIDE | pair(0, 6000),
    st.tuples(st.floats(0.01, 1.0), st.integers(0, 1000), st.integers(0, 100)),
    OVERRIDES, SELECTION, st.booleans(),
    st.fixed_dictionaries(dict(
        cooldown_hours=st.floats(0, 48) | st.just(0.0), max_updates_per_day=st.integers(0, 2),
        min_update_spacing_minutes=st.sampled_from([0, 10, 90]),
        # exact binary fractions, so the oracle's exact arithmetic and the engine's floats agree on ties
        relay_tokens_per_update=st.sampled_from([0.0, 12.0, 12.0, 24.0]), relay_tokens_per_hour=st.sampled_from([1.0, 0.25]),
        relay_bucket_max=st.sampled_from([24.0, 48.0]), min_change_ppm=st.integers(0, 50),
        min_change_pct=st.floats(0, 0.3), max_reversals=st.integers(0, 3),
        reversal_window_days=st.sampled_from([0, 1, 7, 14, 20]),
        urgent_share=st.sampled_from([0.0, 0.0, 0.1, 0.2]), urgent_cooldown_hours=st.sampled_from([0.0, 2.0, 6.0]),
        urgent_max_step_pct=st.sampled_from([0.0, 0.5, 2.0]))),
).map(_settings)


def _record(t) -> ChangeRecord:
    seconds_ago, chan, old_ppm, move, new_base = t
    return ChangeRecord(chan, NOW - seconds_ago, old_ppm, max(0, old_ppm + move), 1000, new_base)


# distinct times (the order of two changes in the same second is not defined); some base-only
records = st.lists(
    st.tuples(st.one_of(st.integers(-HOUR, 2 * DAY), st.integers(-HOUR, 21 * DAY)), st.sampled_from(IDS + ["c3"]),
              st.integers(0, 3000), st.one_of(st.integers(-500, 500), st.just(0)), st.integers(0, 2000)),
    max_size=8, unique_by=lambda t: t[0]).map(lambda ts: [_record(t) for t in ts])

def _zigzag(t):
    """Changes 2-14 days ago, each against the one before (reversals, past the cooldown)."""
    times, up, chan = t
    out = []
    for i, seconds_ago in enumerate(sorted(times, reverse=True)):
        raise_ = up if i % 2 == 0 else not up
        out.append(ChangeRecord(chan, NOW - seconds_ago, 1000, 1100 if raise_ else 900, 1000, 1000))
    return out


zigzags = st.tuples(st.lists(st.integers(2 * DAY, 14 * DAY), min_size=1, max_size=6, unique=True), st.booleans(),
                    st.sampled_from([CHAN, SHORT])).map(_zigzag)
records = records | zigzags

policies = st.builds(policy, ppm=st.integers(0, 6500), base=st.integers(0, 6500), cltv_delta=st.integers(10, 200),
                     disabled=st.booleans())

situations = st.tuples(policies, st.sampled_from((ACTIVE, ACTIVE) + CHANNEL_STATES), st.sampled_from([SHORT, SHORT, ""]),
                       st.sampled_from(PEERS), records, guardrail_settings,
                       st.sampled_from([500_000, 500_000, 50_000, 100_000, 950_000])).map(
    lambda t: (t[0], channel(t[0], state=t[1], short_id=t[2], peer=t[3], local=t[6]), t[4], t[5]))


@st.composite
def new_policies(draw, old):
    delta = draw(st.one_of(st.integers(-30, 30), st.integers(-600, 600), st.integers(-6500, 6500)))
    base = draw(st.sampled_from([old.base_msat] * 3 + [None])) or draw(st.integers(0, 6500))
    new = old.with_fees(base, max(0, old.ppm + delta))
    if draw(st.integers(0, 9)) == 0:
        new = dataclasses.replace(new, cltv_delta=new.cltv_delta + 1)
    return new


def test_violations_agrees_with_the_oracle_on_arbitrary_proposals():
    seen = collections.Counter()

    @hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(situations, st.data())
    def prop(situation, data):
        old, chan, history, s = situation
        new = data.draw(new_policies(old))
        found, expected = both(old, new, chan, history, s)
        assert set(found) == expected and len(found) == len(set(found))
        assert found == sorted(found, key=oracle.ORDER.index), "in check()'s order"
        seen.update(expected or {"none"})

    prop()
    # not vacuous: every rule was broken, and some proposals broke none
    assert [rule for rule in oracle.ORDER + ("none",) if not seen[rule]] == [], seen


def test_check_does_what_the_rules_say_with_any_intent():
    seen = collections.Counter()

    @hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(situations, st.sampled_from([INCREASE_FEES, DECREASE_FEES]),
           st.one_of(st.integers(-40, 40), st.integers(-800, 800), st.integers(-7000, 7000)))
    def prop(situation, action, delta):
        old, chan, history, s = situation
        requested = max(0, old.ppm + delta)
        # check()'s contract (evaluate keeps it): the channel's own records, oldest first
        proposal = check(FeeIntent(action, old.ppm, requested, 0.5), chan, oracle.channel_records(history, chan), s, NOW)
        expected, rules = oracle.expected_check(old, requested, chan, history, s, NOW)
        assert proposal.accepted == (not rules), (proposal, sorted(rules))
        if proposal.accepted:
            assert proposal.new_policy == expected and proposal.blocked_by is None
            assert violations(proposal, chan, history, s, NOW) == []
        else:
            assert proposal.blocked_by == oracle.first_rule(rules) and proposal.new_policy == expected
        seen[proposal.blocked_by or "accepted"] += 1

    prop()
    # not vacuous: many accepted, blocked by many rules, the reversal limit among them
    assert seen["accepted"] >= 20 and seen[oracle.REVERSALS] and len(seen) >= 9, seen
