"""The report of one backtest scenario (`tektii scenario report` with one scenario): its facts,
metrics, equity and drawdown curves, trades and config, on one self-contained page.

Long equity curves are reduced per pixel column (first/min/max/last, "M4"), so a year of
one-minute points draws in a few kilobytes of SVG with every spike still visible. Every string
from the results is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tektii_plugins.reports.formatting import (
    display_time,
    escape,
    fixed,
    fmt_duration,
    fmt_time,
    metric_text,
    plain,
    price,
    tone,
)
from tektii_plugins.reports.page_document import document
from tektii_plugins.reports.scenario_results import DETAIL, HEADLINE, Curve, Trade, parse_time, read_scenario
from tektii_plugins.reports.svg_charts import drawdown_svg, equity_svg

DEFAULT_MAX_TRADES = 5_000  # rows in the table; the full log is `scenario results --type trades`
NOT_ENOUGH_DATA = "not enough data"
STATE_CLASS = {"COMPLETE": "ok", "FAILED": "bad", "CANCELLED": "off", "RUNNING": "busy", "PENDING": "busy"}


def render_report(
    metadata: Mapping[str, Any],
    timeseries: Sequence[Mapping[str, Any]],
    trades: Sequence[Mapping[str, Any]],
    *,
    max_trades: int = DEFAULT_MAX_TRADES,
    generated_at: datetime | None = None,
) -> str:
    """The HTML page for one scenario, from the platform's three result types.

    ``metadata``: the scenario object (ids, state, ``config``, timestamps, flattened metrics).
    ``timeseries``: rows ``{"time", "equity", "cash", "drawdownPct"}``; ``drawdownPct`` is
    recomputed from the equity when a row lacks it.
    ``trades``: rows ``{"symbol", "side", "quantity", "entryTime", "exitTime", "entryPrice",
    "exitPrice", "pnl", "fees"}``, any of them may be missing; extra fields are ignored.

    Raises TektiiError listing every malformed field at once when the results cannot be read.
    """
    meta, capital, curve, rows = read_scenario(metadata, timeseries, trades)
    generated = generated_at or datetime.now(UTC)
    title = f"Backtest report · {meta.get('strategyName') or meta.get('strategyId') or ''} · {meta.get('scenarioId') or ''}"
    return document(title, (
        _header(meta, capital),
        _metrics(meta),
        _charts(curve, capital),
        _trades(rows, max_trades),
        _config(meta),
    ), generated)


def _header(meta: Mapping[str, Any], capital: float) -> str:
    config = meta.get("config") or {}
    strategy = meta.get("strategyName") or meta.get("strategyId") or "—"
    state = str(meta.get("state") or "UNKNOWN")
    subscriptions = config.get("subscriptions")
    instruments = []
    for sub in subscriptions if isinstance(subscriptions, list) else []:
        if isinstance(sub, Mapping):
            events = sub.get("events")
            events = events if isinstance(events, list) else []
            instruments.append(
                f'<span class="inst">{escape(sub.get("instrument", "?"))}</span>'
                + (f' <span class="muted">{escape(", ".join(map(str, events)))}</span>' if events else "")
            )
    window = "—"
    try:
        start, end = parse_time(config.get("startTime")), parse_time(config.get("endTime"))
        window = (
            f"{escape(fmt_time(start))} → {escape(fmt_time(end))} UTC"
            f' <span class="muted">({escape(fmt_duration(end - start))}, end exclusive)</span>'
        )
    except (ValueError, TypeError, OverflowError, OSError):
        if config.get("startTime") or config.get("endTime"):
            window = f"{escape(config.get('startTime', '?'))} → {escape(config.get('endTime', '?'))}"
    version = meta.get("strategyVersionId") or config.get("strategyVersionId") or "—"
    named = meta.get("strategyName") and meta.get("strategyId")  # show the id beside the name
    facts = [
        ("Strategy", escape(strategy) + (f' <span class="muted">{escape(meta["strategyId"])}</span>' if named else "")),
        ("Version", escape(version)),
        ("Scenario", escape(meta.get("scenarioId") or "—")),
        ("State", f'<span class="state {STATE_CLASS.get(state, "off")}">{escape(state)}</span>'),
        ("Window", window),
        ("Instruments", "<br>".join(instruments) or "—"),
        ("Initial capital", escape(fixed(capital, 2))),
        ("Position mode", escape(config.get("positionMode") or "netting")),
        ("Created", escape(display_time(meta.get("createdAt")))),
        ("Started", escape(display_time(meta.get("startedAt")))),
        ("Finished", escape(display_time(meta.get("finishedAt")))),
    ]
    if meta.get("failureReason"):
        facts.append(("Failure reason", f'<span class="neg">{escape(meta["failureReason"])}</span>'))
    rows = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
    return (
        '<header id="summary"><p class="eyebrow">Tektii backtest report</p>'
        f"<h1>{escape(strategy)}</h1>"
        f'<p class="sub">Scenario {escape(meta.get("scenarioId") or "—")} · version {escape(version)}</p>'
        f'<dl class="facts">{rows}</dl></header>'
    )


def _metric(meta: Mapping[str, Any], field: str, label: str, kind: str, about: str, css: str) -> str:
    value = meta.get(field)
    if value is None:
        shown = f'<span class="na" title="{NOT_ENOUGH_DATA}">—</span>'
        colour = ""
    else:
        shown = escape(metric_text(value, kind))
        colour = tone(value) if kind == "signed_pct" else ""
    return (
        f'<div class="{css}" data-metric="{field}" title="{escape(about)}"><div class="label">{escape(label)}</div>'
        f'<div class="value {colour}">{shown}</div></div>'
    )


def _metrics(meta: Mapping[str, Any]) -> str:
    cards = "".join(_metric(meta, *m, "kpi") for m in HEADLINE)
    details = "".join(_metric(meta, *m, "stat") for m in DETAIL)
    return (
        '<section id="metrics"><h2>Performance</h2>'
        f'<div class="kpis">{cards}</div><div class="stats">{details}</div>'
        '<p class="note">Percentages are of the initial capital or of the window; ratios are annualised '
        "from daily returns. A dash marks a metric without enough data to compute it.</p></section>"
    )


def _charts(curve: Curve, capital: float) -> str:
    if not curve.times:
        empty = '<p class="empty">No equity data was recorded for this scenario.</p>'
        return (
            f'<section id="equity"><h2>Equity curve</h2>{empty}</section>'
            f'<section id="drawdown"><h2>Drawdown</h2>{empty}</section>'
        )
    shown = f"{len(curve.times):,} points"
    return (
        '<section id="equity"><h2>Equity curve</h2>'
        f"<figure>{equity_svg(curve, capital)}<figcaption>Account equity (cash plus open positions), {shown}; "
        "dashed: the initial capital. Times in UTC.</figcaption></figure></section>"
        '<section id="drawdown"><h2>Drawdown</h2>'
        f"<figure>{drawdown_svg(curve)}<figcaption>Fall below the running equity peak, in percent "
        "(0 = at a new high).</figcaption></figure></section>"
    )


def _trades(trades: Sequence[Trade], max_trades: int) -> str:
    if not trades:
        return '<section id="trades"><h2>Trades</h2><p class="empty">No closed trades.</p></section>'
    pnls = [t.pnl for t in trades if t.pnl is not None]
    fees = sum(t.fees for t in trades if t.fees is not None)
    wins = sum(1 for p in pnls if p > 0)
    losses = sum(1 for p in pnls if p < 0)
    net = sum(pnls)
    summary = (
        f"{len(trades):,} closed trade{'s' if len(trades) != 1 else ''} · {wins:,} winning · "
        f'{losses:,} losing · net P&amp;L <span class="{tone(net)}">{escape(fixed(net, 2, sign=True))}</span>'
        f" · fees {escape(fixed(fees, 2))}"
    )
    shown = trades[: max(max_trades, 0)]
    # one time format for the whole column: seconds only when some trade needs them
    seconds = any(t is not None and t % 60 for tr in shown for t in (tr.entry_time, tr.exit_time))
    body = []
    for n, t in enumerate(shown, 1):
        held = (
            fmt_duration(t.exit_time - t.entry_time)
            if t.entry_time is not None and t.exit_time is not None and t.exit_time >= t.entry_time
            else "—"
        )
        side = t.side.lower()
        side_class = "long" if side in ("buy", "long") else "short" if side in ("sell", "short") else ""
        pnl = fixed(t.pnl, 2, sign=True) if t.pnl is not None else "—"
        body.append(
            f"<tr><td class=n>{n}</td><td>{fmt_time(t.entry_time, seconds=seconds)}</td>"
            f"<td>{fmt_time(t.exit_time, seconds=seconds)}</td>"
            f"<td class=h>{held}</td><td>{escape(t.symbol) or '—'}</td>"
            f'<td><span class="side {side_class}">{escape(t.side) or "—"}</span></td>'
            f"<td class=n>{plain(t.quantity)}</td><td class=n>{price(t.entry_price)}</td>"
            f"<td class=n>{price(t.exit_price)}</td>"
            f'<td class="n {tone(t.pnl)}">{pnl}</td>'
            f"<td class=n>{fixed(t.fees, 2) if t.fees is not None else '—'}</td></tr>"
        )
    more = ""
    if len(shown) < len(trades):
        more = (
            f'<p class="note">Showing the first {len(shown):,} of {len(trades):,} trades; the full log: '
            "<code>tektii scenario results STRATEGY_ID SCENARIO_ID --type trades --format csv</code></p>"
        )
    head = "".join(
        f"<th{' class=n' if numeric else ''}>{label}</th>"
        for label, numeric in (
            ("#", True), ("Entry time", False), ("Exit time", False), ("Held", False), ("Symbol", False),
            ("Side", False), ("Quantity", True), ("Entry price", True), ("Exit price", True), ("P&amp;L", True),
            ("Fees", True),
        )
    )  # fmt: skip
    return (
        f'<section id="trades"><h2>Trades</h2><p class="sub">{summary}</p>'
        f'<div class="table-wrap"><table class="trades"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{more}</section>"
    )


def _config(meta: Mapping[str, Any]) -> str:
    text = json.dumps(meta.get("config") or {}, indent=2, ensure_ascii=False, default=str)
    return f'<section id="config"><h2>Scenario config</h2><pre class="config">{escape(text)}</pre></section>'

