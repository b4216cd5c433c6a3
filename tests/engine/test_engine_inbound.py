"""Inbound discounts (issue 16 item 2, engine side): the settings, the rule, the guardrails and
the apply-time re-check. The property's oracle is written from the rules in engine/README.md
("Inbound discounts"), not from engine/inbound.py."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from engine.evaluate import evaluate
from engine.guardrails import (
    INBOUND_BOUNDS,
    INBOUND_STEP,
    MIN_CHANGE,
    NO_CHANGE,
    ONLY_FEE_FIELDS,
    FeeProposal,
    violations,
)
from engine.settings import ChannelOverride, EngineSettings, InboundSettings
from engine.settings_labels import engine_label, sentence
from engine.snapshot import ACTIVE, Channel, ChangeRecord, FlowStats, NodeSnapshot, Policy

S = EngineSettings()
# the rule's numbers below are worked with discount_share ½ and below_share ½ (not the defaults, so the
# cases stay readable whatever the defaults are)
ON = dataclasses.replace(S, inbound=InboundSettings(manage="on", discount_share=0.5, below_share=0.5))
NOW = 1_700_000_000
DAY = 86_400
US = "02" + "aa" * 32


def pol(ppm=400, base=0, ib_ppm=0, ib_base=0, **kw) -> Policy:
    return Policy(base_msat=base, ppm=ppm, cltv_delta=40, min_htlc_msat=1000, max_htlc_msat=990_000_000,
                  inbound_base_msat=ib_base, inbound_ppm=ib_ppm, last_update=NOW - 100, **kw)


def chan(chan_id="1", local=100_000, capacity=1_000_000, policy=None, out1=100_000, in1=100_000, **kw) -> Channel:
    flow = {d: FlowStats(days=d, forwards_out=1, forwards_in=1, volume_out_sat=out1, volume_in_sat=in1)
            for d in (1, 7, 30)}
    return Channel(chan_id=chan_id, short_id=f"700000x{chan_id}x0", channel_point=f"tx{chan_id}:0", peer_id="n01",
                   peer_alias="", state=ACTIVE, capacity_sat=capacity, local_sat=local, remote_sat=capacity - local,
                   local_policy=policy or pol(), funding_height=700_000, flow=flow, **kw)


def run(*channels, settings=ON, history=(), ours=frozenset()):
    snap = NodeSnapshot(node_id=US, alias="us", taken_at=NOW, block_height=800_000, channels=tuple(channels))
    return evaluate(snap, settings, list(history), None, NOW, inbound_ours=ours)


def with_overrides(settings, **overrides):
    return dataclasses.replace(settings, guardrails=dataclasses.replace(settings.guardrails, channel_overrides=overrides))


# --- settings ---------------------------------------------------------------------------------


def test_inbound_management_is_off_by_default_with_discount_only_bounds():
    assert S.inbound.manage == "off"
    assert (S.inbound.discount_share, S.inbound.below_share) == (0.25, 1.0)  # the least costly measured
    g = S.guardrails
    assert g.inbound_min_ppm <= 0 and g.inbound_min_base_msat <= 0 and g.inbound_max_step_ppm > 0
    assert S.validate() == [] and ON.validate() == []


def test_positive_inbound_bounds_and_unknown_modes_are_refused_naming_the_field():
    bad = EngineSettings.from_dict({"guardrails": {"inbound_min_ppm": 5, "inbound_min_base_msat": 1},
                                    "inbound": {"manage": "auto"}})
    errors = dict(bad.validate())
    assert errors["guardrails.inbound_min_ppm"] == "must be at most 0"
    assert errors["guardrails.inbound_min_base_msat"] == "must be at most 0"
    assert errors["inbound.manage"] == "must be one of: off, on"
    assert sentence(engine_label("guardrails.inbound_min_ppm"), errors["guardrails.inbound_min_ppm"]) == \
        "Deepest inbound discount (ppm, 0 or below) must be at most 0"
    override = EngineSettings.from_dict({"guardrails": {"channel_overrides": {"1": {"manage_inbound": True}}}})
    assert override.guardrails.channel_overrides["1"].manage_inbound is True


# --- the rule ---------------------------------------------------------------------------------


def test_off_leaves_every_proposal_as_it_was():
    ch = chan(local=100_000, policy=pol(ib_ppm=0))
    off = run(ch, settings=S).channel("1")
    assert off.accepted and off.new_policy.inbound_ppm == 0
    assert off.proposal.requested_inbound_ppm is None
    # a channel opted out keeps its inbound fee under "on" too: the same proposal as "off"
    out = run(ch, settings=with_overrides(ON, **{"1": ChannelOverride(manage_inbound=False)})).channel("1")
    assert out.proposal == off.proposal and out.reason == off.reason


def test_a_channel_low_on_outbound_gets_a_discount_in_proportion_to_its_fee():
    """10 % local, 400 ppm: need (0.5 - 0.1) / 0.5 = 0.8, target -0.5 x 400 x 0.8 = -160 ppm;
    from 0 the inbound step (100 ppm) caps it at -100, on the same update as the raise."""
    a = run(chan(local=100_000, policy=pol(ppm=400))).channel("1")
    assert a.accepted and a.new_policy.ppm == 500  # the outbound raise, as without inbound management
    assert a.proposal.requested_inbound_ppm == -160 and a.new_policy.inbound_ppm == -100
    assert "inbound 0 → -100 ppm" in a.reason and "below 50 %: a discount for liquidity coming back in, 50 % of the 400 ppm fee × 0.80 = 160 ppm" in a.reason
    assert violations(a.proposal, chan(local=100_000, policy=pol(ppm=400)), [], ON, NOW) == []


def test_no_discount_at_or_above_the_middle_and_a_discount_is_withdrawn_there():
    balanced = run(chan(local=600_000, policy=pol(ppm=400), out1=300_000, in1=100_000)).channel("1")
    assert balanced.accepted and balanced.new_policy.inbound_ppm == 0
    # ours from an earlier change, now the channel has refilled: back toward 0 (one step)
    mine = chan(local=600_000, policy=pol(ppm=400, ib_ppm=-150), out1=300_000, in1=100_000)
    a = run(mine, ours={"1"}).channel("1")
    assert a.new_policy.inbound_ppm == -50


def test_an_inbound_change_alone_is_one_update_under_the_same_pacing():
    """Flows and balance in the dead band at 30 % local (no outbound step) but a discount is due:
    the proposal changes only the inbound fields; a change 2 h ago holds it (the 24 h cooldown)."""
    ch = chan(local=300_000, policy=pol(ppm=400), out1=100_000, in1=120_000)
    alone = run(ch).channel("1")
    assert alone.accepted and alone.fee_action == "NO_ACTION"
    assert (alone.new_policy.ppm, alone.new_policy.base_msat) == (400, 0)
    assert alone.new_policy.inbound_ppm == -80  # -0.5 x 400 x 0.4
    assert "keep 400 ppm; inbound 0 → -80 ppm" in alone.reason
    assert alone.headline.endswith("set the inbound fee to -80 ppm")
    held = run(ch, history=[ChangeRecord("1", NOW - 2 * 3600, 380, 400)]).channel("1")
    assert not held.accepted and held.blocked_by == "cooldown"
    assert held.headline.endswith("would set inbound to -80 ppm (cooldown)")
    # and with a discount already in place, no update is made for a change below the smallest one
    near = run(chan(local=300_000, policy=pol(ppm=400, ib_ppm=-75), out1=100_000, in1=120_000), ours={"1"})
    assert near.channel("1").proposal is None


def test_a_hand_set_inbound_fee_is_kept_unless_the_channel_is_opted_in():
    hand = chan(local=100_000, policy=pol(ppm=400, ib_ppm=-30))
    kept = run(hand).channel("1")
    assert kept.accepted and kept.new_policy.inbound_ppm == -30  # the raise goes through; the inbound fee stays
    assert run(hand, ours={"1"}).channel("1").new_policy.inbound_ppm == -130  # one we set ourselves: managed
    off = dataclasses.replace(ON, inbound=dataclasses.replace(ON.inbound, manage="off"))
    opted = run(hand, settings=with_overrides(off, **{"700000x1x0": ChannelOverride(manage_inbound=True)}))
    assert opted.channel("1").new_policy.inbound_ppm == -130  # opted in by short id, even with the mode off


def test_the_bounds_cap_the_discount_and_fix_a_positive_value():
    deep = dataclasses.replace(ON, guardrails=dataclasses.replace(ON.guardrails, inbound_min_ppm=-60,
                                                                  inbound_max_step_ppm=500))
    b = run(chan(local=50_000, policy=pol(ppm=400)), settings=deep).channel("1")
    assert b.new_policy.inbound_ppm == -60 and "inbound fee kept within -60–0 ppm" in b.reason
    positive = chan(local=100_000, policy=pol(ppm=400, ib_ppm=40, ib_base=20))
    c = run(positive, settings=with_overrides(ON, **{"1": ChannelOverride(manage_inbound=True)})).channel("1")
    assert c.new_policy.inbound_ppm <= 0 and c.new_policy.inbound_base_msat == 0


# --- the apply-time re-check ----------------------------------------------------------------


def proposal(old: Policy, new: Policy) -> FeeProposal:
    return FeeProposal(old_policy=old, new_policy=new, requested_ppm=new.ppm, accepted=True)


def test_violations_allow_inbound_changes_only_where_managed_within_bounds_and_steps():
    old = pol(ppm=400, ib_ppm=0)
    ch = chan(local=100_000, policy=old)
    fine = proposal(old, dataclasses.replace(old, inbound_ppm=-80))
    assert violations(fine, ch, [], ON, NOW) == []
    assert violations(fine, ch, [], S, NOW) == [ONLY_FEE_FIELDS]
    hand = dataclasses.replace(old, inbound_ppm=-30)
    assert violations(proposal(hand, dataclasses.replace(hand, inbound_ppm=-90)), chan(policy=hand), [], ON, NOW) \
        == [ONLY_FEE_FIELDS]
    assert violations(proposal(hand, dataclasses.replace(hand, inbound_ppm=-90)), chan(policy=hand), [], ON, NOW,
                      inbound_ours={"1"}) == []
    assert INBOUND_BOUNDS in violations(proposal(old, dataclasses.replace(old, inbound_ppm=20)), ch, [], ON, NOW)
    assert INBOUND_BOUNDS in violations(proposal(old, dataclasses.replace(old, inbound_base_msat=5)), ch, [], ON, NOW)
    assert INBOUND_STEP in violations(proposal(old, dataclasses.replace(old, inbound_ppm=-300)), ch, [], ON, NOW)
    assert MIN_CHANGE in violations(proposal(old, dataclasses.replace(old, inbound_ppm=-3)), ch, [], ON, NOW)
    assert violations(proposal(old, old), ch, [], ON, NOW) == [NO_CHANGE]
    # the non-fee fields stay forbidden, inbound management or not
    for field, value in (("cltv_delta", 80), ("max_htlc_msat", 1000), ("min_htlc_msat", 1), ("disabled", True)):
        bad = dataclasses.replace(old, inbound_ppm=-80, **{field: value})
        assert ONLY_FEE_FIELDS in violations(proposal(old, bad), ch, [], ON, NOW), field
    # an inbound change alone is an update: the cooldown holds it like any other
    assert "cooldown" in violations(fine, ch, [ChangeRecord("1", NOW - 3600, 380, 400)], ON, NOW)


# --- the property: never positive, nothing when off, nothing but fee fields ---------------------

MODES = st.sampled_from(["off", "on"])


@st.composite
def cases(draw):
    chans = []
    for i in range(draw(st.integers(1, 4))):
        cap = draw(st.integers(1, 10**7))
        local = draw(st.integers(0, cap))
        p = pol(ppm=draw(st.integers(0, 5000)), base=draw(st.integers(0, 5000)),
                ib_ppm=draw(st.integers(-2000, 200)), ib_base=draw(st.integers(-2000, 100)),
                disabled=False)
        p = dataclasses.replace(p, cltv_delta=draw(st.integers(18, 200)), max_htlc_msat=draw(st.integers(1000, 10**10)))
        chans.append(chan(chan_id=str(i + 1), local=local, capacity=cap, policy=p,
                          out1=draw(st.integers(0, 10**6)), in1=draw(st.integers(0, 10**6))))
    overrides = {c.chan_id: ChannelOverride(manage_inbound=draw(st.sampled_from([None, True, False])))
                 for c in chans if draw(st.booleans())}
    g = dataclasses.replace(S.guardrails, channel_overrides=overrides,
                            inbound_min_ppm=draw(st.integers(-3000, 0)),
                            inbound_min_base_msat=draw(st.integers(-3000, 0)),
                            inbound_max_step_ppm=draw(st.integers(0, 1000)))
    settings = dataclasses.replace(S, guardrails=g, inbound=InboundSettings(
        manage=draw(MODES), discount_share=draw(st.floats(0, 1)), below_share=draw(st.floats(0.01, 1))))
    ours = frozenset(c.chan_id for c in chans if draw(st.booleans()))
    history = [ChangeRecord(c.chan_id, NOW - draw(st.integers(600, 3 * DAY)), 1, 2) for c in chans
               if draw(st.booleans())]
    return chans, settings, ours, history


def managed_by_rule(c: Channel, settings: EngineSettings, ours) -> bool:
    """README: the override decides when it says so; else mode on and the inbound fee is 0/0 or ours."""
    o = settings.guardrails.channel_overrides.get(c.chan_id)
    if o is not None and o.manage_inbound is not None:
        return o.manage_inbound
    p = c.local_policy
    return settings.inbound.manage == "on" and ((p.inbound_base_msat, p.inbound_ppm) == (0, 0) or c.chan_id in ours)


def test_no_proposal_is_positive_or_touches_an_unmanaged_inbound_fee_or_a_non_fee_field():
    seen = {"inbound_changed": 0, "kept": 0}

    @hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(cases())
    def prop(case):
        chans, settings, ours, history = case
        ev = run(*chans, settings=settings, history=history, ours=ours)
        for c in chans:
            a = ev.channel(c.chan_id)
            if a.proposal is None:
                continue
            old, new = c.local_policy, a.new_policy
            assert a.proposal.old_policy == old
            for field in ("cltv_delta", "min_htlc_msat", "max_htlc_msat", "disabled", "last_update"):
                assert getattr(new, field) == getattr(old, field), field
            changed = (new.inbound_base_msat, new.inbound_ppm) != (old.inbound_base_msat, old.inbound_ppm)
            if not managed_by_rule(c, settings, ours):
                assert not changed  # preserved exactly, whatever the mode
                seen["kept"] += 1
                continue
            if changed:
                seen["inbound_changed"] += 1
                g = settings.guardrails
                assert g.inbound_min_ppm <= new.inbound_ppm <= 0 and g.inbound_min_base_msat <= new.inbound_base_msat <= 0
                back_in = max(g.inbound_min_ppm - old.inbound_ppm, old.inbound_ppm, 0)
                assert abs(new.inbound_ppm - old.inbound_ppm) <= max(g.inbound_max_step_ppm, back_in)
            if a.accepted:
                assert violations(a.proposal, c, history, settings, NOW, inbound_ours=ours) == []
        # determinism
        again = run(*chans, settings=settings, history=list(reversed(history)), ours=ours)
        assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(ev.to_dict(), sort_keys=True)

    prop()
    assert seen["inbound_changed"] >= 30 and seen["kept"] >= 30, seen


@hsettings(max_examples=200, deadline=None)
@given(cases())
def test_off_is_bit_identical_to_no_inbound_input(case):
    """Mode off and no override that opts a channel in: the evaluation is the one a caller that
    knows nothing of inbound fees gets (no `inbound_ours`, default inbound settings)."""
    chans, settings, ours, history = case
    plain = dataclasses.replace(settings, inbound=InboundSettings(),
                                guardrails=dataclasses.replace(settings.guardrails, channel_overrides={},
                                                               inbound_min_ppm=S.guardrails.inbound_min_ppm,
                                                               inbound_min_base_msat=S.guardrails.inbound_min_base_msat,
                                                               inbound_max_step_ppm=S.guardrails.inbound_max_step_ppm))
    off = dataclasses.replace(settings, inbound=dataclasses.replace(settings.inbound, manage="off"),
                              guardrails=dataclasses.replace(settings.guardrails, channel_overrides={}))
    a = run(*chans, settings=off, history=history, ours=ours).to_dict()
    b = run(*chans, settings=plain, history=history).to_dict()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
