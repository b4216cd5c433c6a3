"""series.py: a channel's day of points and scores, stored compact, reads back as it was written."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from series import (
    DAY_S, POINT_FIELDS, decode_points, decode_scores, encode_point, encode_score, kept_values, points_since,
    scores_since,
)

DAY = 1_796_256_000  # a UTC midnight

fees = st.sampled_from([0, 1, 100, 2500])
balances = st.one_of(st.none(), st.integers(0, 16_777_215))
point = st.fixed_dictionaries({"ppm": fees, "base_msat": fees, "local_sat": balances, "remote_sat": balances,
                               "capacity_sat": st.sampled_from([1_000_000, 5_000_000])})


def stored_row(times: list[int], points: list[dict]) -> str:
    """The row as runs append to it: each point short when it shares fee and capacity with the one before."""
    items, previous = [], None
    for at, p in zip(times, points):
        items.append(encode_point(at, p, previous))
        previous = kept_values(p)
    return ",".join(items)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, DAY_S - 1), point), min_size=1, max_size=30, unique_by=lambda t: t[0]))
def test_a_day_of_points_reads_back_as_written(day):
    day.sort(key=lambda t: t[0])
    times = [DAY + t for t, _ in day]
    points = [p for _, p in day]
    text = stored_row(times, points)
    assert decode_points(DAY, text) == [{"at": at, **{k: p[k] for k in POINT_FIELDS}} for at, p in zip(times, points)]
    since = times[len(times) // 2]
    kept = points_since(DAY, text, since)
    assert decode_points(DAY, kept) == [{"at": at, **{k: p[k] for k in POINT_FIELDS}}
                                        for at, p in zip(times, points) if at >= since]


def test_a_point_sharing_fee_and_capacity_is_stored_short_and_one_that_does_not_is_whole():
    first = {"ppm": 100, "base_msat": 1000, "local_sat": 600_000, "remote_sat": 400_000, "capacity_sat": 1_000_000}
    moved = {**first, "local_sat": 500_000, "remote_sat": 500_000}
    repriced = {**moved, "ppm": 120}
    assert json.loads(encode_point(DAY + 60, moved, kept_values(first))) == [60, 500_000, 500_000]
    assert json.loads(encode_point(DAY + 60, repriced, kept_values(first))) == [60, 120, 1000, 500_000, 500_000, 1_000_000]
    assert json.loads(encode_point(DAY + 60, moved, None)) == [60, 100, 1000, 500_000, 500_000, 1_000_000]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, DAY_S - 1), st.one_of(st.none(), st.floats(0, 1, allow_nan=False)),
                          st.sampled_from([0.0, 0.5, 1.0])), min_size=1, max_size=20, unique_by=lambda t: t[0]))
def test_scores_read_back_as_written(day):
    day.sort(key=lambda t: t[0])
    text = ",".join(encode_score(DAY + t, total, confidence) for t, total, confidence in day)
    assert decode_scores(DAY, text) == [{"created_at": DAY + t, "total": total, "confidence": confidence}
                                        for t, total, confidence in day]
    since = DAY + day[-1][0]
    assert decode_scores(DAY, scores_since(DAY, text, since)) == [
        {"created_at": since, "total": day[-1][1], "confidence": day[-1][2]}]


def test_a_row_begun_by_an_earlier_version_reads_its_objects_and_the_arrays_after_them():
    legacy_point = {"at": DAY + 10, "ppm": 5, "base_msat": 0, "local_sat": 1, "remote_sat": 2, "capacity_sat": 9}
    legacy_score = {"created_at": DAY + 10, "total": 0.4, "confidence": 0.5}
    text = json.dumps(legacy_point) + "," + encode_point(DAY + 20, {**legacy_point, "local_sat": 3}, kept_values(legacy_point))
    assert decode_points(DAY, text) == [legacy_point, {**legacy_point, "at": DAY + 20, "local_sat": 3}]
    scores = json.dumps(legacy_score) + "," + encode_score(DAY + 20, 0.6, 1.0)
    assert decode_scores(DAY, scores) == [legacy_score, {"created_at": DAY + 20, "total": 0.6, "confidence": 1.0}]
