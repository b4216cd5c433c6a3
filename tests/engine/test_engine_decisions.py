"""Decisions and guardrails on hand-made channels."""

from __future__ import annotations

import dataclasses

import pytest

from engine.decisions import CLOSE_CHANNEL, DECREASE_FEES, INCREASE_FEES, NO_ACTION, REBALANCE
from engine.evaluate import evaluate
from engine.settings import ChannelOverride, EngineSettings
from engine.snapshot import INACTIVE, PENDING, ChangeRecord

S = EngineSettings()
DAY = 86_400


def guard(**kw):
    return dataclasses.replace(S, guardrails=dataclasses.replace(S.guardrails, **kw))


def anti(**kw):
    return dataclasses.replace(S, anti_oscillation=dataclasses.replace(S.anti_oscillation, **kw))


# the relay budget and the spacing as the only rate rules (whatever the cooldown's default)
BUDGET = anti(cooldown_hours=0, max_updates_per_day=0)


def drained(mk, chan_id="1", **kw):
    kw.setdefault("ppm", 400)
    return mk.channel(chan_id=chan_id, local=50_000, flow=mk.flows(out7=300_000, out30=900_000), **kw)


def full_idle(mk, chan_id="2", **kw):
    kw.setdefault("ppm", 300)
    return mk.channel(chan_id=chan_id, local=950_000, flow=mk.flows(), **kw)


def one(mk, ch, settings=S, history=(), graph=None, others=()):
    from engine.graph_metrics import compute_graph_metrics
    metrics = compute_graph_metrics(graph, mk.US, settings.graph) if graph is not None else None
    ev = evaluate(mk.snapshot(ch, *others, graph=graph), settings, list(history), metrics, mk.NOW)
    return ev.channel(ch.chan_id)


def test_drained_channel_with_outflow_raises(mk):
    a = one(mk, drained(mk), graph=mk.clique_graph())
    assert a.fee_action == INCREASE_FEES and a.accepted
    assert a.new_policy.ppm > 400
    assert "outbound 5 %" in a.reason and "balance +0.45" in a.reason
    assert f"400 → {a.new_policy.ppm} ppm" in a.reason


def test_full_idle_channel_lowers(mk):
    a = one(mk, full_idle(mk), graph=mk.clique_graph())
    assert a.fee_action == DECREASE_FEES and a.accepted
    assert a.new_policy.ppm < 300
    assert "outbound 95 %" in a.reason and "balance -0.45" in a.reason


# --- the registered strategies -------------------------------------------------------------


def test_the_settings_name_exactly_the_registered_strategies():
    from engine import strategies
    from engine.settings import DIRECTIONS
    assert set(strategies.names()) == set(DIRECTIONS) == {"flow", "score"}


def test_a_retired_strategy_is_refused_by_name():
    for name in ("target", "signals"):
        settings = dataclasses.replace(S, decisions=dataclasses.replace(S.decisions, direction_source=name))
        [(field, message)] = settings.validate()
        assert field == "decisions.direction_source"
        assert message == f"must be one of: flow, score (“{name}” was retired: it earned less than “flow” on the benchmark)"
    unknown = dataclasses.replace(S, decisions=dataclasses.replace(S.decisions, direction_source="magic"))
    assert unknown.validate() == [("decisions.direction_source", "must be one of: flow, score")]


def test_a_stored_document_loses_only_the_retired_knobs():
    from engine.settings import without_retired
    doc = S.to_dict()
    doc["decisions"] = {**doc["decisions"], "target_memory": 0.5, "pressure_dead_band": 0.2, "direction_source": "target"}
    kept = without_retired(doc)
    assert kept["decisions"] == {**S.to_dict()["decisions"], "direction_source": "target"}
    assert EngineSettings.from_dict(kept).decisions.direction_source == "target"  # validation then says retired
    with pytest.raises(Exception):
        EngineSettings.from_dict(doc)  # the knobs are not settings any more


def test_fee_change_keeps_every_other_policy_field(mk):
    a = one(mk, drained(mk))
    old, new = a.old_policy, a.new_policy
    assert (new.cltv_delta, new.min_htlc_msat, new.max_htlc_msat, new.inbound_base_msat, new.inbound_ppm,
            new.disabled, new.base_msat) == (old.cltv_delta, old.min_htlc_msat, old.max_htlc_msat,
                                             old.inbound_base_msat, old.inbound_ppm, old.disabled, old.base_msat)


def test_new_channel_in_grace_is_not_cut(mk):
    a = one(mk, full_idle(mk, age_days=1), graph=mk.clique_graph())
    assert a.fee_action == NO_ACTION and a.proposal is None
    assert "grace" in a.reason


def test_new_channel_below_reference_gets_initial_fee(mk):
    a = one(mk, full_idle(mk, age_days=1, ppm=1, base=0), graph=mk.clique_graph())
    assert a.fee_action == INCREASE_FEES and a.proposal.requested_ppm == 200
    assert a.accepted and a.new_policy.ppm == 26  # 1 + the 25 ppm step floor
    assert "competitors' median 200 ppm" in a.reason


def test_pinned_channel_is_untouched(mk):
    for settings in (guard(pinned_channels=("1",)),
                     guard(channel_overrides={"1": ChannelOverride(pinned=True)})):
        a = one(mk, drained(mk), settings)
        assert not a.accepted and a.blocked_by == "pinned"
        # it shows what the capping rules would have let through (633 capped to 500); nothing is applied
        assert (a.proposal.requested_ppm, a.new_policy.ppm, a.old_policy.ppm) == (633, 500, 400)
        assert a.limited_by.rule == "pinned" and a.limited_by.effect == "blocked" and a.limited_by.label == "Pinned"


def test_clamped_step_names_the_rule(mk):
    settings = dataclasses.replace(S, decisions=dataclasses.replace(S.decisions, step_gain=2.0))
    a = one(mk, drained(mk), settings)
    assert a.accepted and a.new_policy.ppm == 500  # 400 + 25 % of 400
    assert [n.rule for n in a.proposal.notes] == ["max_step"]
    assert "capped by the max step" in a.reason


def test_bounds_clamp_per_channel_override(mk):
    a = one(mk, drained(mk), guard(channel_overrides={"1": ChannelOverride(max_ppm=420)}))
    assert a.accepted and a.new_policy.ppm == 420
    assert "ppm_bounds" in [n.rule for n in a.proposal.notes]


def test_base_fee_brought_into_bounds(mk):
    a = one(mk, drained(mk, base=9000))
    assert a.accepted and a.new_policy.base_msat == 5000
    assert "base_bounds" in [n.rule for n in a.proposal.notes]


def test_cooldown_blocks_when_set(mk):
    history = [ChangeRecord("1", mk.NOW - 2 * 3600, 380, 400)]
    a = one(mk, drained(mk), anti(cooldown_hours=24, urgent_share=0), history=history)
    assert not a.accepted and a.blocked_by == "cooldown"
    assert "changed 2 h ago; cooldown 24 h (22 h left)" in a.reason
    # without it the relay budget paces: 36 + 2 tokens, 24 more in a day, one spent now: 4 left
    a = one(mk, drained(mk), BUDGET, history=history)
    assert a.accepted and a.reason.endswith("Relay budget: 4 updates left today")


def test_a_fast_drain_waits_only_the_urgent_cooldown(mk):
    """5 % local, raised 3 h ago: with urgent_share 0.10 the raise waits 2 h, not 24 h; an hour
    after the last change it still waits; a balanced channel waits the full cooldown."""
    from engine.guardrails import violations
    settings = anti(cooldown_hours=24, urgent_share=0.10, urgent_cooldown_hours=2)
    history = [ChangeRecord("1", mk.NOW - 3 * 3600, 380, 400)]
    a = one(mk, drained(mk), settings, history=history, graph=mk.clique_graph())
    assert a.accepted and a.proposal.urgent_share == 0.05
    assert "A fast drain: 5 % local, so this raise comes before the daily pace would allow it" in a.reason
    assert a.headline.endswith("now (fast drain)")
    assert violations(a.proposal, drained(mk), history, settings, mk.NOW) == []  # the apply-time re-check agrees
    soon = one(mk, drained(mk), settings, history=[dataclasses.replace(history[0], at=mk.NOW - 3600)],
               graph=mk.clique_graph())
    assert not soon.accepted and soon.blocked_by == "cooldown" and "cooldown 2 h (urgent) (1 h left)" in soon.reason
    balanced = mk.channel(chan_id="1", local=500_000, ppm=400, flow=mk.flows(out1=400_000, in1=100_000))
    b = one(mk, balanced, settings, history=history, graph=mk.clique_graph())
    assert b.fee_action == INCREASE_FEES and not b.accepted and "cooldown 24 h (21 h left)" in b.reason
    # a channel whose last change is older than the daily cooldown is not "urgent" in the reason
    calm = one(mk, drained(mk), settings, history=[dataclasses.replace(history[0], at=mk.NOW - 25 * 3600)],
               graph=mk.clique_graph())
    assert calm.accepted and calm.proposal.urgent_share is None and "fast drain" not in calm.reason


def test_a_fast_drain_still_spends_only_the_relay_budget(mk):
    """Four urgent raises an hour apart empty CLN's bucket (48 → 3 + 1): the fifth is refused."""
    settings = anti(cooldown_hours=24, urgent_share=0.10, urgent_cooldown_hours=0.5)
    burst = [ChangeRecord("1", mk.NOW - (4 - i) * 3600, 300 + 10 * i, 310 + 10 * i) for i in range(4)]
    a = one(mk, drained(mk), settings, history=burst, graph=mk.clique_graph())
    assert not a.accepted and a.blocked_by == "relay_budget"


def test_a_fast_drain_may_take_a_larger_step(mk):
    """urgent_max_step_pct 0.5: 400 ppm may move 200 ppm at once instead of the 25 % max step."""
    big = one(mk, drained(mk), anti(urgent_share=0.10, urgent_max_step_pct=0.5), graph=mk.clique_graph())
    assert big.accepted and big.new_policy.ppm == min(600, big.proposal.requested_ppm)
    plain = one(mk, drained(mk), graph=mk.clique_graph())
    assert plain.new_policy.ppm == 500  # the 25 % max step


def test_relay_budget_burst_of_four_then_one_per_twelve_hours(mk):
    """CLN's bucket by hand: full (48), 12 per update, +1 an hour. Four changes an hour apart:
    48 → 36, 37 → 25, 26 → 14, 15 → 3; an hour later 4 tokens: the 5th is refused, possible 8 h later."""
    burst = [ChangeRecord("1", mk.NOW - (4 - i) * 3600, 300 + 10 * i, 310 + 10 * i) for i in range(4)]
    a = one(mk, drained(mk), BUDGET, history=burst)
    assert not a.accepted and a.blocked_by == "relay_budget"
    assert "relay budget empty: next update in 8 h (4.0 of the 12 tokens" in a.reason
    assert a.limited_by.label == "Relay budget empty: next update in 8 h"
    assert "(relay budget empty)" in a.headline
    later = [dataclasses.replace(r, at=r.at - 8 * 3600) for r in burst]  # 12 tokens now: exactly one update
    a = one(mk, drained(mk), BUDGET, history=later)
    assert a.accepted and a.reason.endswith("Relay budget: 2 updates left today")  # 0 left + 24 in a day
    # 7 h earlier: 11 tokens, still refused
    assert not one(mk, drained(mk), BUDGET, history=[dataclasses.replace(r, at=r.at - 7 * 3600) for r in burst]).accepted


def test_minimum_spacing_between_two_updates(mk):
    history = [ChangeRecord("1", mk.NOW - 4 * 60, 380, 400)]
    a = one(mk, drained(mk), BUDGET, history=history)
    assert not a.accepted and a.blocked_by == "min_spacing"
    assert "changed 4 min ago; at least 10 min between two updates" in a.reason
    assert a.limited_by.label == "Least time between updates (10 min)"
    assert one(mk, drained(mk), BUDGET, history=[dataclasses.replace(history[0], at=mk.NOW - 10 * 60)]).accepted


def test_no_more_than_two_updates_a_day_when_set(mk):
    settings = anti(cooldown_hours=1, max_updates_per_day=2)
    history = [ChangeRecord("1", mk.NOW - 5 * 3600, 360, 380), ChangeRecord("1", mk.NOW - 3 * 3600, 380, 400)]
    a = one(mk, drained(mk), settings, history)
    assert not a.accepted and a.blocked_by == "max_updates_per_day"
    a = one(mk, drained(mk), settings, history[1:])
    assert a.accepted


def test_reversal_limit(mk):
    history = [ChangeRecord("2", mk.NOW - 10 * DAY, 300, 330), ChangeRecord("2", mk.NOW - 8 * DAY, 330, 300),
               ChangeRecord("2", mk.NOW - 6 * DAY, 300, 330)]
    a = one(mk, full_idle(mk, ppm=330), anti(max_reversals=2), history=history)
    assert a.fee_action == DECREASE_FEES and not a.accepted and a.blocked_by == "max_reversals"
    assert one(mk, full_idle(mk, ppm=330), anti(max_reversals=3), history=history).accepted


def test_allow_deny_and_only_active(mk):
    assert one(mk, drained(mk), guard(deny_peers=("n01",))).blocked_by == "deny_peers"
    assert one(mk, drained(mk), guard(deny_channels=("1",))).blocked_by == "deny_channels"
    assert one(mk, drained(mk), guard(allow_peers=("n99",))).blocked_by == "allow_list"
    assert one(mk, drained(mk), guard(allow_channels=("1",))).accepted
    a = one(mk, drained(mk, state=INACTIVE))
    assert a.score is not None and a.blocked_by == "only_active"


def test_pending_channel_gets_no_proposal(mk):
    a = one(mk, drained(mk, state=PENDING))
    assert a.proposal is None and a.score is None and a.action == NO_ACTION


def test_max_changes_per_run_keeps_the_most_important(mk):
    strong = drained(mk, "1")
    weak = mk.channel(chan_id="3", local=150_000, ppm=400, flow=mk.flows(out7=50_000))
    ev = evaluate(mk.snapshot(weak, strong), guard(max_changes_per_run=1), [], None, mk.NOW)
    assert ev.channel("1").accepted
    assert ev.channel("3").blocked_by == "max_changes_per_run"
    assert len(ev.accepted) == 1


def test_min_change_blocks_tiny_moves(mk):
    # a 12 ppm step cap below the 10 ppm / 5 % minimum at 400 ppm (20 ppm) -> blocked
    a = one(mk, drained(mk), guard(max_step_pct=0.03, step_floor_ppm=0))
    assert not a.accepted and a.blocked_by == "min_change"


def test_rebalance_advice_never_costs_more_than_it_earns(mk):
    source = mk.channel(chan_id="9", peer="n05", local=950_000, ppm=10, flow=mk.flows())
    a = one(mk, drained(mk), others=(source,))
    advice = [x for x in a.advice if x.kind == REBALANCE]
    assert len(advice) == 1
    adv = advice[0]
    assert adv.amount_sat == 450_000 and adv.sources == ("9",)
    # 450k sat at 400 ppm can earn 180 sat; we pay at most half of it
    assert adv.evidence["expected_earn_sat"] == pytest.approx(180)
    assert adv.max_fee_sat == 90 and adv.max_fee_sat <= adv.evidence["expected_earn_sat"]


def test_close_advice_for_long_idle_low_score_channel(mk):
    ch = full_idle(mk, age_days=100, peer_online=False)
    a = one(mk, ch)
    assert a.score < S.decisions.close_below_score
    assert [x.kind for x in a.advice] == [CLOSE_CHANNEL]
    assert "No forwards in 30 days" in a.advice[0].reason
    assert a.advice[0].amount_sat == 950_000
    young = one(mk, full_idle(mk, age_days=20, peer_online=False))
    assert not young.advice


def test_original_spec_mapping_is_expressible(mk):
    spec = EngineSettings.original_spec()
    assert spec.validate() == []
    low = one(mk, full_idle(mk, peer_online=False), spec)  # score ~0.2 -> raise
    assert low.score < 0.3 and low.fee_action == INCREASE_FEES
    mid = one(mk, mk.channel(chan_id="5", local=150_000, flow=mk.flows(), peer_online=False), spec)
    assert 0.3 <= mid.score < 0.5 and mid.fee_action == DECREASE_FEES
    healthy = one(mk, mk.channel(chan_id="6", local=500_000, flow=mk.flows(out7=200_000, in7=200_000,
                                                                            fees30_msat=5_000_000)), spec)
    assert healthy.score >= 0.7 and healthy.fee_action == NO_ACTION


def test_missing_policy_and_zero_capacity_do_not_raise(mk):
    ch = mk.channel(capacity=0, local=0, local_policy=None, peer_policy=None, age_days=None)
    a = one(mk, ch, graph=mk.clique_graph(n=0))
    assert a.proposal is None and a.fee_action == NO_ACTION


# --- flow mode (the default) -------------------------------------------------------------


def test_flow_mode_is_the_default():
    assert S.decisions.direction_source == "flow"


def test_flow_mode_raises_when_outflow_outruns_inflow(mk):
    """out 300 k vs in 100 k in a day on 1 M capacity at the 200 ppm median, half local:
    flow term ln(320 k / 120 k) = 0.98, balance 0, market 0 -> x2 at most (flow_max_step)."""
    ch = mk.channel(chan_id="4", local=500_000, ppm=200, base=0, flow=mk.flows(out1=300_000, in1=100_000))
    a = one(mk, ch, graph=mk.clique_graph())
    assert a.fee_action == INCREASE_FEES and a.proposal.requested_ppm == 400
    assert a.new_policy.ppm == 250  # the guardrails' 25 % max step
    assert "Out 300 k sat vs in 100 k sat in the last day" in a.reason
    assert "flow +0.98, balance +0.00, market +0.00" in a.reason


def test_flow_mode_holds_a_channel_whose_flows_balance(mk):
    ch = mk.channel(chan_id="4", local=480_000, ppm=200, base=0, flow=mk.flows(out1=200_000, in1=190_000))
    a = one(mk, ch, graph=mk.clique_graph())
    assert a.fee_action == NO_ACTION and "dead band" in a.reason


def test_flow_mode_cuts_when_inflow_outruns_outflow(mk):
    ch = mk.channel(chan_id="4", local=500_000, ppm=200, base=0, flow=mk.flows(out1=50_000, in1=250_000))
    a = one(mk, ch, graph=mk.clique_graph())
    # ln(70 k / 270 k) = -1.35 -> clamped to /2
    assert a.fee_action == DECREASE_FEES and a.proposal.requested_ppm == 100


def test_flow_mode_ignores_the_censored_side(mk):
    """A drained channel cannot send: its low outflow does not argue for a cut; its balance
    term raises. A full one cannot receive: its low inflow does not argue for a raise."""
    drained_ch = mk.channel(chan_id="4", local=50_000, ppm=200, base=0, flow=mk.flows(out1=0, in1=200_000))
    a = one(mk, drained_ch, graph=mk.clique_graph())
    assert a.fee_action == INCREASE_FEES and "drained: its low outflow is not a signal" in a.reason
    assert a.proposal.requested_ppm == round(200 * 2.718281828 ** 0.45)  # balance term only
    full_ch = mk.channel(chan_id="5", local=950_000, ppm=200, base=0, flow=mk.flows(out1=200_000, in1=0))
    b = one(mk, full_ch, graph=mk.clique_graph())
    assert b.fee_action == DECREASE_FEES and "full: its low inflow is not a signal" in b.reason


def test_flow_mode_pulls_weakly_toward_the_market(mk):
    """Balanced flow and balance, priced at 4x the median: only the market term acts,
    0.3 x ln(1/4) = -0.42 -> x0.66."""
    ch = mk.channel(chan_id="4", local=500_000, ppm=800, base=0, flow=mk.flows(out1=100_000, in1=100_000))
    a = one(mk, ch, graph=mk.clique_graph())
    assert a.fee_action == DECREASE_FEES
    assert a.proposal.requested_ppm == round(800 * 4 ** -0.3)


def test_flow_mode_without_forwarding_history_says_so(mk):
    ch = mk.channel(chan_id="4", local=900_000, ppm=200, base=0, flow={})
    a = one(mk, ch, graph=mk.clique_graph())
    assert a.fee_action == DECREASE_FEES and "No forwarding history for the last day" in a.reason


def test_flow_mode_without_a_market_reference_has_no_market_term(mk):
    """No competitors' median: the flow and the balance alone price the channel."""
    ch = mk.channel(chan_id="4", local=500_000, ppm=800, base=0, flow=mk.flows(out1=300_000, in1=100_000))
    a = one(mk, ch)  # no graph: no competitors' median
    assert a.fee_action == INCREASE_FEES and a.proposal.requested_ppm == 1600  # flow +0.98 -> x2 at most
    assert "no market price for this peer" in a.reason and "market +0.00" in a.reason
    assert a.reason[0].isupper()  # a reason starts as a sentence
