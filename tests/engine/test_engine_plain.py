"""What an operator reads (issue 13): the headline, the guardrail that limited a proposal, blocked
proposals that show the capped change, the score's role, rebalance advice only when it can be
paid for, and evidence in plain units."""

from __future__ import annotations

import ast
import collections
import dataclasses
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from engine import guardrails, labels
from engine.decisions import INCREASE_FEES, REBALANCE, FeeIntent, advise_rebalance, refill_sources
from engine.evaluate import evaluate
from engine.graph_metrics import compute_graph_metrics
from engine.heuristics import HEURISTICS, ChannelContext
from engine.plain import HEADLINE_MAX
from engine.settings import ChannelOverride, EngineSettings
from engine.snapshot import PENDING, ChangeRecord, FlowStats
from tests.engine import guardrail_oracle as oracle
from tests.engine.test_engine_properties import engine_settings, run, snapshots, with_history

S = EngineSettings()
# the daily cooldown alone (no urgent step for the drained and full channels these tests use)
COOLED = dataclasses.replace(S, anti_oscillation=dataclasses.replace(S.anti_oscillation, cooldown_hours=24, urgent_share=0))
# the relay budget as the only rate rule
BUDGET = dataclasses.replace(S, anti_oscillation=dataclasses.replace(S.anti_oscillation, cooldown_hours=0))
DAY = 86_400
BANNED = ("engine.", "guardrails.", "{'", "score", "x0.", "_")


def mode(name, settings=S):
    return dataclasses.replace(settings, decisions=dataclasses.replace(settings.decisions, direction_source=name))


def one(mk, ch, settings=S, history=(), graph=True, others=()):
    g = mk.clique_graph() if graph else None  # competitors' median 200 ppm
    metrics = compute_graph_metrics(g, mk.US, settings.graph) if g is not None else None
    return evaluate(mk.snapshot(ch, *others, graph=g), settings, list(history), metrics, mk.NOW).channel(ch.chan_id)


def full_idle(mk, **kw):
    kw.setdefault("ppm", 588)
    return mk.channel(chan_id="2", local=990_000, flow={d: FlowStats(days=d) for d in (1, 7, 30)}, **kw)


# --- the headline ----------------------------------------------------------------------


def test_headline_of_a_drained_channel_says_it_raises_and_to_what(mk):
    ch = mk.channel(chan_id="1", local=50_000, ppm=400, flow=mk.flows(out1=80_000, in1=20_000, out7=300_000))
    a = one(mk, ch)
    assert a.accepted and a.new_policy.ppm == 500
    assert a.headline == "Drained (5 % outbound), outflow 4.0× inflow in the last day: raise to 500 ppm"
    assert a.to_dict()["headline"] == a.headline


def test_headline_of_a_full_idle_channel(mk):
    a = one(mk, full_idle(mk, age_days=40))
    assert a.headline == "Full (99 % outbound) and idle for 30 days: lower to 441 ppm"


def test_headline_of_a_balanced_routing_channel(mk):
    ch = mk.channel(chan_id="3", local=500_000, ppm=200, flow=mk.flows(out1=200_000, in1=190_000))
    assert one(mk, ch).headline == "Balanced and routing both ways in the last day: keep"


def test_headline_of_a_new_channel_in_grace(mk):
    a = one(mk, full_idle(mk, ppm=300, age_days=1.5))
    assert a.headline == "New channel (day 2 of 3): wait"


def test_headline_names_the_market_when_it_turns_the_direction(mk):
    """A full idle channel priced at a tenth of the market is raised by the pull toward the market:
    the headline says why, or "Full …: raise" reads as a mistake."""
    a = one(mk, full_idle(mk, ppm=10, age_days=40))
    assert a.accepted and a.new_policy.ppm > 10
    assert a.headline == "Full (99 % outbound) and idle for 30 days, priced at 10 % of the market: raise to 20 ppm"


def test_headline_of_a_blocked_change_and_of_close_advice(mk):
    history = [ChangeRecord("2", mk.NOW - 12 * 60, 784, 588)]
    a = one(mk, full_idle(mk, age_days=40), COOLED, history=history)
    assert not a.accepted and a.headline == "Full (99 % outbound) and idle for 30 days: would lower to 441 ppm (cooldown)"
    burst = [ChangeRecord("2", mk.NOW - (i + 1) * 15 * 60, 784, 588) for i in range(4)]  # the relay budget spent
    a = one(mk, full_idle(mk, age_days=40), BUDGET, history=burst)
    assert not a.accepted and a.headline == ("Full (99 % outbound) and idle for 30 days: would lower to 441 ppm "
                                             "(relay budget empty)")
    old = one(mk, full_idle(mk, age_days=100, peer_online=False), COOLED, history=history)
    assert [x.kind for x in old.advice] == ["CLOSE_CHANNEL"]
    assert old.headline == "Idle for 30 days, 100 days old: consider closing"


def test_headline_of_a_new_channel_priced_below_the_market(mk):
    a = one(mk, mk.channel(chan_id="4", local=950_000, ppm=1, base=0, age_days=1, flow=mk.flows()))
    assert a.accepted and a.headline == "New channel priced well below the market: raise to 26 ppm"
    b = one(mk, mk.channel(chan_id="4", local=950_000, ppm=1, base=0, age_days=1, flow=mk.flows()), graph=False)
    assert b.headline.startswith("New channel priced well below the default for new channels: raise to ")


def test_every_no_action_intent_names_its_kind_of_hold():
    """The headline reads the kind of hold, not the wording of hold_reason."""
    engine = Path(__file__).resolve().parents[2] / "engine"
    sources = [engine / "decisions.py", *sorted((engine / "strategies").glob("*.py"))]
    holds = [node for path in sources for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "FeeIntent"
             and node.args and getattr(node.args[0], "id", "") == "NO_ACTION"]
    assert len(holds) >= 10
    for node in holds:
        kinds = [k.value for k in node.keywords if k.arg == "hold"]
        assert kinds and getattr(kinds[0], "id", "").startswith("HOLD_"), ast.dump(node)[:200]


def test_headline_of_a_channel_that_is_not_scored(mk):
    a = one(mk, mk.channel(chan_id="4", state=PENDING))
    assert a.headline == "Pending channel: nothing to do"


def test_headline_in_score_mode_says_what_the_rating_means_without_the_score(mk):
    a = one(mk, full_idle(mk, age_days=100, peer_online=False), EngineSettings.original_spec())
    assert a.fee_action == "INCREASE_FEES" and a.headline.startswith("Weak overall: raise to ")


def test_headline_invariants_over_random_contexts():
    """Never longer than HEADLINE_MAX, never a rule id, a dict, a formula or the score; the page can
    put it in one line. limited_by agrees with the proposal; evidence_text has a row per key."""
    seen = collections.Counter()

    @hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(snapshots().flatmap(with_history), engine_settings(), st.booleans())
    def prop(snapshot_history, settings, with_metrics):
        snapshot, history = snapshot_history
        evaluation = run(snapshot, settings, history, with_metrics)
        for a in evaluation.channels:
            text = a.headline
            assert text and len(text) <= HEADLINE_MAX, text
            assert not any(bad in text.lower() for bad in BANNED), text
            assert text[0].isupper() and ": " in text, text
            p, lim = a.proposal, a.limited_by
            if p is not None and not p.accepted:
                assert lim.effect == "blocked" and lim.rule == p.blocked_by
                seen["blocked"] += 1
            elif p is not None and any(n.effect == guardrails.CLAMPED for n in p.notes):
                assert lim.effect == "capped" and lim.rule in {n.rule for n in p.notes}
                seen["capped"] += 1
            else:
                assert lim is None
            for part in a.parts:
                assert labels.unlabelled(part.name, part.evidence) == [], part
                assert len(part.evidence_text) == len(part.evidence)
            data = a.to_dict()
            assert data["headline"] == text and data["score_role"] == a.score_role and "advice_withheld" in data
            assert all(set(p_["evidence_text"][0]) == {"label", "value"} for p_ in data["parts"] if p_["evidence"])
            seen["headline"] += 1
        json.dumps(evaluation.to_dict())

    prop()
    assert seen["headline"] >= 300 and seen["blocked"] >= 20 and seen["capped"] >= 10, seen


# --- limited_by and the rules' labels ---------------------------------------------------


def test_limited_by_names_the_cap_or_the_block(mk):
    drained = mk.channel(chan_id="1", local=50_000, ppm=400, flow=mk.flows(out1=80_000, in1=20_000))
    capped = one(mk, drained).to_dict()["limited_by"]
    assert capped == {"rule": "max_step", "effect": "capped", "label": "Largest step (25 %)"}
    bounded = one(mk, drained, dataclasses.replace(S, guardrails=dataclasses.replace(
        S.guardrails, channel_overrides={"1": ChannelOverride(max_ppm=420)}))).to_dict()["limited_by"]
    assert bounded == {"rule": "ppm_bounds", "effect": "capped", "label": "Maximum fee (420 ppm)"}
    cooled = one(mk, drained, COOLED, history=[ChangeRecord("1", mk.NOW - 3600, 380, 400)]).to_dict()["limited_by"]
    assert cooled == {"rule": "cooldown", "effect": "blocked", "label": "Cooldown (24 h after a change)"}
    # four updates in the last two hours: 48 − 4·12 + 2 = 2 tokens, 10 h to the next update
    burst = [ChangeRecord("1", mk.NOW - 7200 + i * 1800, 380, 400) for i in range(4)]
    spent = one(mk, drained, BUDGET, history=burst).to_dict()["limited_by"]
    assert spent == {"rule": "relay_budget", "effect": "blocked", "label": "Relay budget empty: next update in 10 h"}
    assert guardrails.rule_label("relay_budget", drained, S) == "Relay budget (2 updates a day, a burst of 4)"
    pinned = one(mk, drained, dataclasses.replace(S, guardrails=dataclasses.replace(S.guardrails, pinned_channels=("1",))))
    assert pinned.to_dict()["limited_by"] == {"rule": "pinned", "effect": "blocked", "label": "Pinned"}
    balanced = one(mk, mk.channel(chan_id="3", local=500_000, ppm=200, flow=mk.flows(out1=200_000, in1=190_000)))
    assert balanced.limited_by is None and balanced.to_dict()["limited_by"] is None


def test_limited_by_the_run_limit(mk):
    strong = mk.channel(chan_id="1", local=50_000, ppm=400, flow=mk.flows(out1=80_000, in1=20_000))
    weak = mk.channel(chan_id="3", local=150_000, ppm=400, flow=mk.flows(out1=30_000, in1=20_000))
    s = dataclasses.replace(S, guardrails=dataclasses.replace(S.guardrails, max_changes_per_run=1))
    g = mk.clique_graph()
    ev = evaluate(mk.snapshot(strong, weak, graph=g), s, [], compute_graph_metrics(g, mk.US, s.graph), mk.NOW)
    dropped = ev.channel("3")
    assert dropped.blocked_by == "max_changes_per_run"
    assert dropped.limited_by == guardrails.LimitedBy("max_changes_per_run", "blocked", "Run limit (1 change a run)")
    assert dropped.new_policy.ppm > dropped.old_policy.ppm  # still shows the change it would have made
    assert "(run limit)" in dropped.headline


def test_every_guardrail_rule_has_a_label_and_a_short_name(mk):
    rules = set(oracle.ORDER) | {oracle.MAX_PER_RUN} | set(oracle.INBOUND_RULES)
    assert set(guardrails.RULE_LABELS) == rules and set(guardrails.RULE_SHORT) == rules
    ch = mk.channel()
    for rule in rules:
        label = guardrails.rule_label(rule, ch, S)
        assert label and "_" not in label and label[0].isupper(), (rule, label)


def test_rule_labels_carry_the_settings(mk):
    ch = mk.channel(chan_id="1")
    s = dataclasses.replace(S, anti_oscillation=dataclasses.replace(S.anti_oscillation, cooldown_hours=0.5,
                                                                   max_updates_per_day=1))
    assert guardrails.rule_label("cooldown", ch, s) == "Cooldown (30 min after a change)"
    assert guardrails.rule_label("max_updates_per_day", ch, s) == "Daily limit (1 change a day)"
    assert guardrails.rule_label("max_reversals", ch, S) == "Reversal limit (7 in 14 days)"
    assert guardrails.rule_label("ppm_bounds", ch, S) == "Fee bounds (0–5000 ppm)"
    assert guardrails.rule_label("some_future_rule", ch, S) == "Some future rule"


# --- blocked proposals show the capped change -------------------------------------------


def test_a_blocked_proposal_shows_the_change_the_guardrails_would_let_through(mk):
    """The issue's channel: accepted 588 → 441 yesterday-like; blocked by the cooldown it must show
    the same 441 ppm, not the uncapped 289 ppm target, and the time in minutes."""
    free = one(mk, full_idle(mk, age_days=40))
    assert free.accepted and free.new_policy.ppm == 441 and free.proposal.requested_ppm < 300
    history = [ChangeRecord("2", mk.NOW - 12 * 60, 784, 588)]
    a = one(mk, full_idle(mk, age_days=40), COOLED, history=history)
    assert not a.accepted and a.blocked_by == "cooldown"
    assert a.new_policy == free.new_policy and a.proposal.requested_ppm == free.proposal.requested_ppm
    assert "would lower 588 → 441 ppm (-25 %, capped by the max step" in a.reason
    assert "blocked by cooldown: changed 12 min ago; cooldown 24 h (23 h 48 min left)" in a.reason
    assert "0.0 h" not in a.reason
    assert not evaluate(mk.snapshot(full_idle(mk, age_days=40)), COOLED, history, None, mk.NOW).accepted


@given(st.integers(0, 24 * 3600 - 1), st.sampled_from([0.25, 1, 6, 24, 48]))
def test_cooldown_text_says_the_time_in_units_a_person_reads(mk, seconds_ago, hours):
    s = dataclasses.replace(S, anti_oscillation=dataclasses.replace(S.anti_oscillation, cooldown_hours=hours))
    ch = mk.channel(chan_id="1", local=150_000, ppm=400)  # low, not drained: the daily cooldown applies
    p = guardrails.check(FeeIntent(INCREASE_FEES, 400, 460, 0.5), ch,
                         [ChangeRecord("1", mk.NOW - seconds_ago, 380, 400)], s, mk.NOW)
    if seconds_ago >= hours * 3600:
        assert p.blocked_by != "cooldown"
        return
    message = p.notes[-1].message
    assert p.blocked_by == "cooldown" and p.new_policy.ppm == 460
    assert re.fullmatch(r"changed (just now|(\d+ (s|min)|\d+ h( \d+ min)?) ago); cooldown \d+ (h|min) "
                        r"\((\d+ (s|min)|\d+ h( \d+ min)?|[\d.]+ days?) left\)", message), message
    assert "0.0" not in message


def test_durations():
    f = labels.fmt_duration
    assert [f(0), f(40), f(12 * 60 + 5), f(5.5 * 3600), f(23 * 3600 + 48 * 60 + 59), f(2_592_125), f(3.5 * DAY)] == [
        "0 s", "40 s", "12 min", "5 h 30 min", "23 h 48 min", "30 days", "3.5 days"]
    assert [labels.fmt_days(1), labels.fmt_days(0.25), labels.fmt_days(14)] == ["1 day", "6 h", "14 days"]
    assert [labels.fmt_hours(24), labels.fmt_hours(0.5), labels.fmt_hours(1.5)] == ["24 h", "30 min", "1.5 h"]


# --- the score's role ---------------------------------------------------------------------


def test_score_role_follows_the_fee_mode(mk):
    ch = mk.channel(chan_id="3", local=500_000, ppm=200, flow=mk.flows(out1=200_000, in1=190_000))
    flow = one(mk, ch).score_role
    assert "flow controller" in flow and "not from the score" in flow and "close advice (below 0.30" in flow
    assert "It sets the fee: raise below 0.30" in one(mk, ch, mode("score")).score_role
    # without a market price for the peer the controller still sets the fee
    fallback = one(mk, ch, graph=False).score_role
    assert "not from the score" in fallback and "no market price for this peer" in fallback


# --- rebalance advice only when it can be paid for ------------------------------------------


def drained_with_demand(mk, ppm=400, peer_fee=50, out30=900_000, **kw):
    return mk.channel(chan_id="1", local=50_000, ppm=ppm, flow=mk.flows(out7=300_000, out30=out30),
                      peer_policy=mk.policy(peer_fee, 0), **kw)


def source(mk, local=950_000, chan_id="9", capacity=1_000_000):
    return mk.channel(chan_id=chan_id, peer="n05", capacity=capacity, local=local, ppm=10, flow=mk.flows())


def check_rebalance(mk, ch, others, graph=False):
    g = mk.clique_graph() if graph else None
    metrics = compute_graph_metrics(g, mk.US, S.graph) if g is not None else None
    ctx = ChannelContext(channel=ch, settings=S, now=mk.NOW, block_height=mk.HEIGHT, history=(), metrics=metrics,
                         peer=metrics.node(ch.peer_id) if metrics else None)
    return advise_rebalance(ctx, refill_sources((ch, *others), S))


def test_rebalance_advised_when_the_budget_buys_a_route(mk):
    # 450 k sat at 400 ppm earn 180 sat in 30 days; half is 90 sat = 200 ppm >= the peer's 50 ppm
    r = check_rebalance(mk, drained_with_demand(mk), [source(mk)])
    assert r.withheld is None and r.advice.kind == REBALANCE
    assert (r.advice.amount_sat, r.advice.max_fee_sat, r.advice.max_fee_ppm) == (450_000, 90, 200)
    assert r.advice.evidence["route_min_ppm"] == 50
    a = one(mk, drained_with_demand(mk), graph=False, others=(source(mk),))
    assert [x.kind for x in a.advice] == [REBALANCE] and a.advice_withheld is None


def test_rebalance_withheld_when_it_would_earn_too_little(mk):
    """The issue's advice: "move 2.0 M sat in, paying at most 1 sat (0 ppm)" — nobody can act on it."""
    ch = mk.channel(chan_id="1", capacity=5_000_000, local=100_000, ppm=1, flow=mk.flows(out7=1_000, out30=3_000),
                    peer_policy=mk.policy(0, 0))
    big = source(mk, local=4_900_000, capacity=5_000_000)
    r = check_rebalance(mk, ch, [big])
    assert r.advice is None
    assert r.withheld == ("No rebalance: moving 2.0 M sat would earn about 0 sat in 30 days, "
                          "too little to pay for it")
    a = one(mk, ch, graph=False, others=(big,))
    assert not a.advice and a.advice_withheld.startswith("No rebalance: moving")
    assert a.to_dict()["advice_withheld"] == a.advice_withheld


def test_rebalance_withheld_when_the_budget_cannot_pay_a_route(mk):
    # 200 ppm of budget against a route of the competitors' 200 ppm into the peer + its own 50 ppm
    r = check_rebalance(mk, drained_with_demand(mk), [source(mk)], graph=True)
    assert r.advice is None
    assert r.withheld == ("No rebalance: moving 450 k sat would earn about 180 sat in 30 days, enough for 200 ppm; "
                          "a route in through this peer costs at least 250 ppm")
    # a dearer channel's budget does pay it
    assert check_rebalance(mk, drained_with_demand(mk, ppm=600), [source(mk)], graph=True).advice.max_fee_ppm == 300


def test_rebalance_withheld_without_a_source_that_has_spare_liquidity(mk):
    r = check_rebalance(mk, drained_with_demand(mk), [source(mk, local=550_000)])  # below 60 % outbound
    assert r.advice is None and r.withheld == (
        "No rebalance: no channel to another peer has spare outbound liquidity to send (needs 60 % or more outbound)")
    same_peer = mk.channel(chan_id="9", peer="n01", local=950_000, flow=mk.flows())  # moving to itself: no refill
    assert check_rebalance(mk, drained_with_demand(mk), [same_peer]).withheld == r.withheld
    small = check_rebalance(mk, drained_with_demand(mk), [source(mk, local=120_000, capacity=200_000)])  # 20 k spare
    assert small.advice is None and "20 k sat spare in all" in small.withheld
    part = check_rebalance(mk, drained_with_demand(mk), [source(mk, local=800_000)])  # 300 k sat spare
    assert part.advice.amount_sat == 300_000 and part.advice.sources == ("9",)


def test_no_rebalance_and_nothing_withheld_when_none_is_needed(mk):
    balanced = mk.channel(chan_id="1", local=500_000, flow=mk.flows(out7=300_000))
    idle_drained = mk.channel(chan_id="1", local=50_000, flow=mk.flows())
    for ch in (balanced, idle_drained):
        r = check_rebalance(mk, ch, [source(mk)])
        assert r.advice is None and r.withheld is None


@hsettings(deadline=None)
@given(st.integers(1, 5000), st.integers(1, 10**7), st.integers(0, 2000), st.integers(600_000, 1_000_000),
       st.booleans())
def test_rebalance_advice_is_always_payable(mk, ppm, out30, peer_fee, source_local, with_graph):
    """A drained channel with demand gets either advice whose budget is at least 1 sat and the
    route's minimum ppm, never more than it earns back, or a reason why not; never both."""
    ch = drained_with_demand(mk, ppm=ppm, peer_fee=peer_fee, out30=out30)
    r = check_rebalance(mk, ch, [source(mk, local=source_local)], graph=with_graph)
    assert (r.advice is None) != (r.withheld is None)
    if r.advice is not None:
        ev = r.advice.evidence
        assert r.advice.max_fee_sat >= 1 and r.advice.max_fee_ppm >= ev["route_min_ppm"] >= 1
        assert r.advice.max_fee_sat <= ev["expected_earn_sat"]
        assert r.advice.amount_sat <= ev["sources_spare_sat"]
    else:
        assert r.withheld.startswith("No rebalance: ")


# --- evidence in plain units -------------------------------------------------------------------


def _emitted_keys():
    """Every evidence key heuristics.py can emit, read from its source: keyword arguments of
    _result/_unknown and of evidence.update, and the keys of dict literals bound to `evidence`."""
    tree = ast.parse(Path(__file__).resolve().parents[2].joinpath("engine", "heuristics.py").read_text())
    keys = collections.defaultdict(set)
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef) or fn.name not in {name for name, _ in HEURISTICS}:
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else \
                    node.func.attr if isinstance(node.func, ast.Attribute) else ""
                if name in ("_result", "_unknown", "update"):
                    keys[fn.name] |= {k.arg for k in node.keywords if k.arg}
            if isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Dict):
                keys[fn.name] |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    return keys


def test_every_evidence_key_a_heuristic_emits_has_a_label():
    keys = _emitted_keys()
    assert set(keys) == {name for name, _ in HEURISTICS} and sum(len(v) for v in keys.values()) >= 40, keys
    for heuristic, names in keys.items():
        assert labels.unlabelled(heuristic, dict.fromkeys(names, 1)) == [], heuristic


def test_evidence_text_uses_human_units():
    rows = labels.evidence_text("uptime", {"uptime_ratio": 0.9731, "lifetime_s": 2_592_125, "peer_online": True,
                                           "flap_count": 3, "flaps_per_day": 0.1})
    assert rows == [{"label": "Peer online", "value": "97 % of the time"},
                    {"label": "Monitored for", "value": "30 days"},
                    {"label": "Peer online now", "value": "yes"},
                    {"label": "Reconnects", "value": "3"},
                    {"label": "Reconnects per day", "value": "0.10 a day"}]
    central = dict((r["label"], r["value"]) for r in labels.evidence_text(
        "centrality", {"exact": False, "samples": 500, "betweenness_pct": 0.873}))
    assert central == {"Betweenness": "estimated", "Betweenness sampled from": "500 nodes",
                       "Peer's betweenness rank": "above 87 % of nodes"}
    assert labels.evidence_text("centrality", {"exact": True})[0] == {"label": "Betweenness", "value": "exact"}
    liq = labels.evidence_text("liquidity", {"local_share": 0.05, "local_sat": 1_234_567})
    assert [r["value"] for r in liq] == ["5 %", "1,234,567 sat"]
    stab = labels.evidence_text("stability", {"age_days": 0.5, "days_since_change": None})
    assert stab == [{"label": "Channel age", "value": "12 h"}, {"label": "Since the last fee change", "value": "never changed"}]
    assert labels.evidence_text("peer_quality", {"capacity_sat": 10})[0]["label"] == "Peer's capacity"
    assert labels.evidence_text("activity", {"fees_earned_msat": 1_500, "annual_yield": 0.0123})[0]["value"] == "1.5 sat"
    # an unknown key still shows, in words
    assert labels.evidence_text("uptime", {"new_thing_s": 3}) == [{"label": "New thing s", "value": "3"}]
