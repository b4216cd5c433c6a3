"""Property tests: over random snapshots, histories and settings the engine never
raises, is deterministic, and every proposal is what the guardrail rules say — no
accepted proposal breaks a rule, none is blocked without one — also across many
simulated cycles (cooldown, two-per-day and reversal limits over the growing log).

The rules are judged by `guardrail_oracle`, written from their definitions and
independent of engine.guardrails / engine.history / engine.decisions. Each property
counts what it exercised itself and fails when that was too little (no test depends
on another having run)."""

from __future__ import annotations

import collections
import dataclasses
import json

from hypothesis import HealthCheck, assume, given, settings as hsettings, strategies as st

from engine.evaluate import evaluate
from engine.graph_metrics import compute_graph_metrics
from engine.settings import ChannelOverride, EngineSettings
from engine.snapshot import ACTIVE, CHANNEL_STATES, Channel, ChangeRecord, FlowStats, GraphEdge, NetworkGraph, NodeSnapshot, Policy
from tests.engine import guardrail_oracle as oracle

US = "02" + "aa" * 32
NOW = 1_700_000_000
HEIGHT = 800_000
DAY = 86_400
CHAN_IDS = [f"c{i}" for i in range(8)]
PEERS = [f"n{i:02d}" for i in range(6)]
SMALL = st.integers(0, 10)

policies = st.builds(Policy, base_msat=st.integers(0, 10_000), ppm=st.integers(0, 10_000),
                     cltv_delta=st.integers(0, 200), min_htlc_msat=st.integers(0, 10_000),
                     max_htlc_msat=st.integers(0, 10**10), disabled=st.booleans(),
                     inbound_base_msat=st.integers(-1000, 0), inbound_ppm=st.integers(-1000, 0))
flowstats = st.builds(FlowStats, days=st.just(0), forwards_out=SMALL, forwards_in=SMALL,
                      volume_out_sat=st.integers(0, 10**8), volume_in_sat=st.integers(0, 10**8),
                      fees_earned_msat=st.integers(0, 10**8), fees_assisted_msat=st.integers(0, 10**8))


@st.composite
def channels(draw, chan_id):
    capacity = draw(st.integers(0, 10**8))
    local = draw(st.integers(0, capacity))
    flow = {d: dataclasses.replace(draw(flowstats), days=d)
            for d in draw(st.sets(st.sampled_from([1, 7, 30])))}
    return Channel(
        chan_id=chan_id, short_id=draw(st.sampled_from(["", f"1x{chan_id}x0"])), channel_point="x:0",
        peer_id=draw(st.sampled_from(PEERS)), peer_alias="", state=draw(st.sampled_from((ACTIVE, ACTIVE, ACTIVE) + CHANNEL_STATES)),
        capacity_sat=capacity, local_sat=local,
        remote_sat=draw(st.sampled_from([capacity - local, 0, capacity])),
        local_policy=draw(policies if draw(st.integers(0, 9)) else st.none()), peer_policy=draw(st.none() | policies),
        funding_height=draw(st.none() | st.integers(0, HEIGHT + 10)),
        uptime_s=draw(st.none() | st.integers(0, 10**7)), lifetime_s=draw(st.none() | st.integers(0, 10**7)),
        peer_online=draw(st.none() | st.booleans()), peer_flap_count=draw(st.none() | st.integers(0, 100)),
        flow=flow, failed_out_1d=draw(st.none() | SMALL), failed_out_amount_1d_sat=draw(st.none() | st.integers(0, 10**7)),
    )


@st.composite
def snapshots(draw):
    ids = draw(st.lists(st.sampled_from(CHAN_IDS), unique=True, max_size=6))
    chans = tuple(draw(channels(i)) for i in ids)
    graph = None
    if draw(st.booleans()):
        nodes = PEERS + [US, "m1", "m2"]
        pairs = draw(st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), max_size=25))
        edges = tuple(GraphEdge(f"{k}x0x0", *sorted((a, b)), draw(st.integers(0, 10**7)),
                                draw(st.none() | policies), draw(st.none() | policies))
                      for k, (a, b) in enumerate(pairs))
        graph = NetworkGraph(edges=edges, fingerprint=f"g{len(edges)}")
    return NodeSnapshot(node_id=US, alias="us", taken_at=NOW, block_height=draw(st.none() | st.just(HEIGHT)),
                        channels=chans, graph=graph)


# distinct times: the order of two changes of one channel in the same second is not defined
def histories(ids=CHAN_IDS):
    return st.lists(st.builds(ChangeRecord, chan_id=st.sampled_from(list(ids) + ["1xc1x0", "1xc2x0", "c9"]),
                              at=st.one_of(st.integers(NOW - 2 * DAY, NOW + 3600),  # recent: cooldown, daily
                                           st.integers(NOW - 20 * DAY, NOW)),
                              old_ppm=st.integers(0, 3000), new_ppm=st.integers(0, 3000)),
                    max_size=10, unique_by=lambda r: r.at)


def with_history(snapshot):
    """The snapshot and a change log that is mostly about its own channels."""
    ids = [i for c in snapshot.channels for i in (c.chan_id, c.short_id) if i]
    return st.tuples(st.just(snapshot), histories(ids or CHAN_IDS))


SHORT_IDS = [f"1x{c}x0" for c in CHAN_IDS]


def some(names, most, one_in=4):
    """Mostly empty (most channels must pass the selection rules for the others to be reached)."""
    return st.sampled_from([False] * (one_in - 1) + [True]).flatmap(
        lambda on: st.lists(st.sampled_from(names), min_size=1, max_size=most) if on else st.just([]))


@st.composite
def engine_settings(draw):
    base = EngineSettings()
    lo = draw(st.integers(0, 500))
    hi = draw(st.integers(lo, 6000))
    blo = draw(st.integers(0, 2000))
    overrides = {}
    for chan in draw(st.lists(st.sampled_from(CHAN_IDS + SHORT_IDS), unique=True, max_size=3)):
        olo = draw(st.integers(0, 1000))
        obase = draw(st.none() | st.integers(0, 3000))
        overrides[chan] = ChannelOverride(min_ppm=olo, max_ppm=draw(st.none() | st.integers(olo, 3000)),
                                          min_base_msat=obase,
                                          max_base_msat=draw(st.none() | st.integers(obase or 0, 4000)),
                                          pinned=draw(st.booleans()))
    g = dataclasses.replace(
        base.guardrails, min_ppm=lo, max_ppm=hi, min_base_msat=blo, max_base_msat=draw(st.integers(blo, 6000)),
        max_step_pct=draw(st.floats(0.01, 1.0)), max_step_ppm=draw(st.integers(0, 1000)),
        step_floor_ppm=draw(st.integers(0, 100)),
        pinned_channels=tuple(draw(some(CHAN_IDS + SHORT_IDS, 2))),
        deny_channels=tuple(draw(some(CHAN_IDS + SHORT_IDS, 2))),
        deny_peers=tuple(draw(some(PEERS, 2))),
        allow_peers=tuple(draw(some(PEERS, 4, one_in=8))),
        allow_channels=tuple(draw(some(CHAN_IDS + SHORT_IDS, 4, one_in=8))),
        only_active=draw(st.booleans()), max_changes_per_run=draw(st.integers(0, 6)), channel_overrides=overrides)
    ao = dataclasses.replace(base.anti_oscillation, cooldown_hours=draw(st.floats(0, 48)),
                             max_updates_per_day=draw(st.integers(1, 2)), min_change_ppm=draw(st.integers(0, 50)),
                             min_change_pct=draw(st.floats(0, 0.3)), max_reversals=draw(st.integers(0, 3)),
                             urgent_share=draw(st.sampled_from([0.0, 0.1, 0.3])),
                             urgent_cooldown_hours=draw(st.floats(0, 6)),
                             urgent_max_step_pct=draw(st.sampled_from([0.0, 0.5, 2.0])))
    weights = dataclasses.replace(base.weights, **{k: draw(st.floats(0, 1)) for k in base.weights.as_dict()})
    dec = dataclasses.replace(base.decisions,
                              direction_source=draw(st.sampled_from(["flow", "score"])),
                              step_gain=draw(st.floats(0.01, 3)),
                              flow_gain=draw(st.floats(0, 3)), flow_dead_band=draw(st.floats(0, 0.5)),
                              flow_window_days=draw(st.sampled_from([1, 7, 30])))
    s = dataclasses.replace(base, guardrails=g, anti_oscillation=ao, weights=weights, decisions=dec)
    assume(s.validate() == [])
    return s


def run(snapshot, settings, history, with_metrics=True, now=NOW):
    metrics = compute_graph_metrics(snapshot.graph, snapshot.node_id, settings.graph) if with_metrics else None
    return evaluate(snapshot, settings, history, metrics, now)


def check_invariants(evaluation, snapshot, settings, history, now, seen):
    """The oracle's verdict on one evaluation; counts what was exercised into `seen`."""
    for channel in snapshot.channels:
        a = evaluation.channel(channel.chan_id)
        assert a is not None and a.reason
        if a.score is not None:
            assert 0.0 <= a.score <= 1.0 and 0.0 <= a.confidence <= 1.0
        if a.proposal is not None:
            seen["accepted" if a.proposal.accepted else a.proposal.blocked_by] += 1
    assert oracle.evaluation_problems(evaluation, snapshot, settings, history, now) == {}


@st.composite
def dynamics(draw):
    """A channel's balance and flows for one cycle, so directions come and go between cycles."""
    flow = {d: dataclasses.replace(draw(flowstats), days=d) for d in draw(st.sets(st.sampled_from([1, 7, 30])))}
    return draw(st.sampled_from([0.0, 0.03, 0.97, 1.0])), flow  # drained or full: a clear direction


def test_never_raises_deterministic_and_guarded():
    seen = collections.Counter()

    @hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(snapshots().flatmap(with_history), engine_settings(), st.booleans())
    def prop(snapshot_history, settings, with_metrics):
        snapshot, history = snapshot_history
        first = run(snapshot, settings, history, with_metrics)
        second = run(snapshot, settings, list(reversed(history)), with_metrics)
        assert json.dumps(first.to_dict(), sort_keys=True) == json.dumps(second.to_dict(), sort_keys=True)
        check_invariants(first, snapshot, settings, history, NOW, seen)

    prop()
    # not vacuous: accepted proposals and blocks by the history rules were judged
    assert seen["accepted"] >= 30, seen
    assert seen["cooldown"] + seen["max_updates_per_day"] + seen["max_reversals"] >= 10, seen


def test_cooldown_daily_and_reversal_limits_hold_over_many_cycles():
    """Apply every accepted change, advance time, let balances and flows move, repeat: each
    change judged against the log before it, and the final log as a whole, respect the
    cooldown, the per-day cap and the reversal limit."""
    seen = collections.Counter()

    @hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(snapshots(), engine_settings(), st.floats(0, 12), st.integers(1, 2), st.integers(0, 1),
           st.lists(st.tuples(st.integers(600, 14 * 3600), st.lists(dynamics(), min_size=6, max_size=6)),
                    min_size=8, max_size=20))
    def prop(snapshot, settings, cooldown_hours, per_day, max_reversals, cycles):
        # every channel may change, with the default step, bounds and dead band (those have
        # their own tests): the log grows and directions come and go; only the history rules vary
        settings = dataclasses.replace(
            settings,
            anti_oscillation=dataclasses.replace(EngineSettings().anti_oscillation, cooldown_hours=cooldown_hours,
                                                 max_updates_per_day=per_day, max_reversals=max_reversals),
            guardrails=dataclasses.replace(EngineSettings().guardrails, only_active=False))
        snapshot = dataclasses.replace(snapshot, channels=tuple(
            dataclasses.replace(c, state=c.state if c.state in (ACTIVE, "inactive") else ACTIVE,
                                local_policy=c.local_policy or c.peer_policy or Policy(1000, 100, 40, 1000, 10**9))
            for c in snapshot.channels))
        history = []
        applied_to = {}
        now = NOW
        for gap, moves in cycles:
            channels = []
            for channel, (share, flow) in zip(snapshot.channels, moves):
                local = int(channel.capacity_sat * share)
                channels.append(dataclasses.replace(channel, local_sat=local, remote_sat=channel.capacity_sat - local,
                                                    flow=flow))
            snapshot = dataclasses.replace(snapshot, channels=tuple(channels))
            evaluation = run(snapshot, settings, history, with_metrics=False, now=now)
            check_invariants(evaluation, snapshot, settings, history, now, seen)
            new_channels = []
            for channel in snapshot.channels:
                a = evaluation.channel(channel.chan_id)
                if a.accepted:
                    history.append(ChangeRecord(channel.chan_id, now, a.old_policy.ppm, a.new_policy.ppm,
                                                a.old_policy.base_msat, a.new_policy.base_msat))
                    applied_to[(channel.chan_id, now)] = channel  # its balance then decides "urgent"
                    channel = dataclasses.replace(channel, local_policy=a.new_policy)
                new_channels.append(channel)
            snapshot = dataclasses.replace(snapshot, channels=tuple(new_channels))
            now += gap
        ao = settings.anti_oscillation
        for channel in snapshot.channels:
            log = oracle.channel_records(history, channel)
            for i, change in enumerate(log):
                before = log[:i]
                urgent = oracle.is_urgent(applied_to[(channel.chan_id, change.at)],
                                          oracle.sign(change.new_ppm - change.old_ppm), settings)
                cooldown = min(ao.cooldown_hours, ao.urgent_cooldown_hours) if urgent else ao.cooldown_hours
                seen["urgent"] += urgent and any(change.at - r.at < ao.cooldown_hours * 3600 for r in before)
                assert all(change.at - r.at >= cooldown * 3600 for r in before), (channel.chan_id, log)
                assert sum(1 for r in log[:i + 1] if r.at > change.at - DAY) <= ao.max_updates_per_day
                flips, _ = oracle.reversal_state(log[:i + 1], change.at, settings)
                assert flips <= ao.max_reversals, (channel.chan_id, flips, log)
                seen["reversal applied"] += flips > oracle.reversal_state(before, change.at, settings)[0]

    prop()
    # not vacuous: changes applied, reversals applied, and reversals refused by the limit
    assert seen["accepted"] >= 100 and seen["reversal applied"] >= 3 and seen["max_reversals"] >= 5, seen
    assert seen["urgent"] >= 1, seen  # urgent steps inside the daily cooldown were applied and judged


def test_no_sequence_of_cycles_proposes_an_update_the_relay_bucket_would_refuse():
    """Cycles at random times (a minute to 14 h apart), with balances and flows that move and
    external changes at random times to random fees; every accepted change is applied and fed
    back as history. With the relay budget as the only rate rule (no cooldown, no daily count), the
    oracle's bucket — written from the rule, not from the engine — relays every change the
    engine proposed, each one at least 10 minutes after the channel's previous change."""
    seen = collections.Counter()

    @hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(snapshots(), st.sampled_from([(1.0, 12.0, 48.0), (1.0, 12.0, 12.0), (0.25, 24.0, 48.0)]),
           st.lists(st.tuples(st.integers(60, 14 * 3600), st.lists(dynamics(), min_size=6, max_size=6),
                              st.lists(st.tuples(st.integers(0, 5), st.integers(1, 3599), st.integers(0, 3000)),
                                       max_size=2)),
                    min_size=10, max_size=30))
    def prop(snapshot, bucket, cycles):
        rate, per_update, most = bucket
        base = EngineSettings()
        settings = dataclasses.replace(
            base, anti_oscillation=dataclasses.replace(base.anti_oscillation, relay_tokens_per_hour=rate,
                                                       relay_tokens_per_update=per_update, relay_bucket_max=most,
                                                       cooldown_hours=0, max_updates_per_day=0, max_reversals=1000),
            guardrails=dataclasses.replace(base.guardrails, only_active=False))
        snapshot = dataclasses.replace(snapshot, channels=tuple(
            dataclasses.replace(c, state=c.state if c.state in (ACTIVE, "inactive") else ACTIVE,
                                local_policy=c.local_policy or c.peer_policy or Policy(1000, 100, 40, 1000, 10**9))
            for c in snapshot.channels))
        history: list = []
        ours: list = []
        now = NOW
        for gap, moves, external in cycles:
            channels = []
            for channel, (share, flow) in zip(snapshot.channels, moves):
                local = int(channel.capacity_sat * share)
                channels.append(dataclasses.replace(channel, local_sat=local, remote_sat=channel.capacity_sat - local,
                                                    flow=flow))
            snapshot = dataclasses.replace(snapshot, channels=tuple(channels))
            evaluation = run(snapshot, settings, history, with_metrics=False, now=now)
            new_channels = []
            for channel in snapshot.channels:
                a = evaluation.channel(channel.chan_id)
                if a.proposal is not None and not a.accepted:
                    seen[a.proposal.blocked_by] += 1
                if a.accepted:
                    log = oracle.channel_records(history, channel)
                    assert oracle.relayed(log, now, settings), (channel.chan_id, now, log)
                    assert all(now - r.at >= 600 for r in log), (channel.chan_id, now, log)
                    record = ChangeRecord(channel.chan_id, now, a.old_policy.ppm, a.new_policy.ppm,
                                          a.old_policy.base_msat, a.new_policy.base_msat)
                    history.append(record)
                    ours.append(record)
                    channel = dataclasses.replace(channel, local_policy=a.new_policy)
                    seen["accepted"] += 1
                new_channels.append(channel)
            snapshot = dataclasses.replace(snapshot, channels=tuple(new_channels))
            # changes made outside the engine, inside the gap: they spend the same bucket
            for index, offset, ppm in external:
                if index >= len(snapshot.channels) or offset >= gap:
                    continue
                channel = snapshot.channels[index]
                at = now + offset
                if any(r.at == at for r in oracle.channel_records(history, channel)):
                    continue
                old = channel.local_policy
                history.append(ChangeRecord(channel.chan_id, at, old.ppm, ppm, old.base_msat, old.base_msat,
                                            by_autopilot=False))
                snapshot = dataclasses.replace(snapshot, channels=tuple(
                    dataclasses.replace(c, local_policy=old.with_fees(old.base_msat, ppm)) if c is channel else c
                    for c in snapshot.channels))
                seen["external"] += 1
            now += gap
        # the whole log replayed at the end: each of our changes found the tokens it needed
        for record in ours:
            channel = next(c for c in snapshot.channels if c.chan_id == record.chan_id)
            before = [r for r in oracle.channel_records(history, channel) if r.at < record.at]
            assert oracle.relayed(before, record.at, settings), (record, before)

    prop()
    # not vacuous: changes made, the budget refused some, external changes spent it
    assert seen["accepted"] >= 100 and seen["relay_budget"] >= 20 and seen["external"] >= 20, seen
