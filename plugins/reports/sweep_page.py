"""The page of a parameter sweep (`tektii sweep report`): its facts, the ranking, a heatmap of the
objective over two parameters and the best trials' equity curves overlaid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tektii_plugins.reports.formatting import escape, fixed, metric_text
from tektii_plugins.reports.page_document import GRID_CSS, document
from tektii_plugins.reports.scenario_results import DEFAULT_CAPITAL, read_labelled_curve
from tektii_plugins.reports.svg_charts import heatmap_svg, overlay_svg

# The metrics the ranking shows beside the objective: (heading, field, metric_text kind).
KEY_METRICS = (("Total return", "totalReturn", "signed_pct"), ("Sharpe", "sharpeRatio", "ratio"),
               ("Max drawdown", "maxDrawdownPct", "pct"), ("Trades", "totalTrades", "int"))


def render_sweep_report(sweep: Mapping[str, Any], curves: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], *,
                        x: str | None = None, y: str | None = None, generated_at: datetime | None = None) -> str:
    """The page of a sweep (`tektii sweep report`): the ranking, a heatmap of the objective over
    two parameters (``x``, ``y``; default the first two) and the best trials' equity overlaid.
    ``sweep`` is the API's sweep object; ``curves`` (label, timeseries rows), best first."""
    generated = generated_at or datetime.now(UTC)
    names = list(sweep.get("parameters") or {})
    x = x or (names[0] if names else None)
    y = y or next((n for n in names if n != x), None)
    objective, direction = str(sweep.get("objective")), str(sweep.get("direction"))
    config = sweep.get("config") or {}
    capital = float(config.get("initialCapital") or DEFAULT_CAPITAL)
    trials = {t["trial"]: t for t in sweep.get("trials") or []}
    holdout = sweep.get("holdout") is not None
    shown = [m for m in KEY_METRICS if m[1] != objective]
    head_cells = ["Rank", "Trial", *names]
    for label in [objective, *(m[0] for m in shown)]:
        head_cells += [f"{label} (in-sample)", f"{label} (out-of-sample)"] if holdout else [label]
    head = "".join(f"<th>{escape(h)}</th>" for h in head_cells)
    rows = []
    for number in list(sweep.get("ranking") or [])[:50]:
        t = trials[number]
        oos = t.get("outOfSample") or {}
        samples = [t]  # with a holdout, each value of the search window, then of the holdout window
        if holdout:
            samples.append(oos if oos.get("state") == "COMPLETE" else {})
        cells = [str(t.get("rank")), str(number), *[str(t["parameters"].get(n, "")) for n in names]]
        for sample in samples:
            cells.append(fixed(sample["objective"], 3) if isinstance(sample.get("objective"), (int, float)) else "—")
        for _label, field, kind in shown:
            for sample in samples:
                value = (sample.get("metrics") or {}).get(field)
                cells.append(metric_text(value, kind) if isinstance(value, (int, float)) else "—")
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    counts = sweep.get("counts") or {}
    facts = [("Sweep", sweep.get("sweepId")), ("Strategy", sweep.get("strategyId")), ("Version", sweep.get("strategyVersionId")),
             ("State", sweep.get("state")), ("Method", f"{sweep.get('method')} (seed {sweep.get('seed')})"),
             ("Objective", f"{objective}, {direction}d"),
             ("Trials", f"{counts.get('COMPLETE', 0)} complete of {sweep.get('trialCount')}"),
             ("Constraints", ", ".join(sweep.get("constraints") or []) or "—"),
             ("Window", f"{config.get('startTime')} → {config.get('endTime')}" if config.get("startTime") else "—"),
             ("Holdout", sweep.get("holdout") or "—")]
    facts_html = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    drawn = [(label, read_labelled_curve(r, capital, label)) for label, r in curves]
    heat = heatmap_svg(list(trials.values()), x, y, direction, objective) if x else '<p class="empty">No parameters.</p>'
    return document(f"Sweep report · {sweep.get('sweepId')}", (
        '<header id="summary"><p class="eyebrow">Tektii sweep report</p>'
        f"<h1>{escape(sweep.get('strategyId'))} · {escape(sweep.get('sweepId'))}</h1>"
        f'<dl class="facts">{facts_html}</dl></header>',
        f'<section id="ranking"><h2>Ranking by {escape(objective)}</h2><div class="table-wrap"><table class="grid">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>",
        f'<section id="heatmap-section"><h2>{escape(objective)} over {escape(x)}{" × " + escape(y) if y else ""}</h2>'
        f"<figure>{heat}<figcaption>Each cell: the best trial with those values"
        f"{' (over the other parameters)' if len(names) > 2 else ''}; darker green is better.</figcaption></figure></section>",
        f'<section id="equity"><h2>Equity of the {len(drawn)} best trials</h2><figure>{overlay_svg(drawn)}</figure></section>',
    ), generated, extra_css=GRID_CSS)
