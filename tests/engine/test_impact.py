"""engine/impact.py: the summary's windows and the impact of applied changes.

The properties judge the module against oracles written from the rules in its docstring
(a plain filter over the forwards, a per-second integral of the local share), never
against its own index."""

from __future__ import annotations

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from engine.impact import (
    DAY,
    IMPACT_WINDOW_S,
    AppliedChange,
    Forward,
    ForwardIndex,
    ShareSample,
    Totals,
    change_impact,
    channel_counts,
    forwards_from_lnd,
    period_windows,
    periods_from_totals,
    run_impact,
    time_average_share,
    yield_annual_pct,
)
from engine.snapshot import ACTIVE, CLOSED, INACTIVE, PENDING, Channel


def periods(forwards, now):
    """The summary's periods as the shell builds them: each of `period_windows` totalled (here by
    the module's own index; the shell asks the database), then `periods_from_totals`."""
    index = ForwardIndex(forwards)
    return periods_from_totals([index.totals(start, end) for start, end in period_windows(now)])

NOW = 1_700_000_000
CHANS = ("c1", "c2", "c3")


def fwd(at: int, chan: str = "c1", fee: int = 1000, amt: int = 100_000_000) -> Forward:
    return Forward(at=at, chan_out=chan, fee_msat=fee, amt_out_msat=amt)


def oracle(forwards, start: int, end: int, chan=None) -> Totals:
    chosen = [f for f in forwards if start <= f.at < end and (chan is None or f.chan_out == chan)]
    return Totals(len(chosen), sum(f.fee_msat for f in chosen), sum(f.amt_out_msat // 1000 for f in chosen))


def channel(state=ACTIVE, local=500, remote=500, capacity=1000, chan_id="c1") -> Channel:
    return Channel(chan_id=chan_id, short_id="1x1x1", channel_point="tx:0", peer_id="02" + "bb" * 32,
                   peer_alias="peer", state=state, capacity_sat=capacity, local_sat=local, remote_sat=remote)


# --- parsing -----------------------------------------------------------------------------------------


def test_forwards_from_lnd_reads_the_second_as_ingest_lnd_does():
    events = [
        {"timestamp_ns": str(NOW * 10**9 + 999_999_999), "timestamp": str(NOW - 5), "chan_id_out": 42,
         "fee_msat": "1500", "amt_out_msat": "2000999"},
        {"timestamp": str(NOW - 7), "chan_id_out": "43", "fee_msat": "0", "amt_out_msat": "1"},
        {"timestamp_ns": "", "timestamp": str(NOW - 9), "chan_id_out": "44"},
    ]
    assert forwards_from_lnd(events) == [
        Forward(NOW, "42", 1500, 2_000_999),
        Forward(NOW - 7, "43", 0, 1),
        Forward(NOW - 9, "44", 0, 0),
    ]


# --- the summary -----------------------------------------------------------------------------------------


def test_periods_include_now_and_split_at_the_window_edge():
    forwards = [
        fwd(NOW, fee=1),                 # now: in the current day
        fwd(NOW - DAY, fee=10),          # the day's first second: current
        fwd(NOW - DAY - 1, fee=100),     # the day before
        fwd(NOW - 2 * DAY, fee=1000),    # the day before's first second
        fwd(NOW - 2 * DAY - 1, fee=10_000),  # outside both 1-day windows
        fwd(NOW + 1, fee=100_000),       # the future: in no window
    ]
    day, week, month = periods(forwards, NOW)
    assert (day.key, day.label, day.days) == ("1d", "Last 24 h", 1)
    assert (week.key, week.days, month.key, month.days) == ("7d", 7, "30d", 30)
    assert day.current == Totals(2, 11, 200_000)
    assert day.previous == Totals(2, 1100, 200_000)
    assert day.current.fees_sat == 0.011
    assert day.change_pct == pytest.approx((11 - 1100) / 1100 * 100)
    assert week.current == Totals(5, 11_111, 500_000) and week.previous == Totals()
    assert week.change_pct is None
    assert min(start for start, _ in period_windows(NOW)) == NOW - 60 * DAY  # the summary reaches 60 days back


def test_yield_is_annualised_30_day_fees_on_capacity():
    assert yield_annual_pct(30_000_000, 1_000_000, 30) == pytest.approx(30_000 / 1_000_000 * 365 / 30 * 100)
    assert yield_annual_pct(5, 0, 30) is None


def test_channel_counts_use_the_engine_share_and_only_open_channels():
    counts = channel_counts(
        [
            channel(ACTIVE, local=100, remote=900),     # 0.10: drained below 0.15
            channel(ACTIVE, local=150, remote=850),     # 0.15: not below
            channel(INACTIVE, local=900, remote=100),   # 0.90: full above 0.85
            channel(ACTIVE, local=850, remote=150),     # 0.85: not above
            channel(PENDING, local=0, remote=1000),
            channel(CLOSED, local=0, remote=1000),
        ],
        drained_below=0.15,
        full_above=0.85,
    )
    assert (counts.open, counts.active, counts.drained, counts.full, counts.capacity_sat) == (4, 3, 1, 1, 4000)


forward_lists = st.lists(
    st.builds(
        Forward,
        at=st.integers(NOW - 70 * DAY, NOW + DAY),
        chan_out=st.sampled_from(CHANS),
        fee_msat=st.integers(0, 10**7),
        amt_out_msat=st.integers(0, 10**10),
    ),
    max_size=60,
)


@hsettings(max_examples=150, deadline=None)
@given(forward_lists, st.integers(-3, 3))
def test_periods_equal_a_plain_filter(forwards, jitter):
    # Forwards on the windows' edges, where an off-by-one shows.
    edges = [fwd(NOW - d * DAY + jitter, chan) for d in (0, 1, 2, 7, 14, 30, 60) for chan in CHANS[:1]]
    forwards = forwards + edges
    for p in periods(forwards, NOW):
        span = p.days * DAY
        assert p.current == oracle(forwards, NOW - span, NOW + 1)
        assert p.previous == oracle(forwards, NOW - 2 * span, NOW - span)


# --- impact of a change ------------------------------------------------------------------------------


def test_a_change_applied_just_now_has_empty_windows():
    index = ForwardIndex([fwd(NOW - 10), fwd(NOW)])
    impact = change_impact(index, AppliedChange("x", "c1", NOW), NOW, [ShareSample(NOW - 10, 0.5)])
    assert impact.window_s == 0 and not impact.complete
    assert impact.before.totals == impact.after.totals == Totals()
    assert (impact.before.start, impact.before.end, impact.after.start, impact.after.end) == (NOW,) * 4
    assert impact.before.local_share is None and impact.after.local_share is None
    assert impact.superseded_at is None


def test_impact_counts_only_the_channels_outgoing_forwards_on_both_sides():
    at = NOW - 2 * DAY
    forwards = [
        fwd(at - 2 * DAY, fee=1),        # the before-window's first second
        fwd(at - 2 * DAY - 1, fee=2),    # just outside
        fwd(at - 1, fee=4),              # before
        fwd(at, fee=8),                  # after (the change's second)
        fwd(NOW - 1, fee=16),            # after
        fwd(NOW, fee=32),                # at + w: outside
        fwd(at, chan="c2", fee=64),      # another channel
    ]
    impact = change_impact(ForwardIndex(forwards), AppliedChange("x", "c1", at, later_at=(at + DAY,)), NOW)
    assert impact.window_s == 2 * DAY and not impact.complete
    assert impact.before.totals.fees_msat == 5 and impact.before.totals.forwards == 2
    assert impact.after.totals.fees_msat == 24 and impact.after.totals.forwards == 2
    assert impact.after.totals.volume_sat == 200_000
    assert impact.superseded_at == at + DAY


def test_impact_is_complete_after_seven_days_and_the_windows_stop_growing():
    at = NOW - 9 * DAY
    impact = change_impact(ForwardIndex([fwd(at + 7 * DAY - 1), fwd(at + 7 * DAY)]), AppliedChange("x", "c1", at), NOW)
    assert impact.window_s == IMPACT_WINDOW_S and impact.complete
    assert (impact.after.start, impact.after.end) == (at, at + IMPACT_WINDOW_S)
    assert impact.after.totals.forwards == 1


def test_a_later_change_outside_the_after_window_does_not_supersede():
    at = NOW - 10 * DAY
    change = AppliedChange("x", "c1", at, later_at=(at + 7 * DAY, at + 8 * DAY))
    assert change_impact(ForwardIndex([]), change, NOW).superseded_at is None
    early = AppliedChange("x", "c1", at, later_at=(at + 8 * DAY, at + 3 * DAY))
    assert change_impact(ForwardIndex([]), early, NOW).superseded_at == at + 3 * DAY


def test_local_share_is_the_time_average_of_the_snapshots_inside():
    samples = [ShareSample(90, 0.9), ShareSample(100, 0.2), ShareSample(130, 0.8), ShareSample(200, 0.1)]
    # [100, 200): 0.2 for 30 s, 0.8 for 70 s; the samples at 90 and 200 are outside
    assert time_average_share(samples, 100, 200) == pytest.approx((0.2 * 30 + 0.8 * 70) / 100)
    assert time_average_share(samples, 101, 130) is None
    assert time_average_share(samples, 131, 140) is None
    assert time_average_share([ShareSample(150, 0.4)], 100, 200) == pytest.approx(0.4)


def share_oracle(samples, start, end):
    """Per second: the newest sample inside the window at or before it, from the first one on."""
    inside = [s for s in samples if start <= s.at < end]
    if not inside:
        return None
    values = []
    for second in range(start, end):
        seen = [s for s in inside if s.at <= second]
        if seen:
            newest = max(s.at for s in seen)
            values.append([s for s in seen if s.at == newest][-1].share)
    return sum(values) / len(values)


@hsettings(max_examples=200, deadline=None)
@given(
    st.lists(st.builds(ShareSample, at=st.integers(0, 120), share=st.floats(0, 1)), max_size=8, unique_by=lambda s: s.at),
    st.integers(0, 60),
    st.integers(1, 60),
)
def test_time_average_share_matches_a_per_second_oracle(samples, start, length):
    got = time_average_share(samples, start, start + length)
    expected = share_oracle(samples, start, start + length)
    assert (got is None) == (expected is None)
    if got is not None:
        assert got == pytest.approx(expected, abs=1e-9)


changes_at = st.integers(NOW - 12 * DAY, NOW)


@hsettings(max_examples=200, deadline=None)
@given(forward_lists, st.sampled_from(CHANS), changes_at, st.lists(st.integers(0, 9 * DAY), max_size=3))
def test_before_and_after_hold_exactly_the_channels_forwards_around_the_change(forwards, chan, at, later):
    # Forwards on every edge of the windows, of this channel and another.
    w = max(0, min(7 * DAY, NOW - at))
    for t in (at - w - 1, at - w, at - 1, at, at + w - 1, at + w):
        forwards = forwards + [fwd(t, chan, fee=7, amt=7000), fwd(t, "other", fee=9)]
    later_at = tuple(at + d for d in later)
    impact = change_impact(ForwardIndex(forwards), AppliedChange("x", chan, at, later_at), NOW)
    assert impact.window_s == w
    assert impact.complete == (NOW - at >= 7 * DAY)
    assert impact.before.totals == oracle(forwards, at - w, at, chan)
    assert impact.after.totals == oracle(forwards, at, at + w, chan)
    both = oracle(forwards, at - w, at + w, chan)
    assert impact.before.totals.fees_sat + impact.after.totals.fees_sat == pytest.approx(both.fees_msat / 1000)
    assert impact.before.totals.forwards + impact.after.totals.forwards == both.forwards
    inside = [t for t in later_at if at <= t < at + w]
    assert impact.superseded_at == (min(inside) if inside else None)
    if w == 0:
        assert impact.before.totals == impact.after.totals == Totals()


# --- impact of a run ------------------------------------------------------------------------------------


def test_a_run_without_applied_changes_has_no_impact():
    assert run_impact(ForwardIndex([fwd(NOW)]), [], NOW, {}) is None


@hsettings(max_examples=150, deadline=None)
@given(
    forward_lists,
    st.lists(st.tuples(st.sampled_from(CHANS), changes_at, st.one_of(st.none(), st.floats(0, 1))), min_size=1, max_size=4),
)
def test_a_run_sums_its_changes_over_the_smallest_window(forwards, specs):
    changes = [AppliedChange(f"x{i}", chan, at) for i, (chan, at, _) in enumerate(specs)]
    samples = {}
    for (chan, at, share) in specs:
        if share is not None:
            samples.setdefault(chan, []).append(ShareSample(at - 1, share))
    impact = run_impact(ForwardIndex(forwards), changes, NOW, samples)
    w = min(max(0, min(7 * DAY, NOW - c.at)) for c in changes)
    assert impact.window_s == w and impact.changes == len(changes)
    assert impact.at == min(c.at for c in changes)
    assert impact.complete == (w >= 7 * DAY)
    before, after = Totals(), Totals()
    for c in changes:
        before = before + oracle(forwards, c.at - w, c.at, c.chan_id)
        after = after + oracle(forwards, c.at, c.at + w, c.chan_id)
    assert impact.before.totals == before and impact.after.totals == after
    assert impact.before.start == min(c.at for c in changes) - w
    assert impact.after.end == max(c.at for c in changes) + w
    shares = [time_average_share(samples.get(c.chan_id, ()), c.at - w, c.at) for c in changes]
    shares = [s for s in shares if s is not None]
    if shares:
        assert impact.before.local_share == pytest.approx(sum(shares) / len(shares))
    else:
        assert impact.before.local_share is None
