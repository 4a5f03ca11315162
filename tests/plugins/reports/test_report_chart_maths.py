"""The report's chart maths: nice axis ticks, calendar time ticks, min/max downsampling."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tektii_plugins.reports.chart_maths import downsample_minmax, nice_ticks, tick_decimals, time_ticks


def epoch(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


# ------------------------------------------------------------------ nice_ticks


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 100, [0, 20, 40, 60, 80, 100]),
        (95_000, 112_345, [95_000, 100_000, 105_000, 110_000, 115_000]),
        (-8.1, 0, [-10, -8, -6, -4, -2, 0]),
        (0.1, 0.7, [0.0, 0.2, 0.4, 0.6, 0.8]),
        (0.3, 0.33, [0.3, 0.31, 0.32, 0.33]),
        (100_000, 144_141.32, [100_000, 110_000, 120_000, 130_000, 140_000, 150_000]),
    ],
)
def test_nice_ticks_examples(lo, hi, expected):
    assert nice_ticks(lo, hi, 5) == expected


def test_flat_range_gets_an_axis_around_the_value():
    ticks = nice_ticks(100_000, 100_000, 5)
    assert ticks[0] < 100_000 < ticks[-1]
    assert nice_ticks(0, 0, 5)[0] < 0 < nice_ticks(0, 0, 5)[-1]
    # equity that moves by float noise only is flat too (and never a one-tick axis)
    noisy = nice_ticks(100_000.0, 100_000.00000001, 5)
    assert noisy[0] < 100_000 < noisy[-1] and noisy[1] - noisy[0] >= 100
    assert len(nice_ticks(0.0, 5e-324, 5)) >= 2


def test_nice_ticks_rejects_non_finite_bounds():
    with pytest.raises(ValueError):
        nice_ticks(0, math.inf)
    with pytest.raises(ValueError):
        nice_ticks(math.nan, 1)


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(finite, finite, st.integers(min_value=2, max_value=10))
def test_nice_ticks_cover_the_range_with_round_even_steps(a, b, target):
    lo, hi = min(a, b), max(a, b)
    ticks = nice_ticks(a, b, target)
    assert ticks == sorted(ticks) and len(ticks) >= 2
    assert ticks[0] <= lo and ticks[-1] >= hi
    step = ticks[1] - ticks[0]
    noise = 1e-15 * max(abs(ticks[0]), abs(ticks[-1]))  # float spacing at the ticks' magnitude
    for left, right in zip(ticks, ticks[1:]):
        assert right - left == pytest.approx(step, rel=1e-9, abs=4 * noise)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6 + 40 * noise / step
    assert len(ticks) <= 2 * target + 1  # never a crowded axis
    if hi - lo > 1e-9 * max(abs(lo), abs(hi), 1e-3):  # ticks hug the data: at most one empty step at each end
        assert ticks[1] > lo and ticks[-2] < hi


def test_tick_decimals_tell_neighbours_apart():
    assert tick_decimals([0, 20_000, 40_000]) == 0
    assert tick_decimals([0.1, 0.2]) == 1
    assert tick_decimals([-0.05, 0.0]) == 2


# ------------------------------------------------------------------ time_ticks


def test_quarter_of_minutes_ticks_every_two_weeks_on_mondays():
    ticks = time_ticks(epoch(2024, 1, 1), epoch(2024, 4, 1), 8)
    moments = [datetime.fromtimestamp(t, UTC) for t, _, _ in ticks]
    assert all(m.weekday() == 0 and (m.hour, m.minute) == (0, 0) for m in moments)
    assert {round((b - a).total_seconds()) for a, b in zip(moments, moments[1:])} == {14 * 86400}
    assert ticks[0][1:] == ("08 Jan", "2024")
    assert all(context == "" for _, _, context in ticks[1:])  # the year is said once


def test_a_year_ticks_on_month_starts_with_the_year_where_it_changes():
    ticks = time_ticks(epoch(2023, 11, 15), epoch(2024, 11, 15), 8)
    moments = [datetime.fromtimestamp(t, UTC) for t, _, _ in ticks]
    assert all((m.day, m.hour) == (1, 0) for m in moments)
    assert [label for _, label, _ in ticks] == ["Jan", "Mar", "May", "Jul", "Sep", "Nov"]
    assert ticks[0][2] == "2024"


def test_year_context_appears_on_the_first_tick_of_a_new_year():
    ticks = time_ticks(epoch(2023, 9, 1), epoch(2024, 3, 1), 8)
    assert [(label, ctx) for _, label, ctx in ticks] == [
        ("Sep", "2023"), ("Oct", ""), ("Nov", ""), ("Dec", ""), ("Jan", "2024"), ("Feb", ""), ("Mar", ""),
    ]  # fmt: skip


def test_a_day_ticks_on_clock_hours_with_the_date_under_the_first():
    ticks = time_ticks(epoch(2024, 3, 5, 0, 0), epoch(2024, 3, 6, 0, 0), 8)
    assert [label for _, label, _ in ticks] == ["00:00", "06:00", "12:00", "18:00", "00:00"]
    assert ticks[0][2] == "05 Mar" and ticks[-1][2] == "06 Mar"
    assert all(ctx == "" for _, _, ctx in ticks[1:-1])


def test_a_decade_ticks_on_years():
    ticks = time_ticks(epoch(2014, 6, 1), epoch(2024, 6, 1), 8)
    assert [label for _, label, _ in ticks] == ["2016", "2018", "2020", "2022", "2024"]
    assert all(datetime.fromtimestamp(t, UTC).timetuple()[1:6] == (1, 1, 0, 0, 0) for t, _, _ in ticks)


def test_seconds_are_labelled_with_seconds():
    ticks = time_ticks(epoch(2024, 1, 1, 12, 0, 0), epoch(2024, 1, 1, 12, 0, 40), 8)
    assert [label for _, label, _ in ticks] == ["12:00:00", "12:00:10", "12:00:20", "12:00:30", "12:00:40"]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=2_000_000_000),
    st.integers(min_value=8, max_value=40 * 365 * 86400),
    st.integers(min_value=2, max_value=12),
)
def test_time_ticks_are_inside_sorted_and_few(t0, span, max_ticks):
    ticks = time_ticks(t0, t0 + span, max_ticks)
    times = [t for t, _, _ in ticks]
    assert times == sorted(set(times))
    assert all(t0 <= t <= t0 + span for t in times)
    assert len(times) <= max_ticks + 1  # months differ in length by a few days
    if max_ticks >= 8:  # steps grow by at most 3.5x (2 days -> 1 week): a full axis gets 2+ ticks
        assert len(times) >= 2
    assert all(label for _, label, _ in ticks)


# ------------------------------------------------------------------ downsample_minmax


def test_short_curves_are_drawn_unchanged():
    xs, ys = list(range(100)), [float(i % 7) for i in range(100)]
    assert downsample_minmax(xs, ys, 25) == list(zip(xs, ys))


def test_single_spikes_survive_a_year_of_minutes():
    n = 525_600
    xs = [i * 60.0 for i in range(n)]
    ys = [100_000.0 + (i % 1000) * 0.01 for i in range(n)]
    ys[123_457], ys[400_001] = 150_000.0, 60_000.0  # one-minute spike and crash
    out = downsample_minmax(xs, ys, 900)
    assert len(out) <= 4 * 900
    assert (xs[123_457], 150_000.0) in out and (xs[400_001], 60_000.0) in out
    assert out[0] == (xs[0], ys[0]) and out[-1] == (xs[-1], ys[-1])


def test_lengths_must_match_and_buckets_be_positive():
    with pytest.raises(ValueError):
        downsample_minmax([1, 2], [1.0], 10)
    with pytest.raises(ValueError):
        downsample_minmax([1, 2], [1.0, 2.0], 0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.floats(min_value=-1e6, max_value=1e6)),
        min_size=1,
        max_size=600,
    ),
    st.integers(min_value=1, max_value=40),
)
def test_downsampling_keeps_every_buckets_extremes(points, buckets):
    points.sort(key=lambda p: p[0])
    xs = [float(x) for x, _ in points]
    ys = [y for _, y in points]
    out = downsample_minmax(xs, ys, buckets)
    # a subsequence of the input, in order, at most 4 points a bucket
    it = iter(zip(xs, ys))
    assert all(p in it for p in out)
    assert len(out) <= max(len(xs) if len(xs) <= 4 * buckets else 4 * buckets, 1)
    assert max(ys) in [y for _, y in out] and min(ys) in [y for _, y in out]
    assert out[0] == (xs[0], ys[0]) and out[-1] == (xs[-1], ys[-1])
    # the envelope: every input point lies between the kept values of its neighbourhood
    width = (xs[-1] - xs[0]) / buckets
    for x, y in zip(xs, ys):
        near = [v for u, v in out if abs(u - x) <= width + 1e-9]
        assert near and min(near) <= y <= max(near)
