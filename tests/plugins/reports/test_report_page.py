"""The report page: sections, self-containment, metrics, escaping, bad input, size."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_samples import equity_rows, rfc3339, scenario, trade_rows
from tektii_testkit.html_tree import Node, assert_self_contained, parse

from tektii_core.errors import TektiiError
from tektii_plugins.reports.scenario_page import NOT_ENOUGH_DATA, render_report
from tektii_plugins.reports.scenario_results import DETAIL, HEADLINE

SECTIONS = ("summary", "metrics", "equity", "drawdown", "trades", "config")
GENERATED = datetime(2024, 5, 2, 9, 30, tzinfo=UTC)
SPEC_METRICS = {"totalReturn": 12.45, "sharpeRatio": 1.32, "maxDrawdownPct": 8.10, "totalTrades": 142, "winRatePct": 54.2}


@pytest.fixture(scope="module")
def sample() -> tuple[dict, list, list]:
    rows = equity_rows(10_080)  # a week of minutes
    trades = trade_rows(25, span_s=10_080 * 60)
    return scenario(rows, trades), rows, trades


def render(meta, rows, trades, **kwargs) -> str:
    return render_report(meta, rows, trades, generated_at=GENERATED, **kwargs)


def metric_value(page: Node, field: str) -> Node:
    card = page.one(data_metric=field)
    return card.one("div", class_="value")


def polyline_points(svg: Node, css: str) -> list[tuple[float, float]]:
    line = svg.one("polyline", class_=css)
    return [tuple(map(float, p.split(","))) for p in line.attrs["points"].split()]  # type: ignore[misc]


def y_axis(svg: Node) -> list[tuple[float, float]]:
    """(pixel y, value) of the y-axis labels, read back from the drawn text."""
    out = []
    for text in svg.one("g", class_="ylab").find("text"):
        value = float(text.text.replace(",", "").replace("\u2212", "-").rstrip("%"))
        out.append((float(text.attrs["y"]) - 4, value))
    return out


def value_at(axis: list[tuple[float, float]], y: float) -> float:
    (y_a, v_a), (y_b, v_b) = axis[0], axis[-1]
    return v_a + (y - y_a) * (v_b - v_a) / (y_b - y_a)


# ------------------------------------------------------------------ structure


def test_every_section_is_present_and_the_page_is_well_formed(sample):
    page = parse(render(*sample))
    assert page.one("html").attrs["lang"] == "en"
    for section in SECTIONS:
        assert len(page.find(id=section)) == 1, section
    assert page.one("svg", id="equity-chart").one("polyline", class_="equity-line")
    assert page.one("svg", id="drawdown-chart").one("polyline", class_="drawdown-line")
    assert len(page.one("table", class_="trades").one("tbody").find("tr")) == 25
    assert '"initialCapital": 100000' in page.one("pre", class_="config").text


def test_the_page_is_self_contained(sample):
    assert_self_contained(render(*sample), svgs=2)


def test_header_shows_strategy_version_scenario_window_instruments_and_state(sample):
    meta, rows, trades = sample
    page = parse(render({**meta, "strategyName": "momentum-v1"}, rows, trades))
    facts = page.one("dl", class_="facts")
    pairs = dict(zip((dt.text for dt in facts.find("dt")), (dd.text for dd in facts.find("dd"))))
    assert pairs["Strategy"] == "momentum-v1 strat_abc123"
    assert pairs["Version"] == "ver_xyz789"
    assert pairs["Scenario"] == "scen_def456"
    assert pairs["State"] == "COMPLETE"
    assert pairs["Window"].startswith("2024-01-01 00:00 → 2024-04-01 00:00 UTC")
    assert pairs["Instruments"] == "C:BTCUSD candle_1m"
    assert pairs["Initial capital"] == "100,000.00"
    assert pairs["Finished"] == "2024-05-01 10:02:11 UTC"
    assert page.one("h1").text == "momentum-v1"


def test_failed_scenario_shows_its_reason_and_no_metrics():
    meta = {"scenarioId": "scen_f", "strategyId": "strat_s", "state": "FAILED", "failureReason": "strategy exited with 1"}
    page = parse(render(meta, [], []))
    assert "strategy exited with 1" in page.one("dl", class_="facts").text
    assert page.one("span", class_="state").attrs["class"] == "state bad"
    assert "No equity data" in page.one(id="equity").text
    assert "No closed trades" in page.one(id="trades").text


# ------------------------------------------------------------------ metrics


def test_headline_metrics_are_formatted_as_percent_ratio_and_count(sample):
    meta, rows, trades = sample
    base = {k: v for k, v in meta.items() if k not in {f for f, *_ in HEADLINE + DETAIL}}
    page = parse(render({**base, **SPEC_METRICS}, rows, trades))
    shown = {field: metric_value(page, field).text for field in SPEC_METRICS}
    assert shown == {
        "totalReturn": "+12.45%", "sharpeRatio": "1.32", "maxDrawdownPct": "8.10%", "totalTrades": "142",
        "winRatePct": "54.20%",
    }  # fmt: skip
    assert "pos" in metric_value(page, "totalReturn").attrs["class"].split()
    negative = parse(render({**base, "totalReturn": -3.5}, rows, trades))
    assert metric_value(negative, "totalReturn").text == "\u22123.50%"
    assert "neg" in metric_value(negative, "totalReturn").attrs["class"].split()


def test_absent_metrics_show_a_dash_with_not_enough_data(sample):
    meta, rows, trades = sample
    present = {"totalReturn": 0.0, "maxDrawdownPct": 0.0, "totalTrades": 0, "startEquity": 100000, "endEquity": 100000}
    base = {k: v for k, v in meta.items() if k not in {f for f, *_ in HEADLINE + DETAIL}}
    page = parse(render({**base, **present}, rows, trades))
    for field, *_ in HEADLINE + DETAIL:
        value = metric_value(page, field)
        if field in present:
            assert value.text not in ("", "—"), field
            assert value.find("span", class_="na") == []
        else:
            dash = value.one("span", class_="na")
            assert (dash.text, dash.attrs["title"]) == ("—", NOT_ENOUGH_DATA), field
    assert metric_value(page, "totalReturn").text == "0.00%"  # zero is a value, not "absent"


def test_every_metric_the_engine_computes_has_a_place(sample):
    meta, *_ = sample
    from tektii_engine.metrics import compute_metrics

    computed = compute_metrics([0, 86400, 172800, 259200], [1e5, 1.01e5, 0.99e5, 1.02e5],
                               [{"pnl": 5.0, "fees": 1.0, "entry_time": 0, "exit_time": 86400},
                                {"pnl": -2.0, "fees": 1.0, "entry_time": 86400, "exit_time": 172800}],
                               initial_capital=1e5, periods_per_year=365)  # fmt: skip
    shown = {field for field, *_ in HEADLINE + DETAIL}
    assert set(computed) <= shown, set(computed) - shown


# ------------------------------------------------------------------ escaping and bad input

EVIL = '<script>alert("x")</script>&"\'<img src=x onerror=alert(1)>'


def test_every_string_from_the_results_is_escaped(sample):
    meta, rows, trades = sample
    evil_meta = {
        **meta,
        "strategyName": EVIL,
        "scenarioId": EVIL,
        "state": EVIL,
        "failureReason": EVIL,
        "config": {**meta["config"], "subscriptions": [{"instrument": EVIL, "events": [EVIL]}], "note": EVIL},
    }
    evil_trades = [{**trades[0], "symbol": EVIL, "side": EVIL}]
    document = render(evil_meta, rows, evil_trades)
    page = parse(document)
    assert page.find("script") == [] and page.find("img") == []
    assert all(not name.startswith("on") for node in page.iter() for name in node.attrs)
    assert page.one("h1").text == EVIL  # shown as text, exactly
    row = page.one("table", class_="trades").one("tbody").one("tr")
    assert [td.text for td in row.find("td")][4:6] == [EVIL, EVIL]
    assert f'"note": {json.dumps(EVIL)}' in page.one("pre", class_="config").text
    assert page.one("head").one("title").text.count(EVIL) == 2


def test_bad_results_are_reported_all_at_once(sample):
    meta, rows, trades = sample
    bad_rows = [dict(r) for r in rows[:6]]
    bad_rows[1]["time"] = "yesterday"
    bad_rows[2]["equity"] = "lots"
    bad_rows[3] = "not a row"
    del bad_rows[4]["equity"]
    bad_rows[5]["drawdownPct"] = -3.0
    bad_trades = [{**trades[0], "pnl": "12"}, {**trades[1], "entryTime": "soon"}, 7]
    bad_meta = {**meta, "sharpeRatio": "high", "config": {**meta["config"], "initialCapital": -5}}
    with pytest.raises(TektiiError) as caught:
        render(bad_meta, bad_rows, bad_trades)
    message = caught.value.message
    expected = [
        "timeseries[1].time: not an RFC 3339 timestamp: 'yesterday'",
        "timeseries[2].equity: expected a number, got 'lots'",
        "timeseries[3]: expected an object, got 'not a row'",
        "timeseries[4].equity: missing",
        "timeseries[5].drawdownPct: must be >= 0, got -3.0",
        "trades[0].pnl: expected a number, got '12'",
        "trades[1].entryTime: not an RFC 3339 timestamp: 'soon'",
        "trades[2]: expected an object, got 7",
        "metadata.sharpeRatio: expected a number, got 'high'",
        "metadata.config.initialCapital: must be positive, got -5.0",
    ]
    for line in expected:
        assert f"\n  {line}" in message, line
    assert message.startswith(f"cannot render the report: {len(expected)} malformed field(s)")
    with pytest.raises(TektiiError, match=r"timeseries: expected a list of rows"):
        render(meta, {"rows": []}, trades)
    with pytest.raises(TektiiError, match=r"metadata: expected an object"):
        render(None, rows, trades)


def test_extra_fields_and_missing_optional_ones_are_fine(sample):
    meta, rows, _ = sample
    lean_rows = [{"time": r["time"], "equity": r["equity"], "extra": [1, 2]} for r in rows]  # no cash, no drawdownPct
    lean_trades = [{"symbol": "F:EURUSD", "pnl": -1.25, "brokerRef": "x"}, {"side": "BUY", "quantity": 1000}]
    page = parse(render({"state": "COMPLETE", "config": {"startTime": rows[0]["time"]}, "extra": {"a": 1}},
                        lean_rows, lean_trades))  # fmt: skip
    body = page.one("table", class_="trades").one("tbody").find("tr")
    assert [td.text for td in body[0].find("td")][4:] == ["F:EURUSD", "—", "—", "—", "—", "\u22121.25", "—"]
    assert [td.text for td in body[1].find("td")][4:8] == ["—", "BUY", "1,000", "—"]
    # the drawdown is recomputed from the equity (the initial capital, 100,000 by default, is the first peak)
    peak, worst = 100_000.0, 0.0
    for r in rows:
        peak = max(peak, r["equity"])
        worst = max(worst, (peak - r["equity"]) / peak * 100)
    label = page.one("svg", id="drawdown-chart").one("text", class_="trough-label").text
    assert label.startswith(f"Max \u2212{worst:.2f}%")


def test_rows_out_of_order_and_numeric_times_are_drawn_in_time_order():
    rows = [{"time": 1_704_067_200 + 60 * i, "equity": 100_000.0 + i} for i in (3, 1, 2, 0)]
    page = parse(render({"config": {"initialCapital": 100_000}}, rows, []))
    xs = [x for x, _ in polyline_points(page.one("svg", id="equity-chart"), "equity-line")]
    assert xs == sorted(xs) and len(xs) == 4


def test_trade_table_is_capped_with_a_pointer_to_the_full_log(sample):
    meta, rows, trades = sample
    page = parse(render(meta, rows, trades, max_trades=10))
    assert len(page.one("table", class_="trades").one("tbody").find("tr")) == 10
    assert "Showing the first 10 of 25 trades" in page.one(id="trades").text
    assert "25 closed trades" in page.one(id="trades").text


def test_pnl_is_coloured_by_sign(sample):
    meta, rows, trades = sample
    page = parse(render(meta, rows, trades))
    for tr, trade in zip(page.one("table", class_="trades").one("tbody").find("tr"), trades):
        cell = tr.find("td")[9]
        tone = "pos" if trade["pnl"] > 0 else "neg" if trade["pnl"] < 0 else None
        assert tone is None or tone in cell.attrs["class"].split()
        assert cell.text.startswith("+" if trade["pnl"] > 0 else "\u2212")


# ------------------------------------------------------------------ charts and size


def test_equity_chart_axes_and_reference_line(sample):
    meta, rows, trades = sample
    svg = parse(render(meta, rows, trades)).one("svg", id="equity-chart")
    axis = y_axis(svg)
    values = [v for _, v in axis]
    low, high = min(r["equity"] for r in rows), max(r["equity"] for r in rows)
    assert values[0] <= min(low, 100_000) and values[-1] >= high
    assert all(v % 1000 == 0 for v in values)  # round numbers
    capital_y = float(svg.one("line", class_="capital").attrs["y1"])
    assert value_at(axis, capital_y) == pytest.approx(100_000, abs=(values[-1] - values[0]) / 1000)
    assert "Initial capital 100,000.00" in svg.one("text", class_="capital-label").text
    labels = [t.text for t in svg.one("g", class_="xlab").find("text")]
    assert labels[:2] == ["01 Jan", "2024"]  # a week of minutes: daily ticks, the year once


def test_a_year_of_minutes_stays_under_a_megabyte_and_keeps_its_spikes():
    rows = equity_rows(525_600, seed=3)
    rows[200_000]["equity"] = 250_000.0  # a one-minute spike
    rows[300_000]["equity"] = 20_000.0  # and a one-minute crash
    rows[300_000]["drawdownPct"] = 91.0
    meta = scenario(rows[:10], [])  # metadata only; metrics of a short prefix are fine here
    document = render(meta, rows, trade_rows(200, span_s=525_600 * 60))
    assert len(document.encode()) < 1_000_000
    page = parse(document)
    equity = page.one("svg", id="equity-chart")
    points = polyline_points(equity, "equity-line")
    assert len(points) <= 4 * 1000
    axis = y_axis(equity)
    pixel = abs((axis[-1][1] - axis[0][1]) / (axis[-1][0] - axis[0][0]))  # value per SVG unit
    assert value_at(axis, min(y for _, y in points)) == pytest.approx(250_000, abs=pixel * 0.2)
    assert value_at(axis, max(y for _, y in points)) == pytest.approx(20_000, abs=pixel * 0.2)
    drawdown = page.one("svg", id="drawdown-chart")
    dd_axis = y_axis(drawdown)
    assert value_at(dd_axis, max(y for _, y in polyline_points(drawdown, "drawdown-line"))) == pytest.approx(-91, abs=0.2)
    assert drawdown.one("text", class_="trough-label").text.startswith("Max \u221291.00%")


def test_rendering_is_deterministic(sample):
    assert render(*sample) == render(*sample)
    assert "Generated by tektii on 2024-05-02 09:30 UTC" in render(*sample)


def test_window_uses_rfc3339_of_the_config(sample):
    meta, rows, trades = sample
    config = {**meta["config"], "startTime": rfc3339(datetime(2024, 2, 1, tzinfo=UTC)), "endTime": "garbage"}
    page = parse(render({**meta, "config": config}, rows, trades))
    facts = page.one("dl", class_="facts").text
    assert "2024-02-01T00:00:00Z → garbage" in facts  # shown as given when it cannot be read


# ------------------------------------------------------------------ never a traceback

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)).map(rfc3339)
money = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)
good_row = st.fixed_dictionaries(
    {"time": times, "equity": money}, optional={"drawdownPct": st.floats(0, 100), "cash": money, "x": junk}
)
any_row = good_row | st.dictionaries(st.sampled_from(["time", "equity", "drawdownPct", "cash"]), junk) | junk
trade_fields = ["symbol", "side", "quantity", "entryTime", "exitTime", "entryPrice", "exitPrice", "pnl", "fees"]
good_trade = st.fixed_dictionaries(
    {},
    optional={
        "symbol": st.text(max_size=12), "side": st.sampled_from(["buy", "sell", "long", "short", "LONG"]),
        "quantity": money, "entryTime": times, "exitTime": times, "entryPrice": money, "exitPrice": money,
        "pnl": money, "fees": money,
    },
)  # fmt: skip
any_trade = good_trade | st.dictionaries(st.sampled_from(trade_fields), junk) | junk
metric_fields = [f for f, *_ in HEADLINE + DETAIL]
good_meta = st.fixed_dictionaries(
    {"state": st.sampled_from(["COMPLETE", "FAILED", "RUNNING"])},
    optional={f: money for f in metric_fields} | {"strategyName": st.text(max_size=20), "config": st.just({})},
)
any_meta = good_meta | st.dictionaries(st.sampled_from([*metric_fields, "config", "state", "scenarioId"]), junk) | junk


@settings(max_examples=150, deadline=None)
@given(good_meta, st.lists(good_row, max_size=40), st.lists(good_trade, max_size=6))
def test_any_well_formed_results_render_to_a_well_formed_page(meta, rows, trades):
    page = parse(render(meta, rows, trades))
    for section in SECTIONS:
        assert len(page.find(id=section)) == 1
    assert len(page.one(id="trades").find("tr")) == (len(trades) + 1 if trades else 0)


@settings(max_examples=300, deadline=None)
@given(any_meta, st.lists(any_row, max_size=8) | junk, st.lists(any_trade, max_size=4) | junk)
def test_any_input_renders_or_is_reported_never_a_traceback(meta, rows, trades):
    try:
        document = render(meta, rows, trades)
    except TektiiError as error:
        assert error.message.startswith("cannot render the report:")
        assert error.message.count("\n  ") >= 1  # each problem on its own line
    else:
        parse(document)
