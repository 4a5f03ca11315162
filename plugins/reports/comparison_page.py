"""The comparison of several scenarios (`tektii scenario report` with more than one scenario):
their metrics side by side, their equity curves overlaid and where their configs differ; and
those differences on their own (`tektii scenario compare`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tektii_core.errors import TektiiError
from tektii_plugins.reports.formatting import escape, fixed, metric_text
from tektii_plugins.reports.page_document import GRID_CSS, document
from tektii_plugins.reports.scenario_results import DETAIL, HEADLINE, initial_capital, read_labelled_curve, read_metadata
from tektii_plugins.reports.svg_charts import overlay_svg


def _flat(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), item, into)
    else:
        into[prefix] = value


def config_differences(configs: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Any]]]:
    """The config fields (dotted paths) whose values are not the same in every config."""
    flat: list[dict[str, Any]] = []
    for config in configs:
        fields: dict[str, Any] = {}
        _flat("", config, fields)
        flat.append(fields)
    keys = sorted({k for f in flat for k in f})
    return [(k, [f.get(k) for f in flat]) for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]


def render_comparison_report(scenarios: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]], *,
                             generated_at: datetime | None = None) -> str:
    """One page for several scenarios (`scenario report` with more than one): their metrics side
    by side, their equity curves overlaid, and where their configs differ."""
    generated = generated_at or datetime.now(UTC)
    metas, curves = [], []
    for metadata, rows in scenarios:
        problems: list[str] = []
        meta = read_metadata(metadata, problems)
        capital = initial_capital(meta, problems)
        if problems:
            raise TektiiError("cannot render the report: " + "; ".join(problems))
        label = f"{meta.get('scenarioId')} ({meta.get('strategyVersionId') or '?'})"
        metas.append(meta)
        curves.append((label, read_labelled_curve(rows, capital, str(meta.get("scenarioId")))))
    head = "".join(f"<th>{escape(m.get('scenarioId'))}<br><span class=muted>{escape(m.get('strategyVersionId'))}</span></th>"
                   for m in metas)
    body_rows = []
    for field, label, kind, _about in HEADLINE + DETAIL:
        values = [m.get(field) for m in metas]
        cells = "".join(f"<td>{escape(metric_text(v, kind)) if v is not None else '—'}</td>" for v in values)
        diffs = "".join(
            f"<td>{escape(fixed(v - values[0], 2, sign=True)) if v is not None and values[0] is not None else '—'}</td>"
            for v in values[1:])
        body_rows.append(f"<tr><td>{escape(label)}</td>{cells}{diffs}</tr>")
    diff_head = "".join(f"<th>Δ {escape(m.get('scenarioId'))}</th>" for m in metas[1:])
    differences = config_differences([m.get("config") or {} for m in metas])
    config_rows = "".join(f"<tr><td>{escape(k)}</td>{''.join(f'<td>{escape(json.dumps(v))}</td>' for v in vs)}</tr>"
                          for k, vs in differences)
    strategy = metas[0].get("strategyName") or metas[0].get("strategyId") or ""
    return document(f"Scenario comparison · {strategy}", (
        f'<header id="summary"><p class="eyebrow">Tektii scenario comparison</p><h1>{escape(strategy)}</h1>'
        f'<p class="sub">{len(metas)} scenarios; differences are against the first</p></header>',
        '<section id="equity"><h2>Equity curves</h2><figure>', overlay_svg(curves), "</figure></section>",
        f'<section id="metrics"><h2>Metrics</h2><table class="grid"><thead><tr><th>Metric</th>{head}{diff_head}'
        f"</tr></thead><tbody>{''.join(body_rows)}</tbody></table></section>",
        '<section id="config"><h2>Config differences</h2>'
        + (f'<table class="grid"><thead><tr><th>Field</th>{head}</tr></thead><tbody>{config_rows}</tbody></table>'
           if differences else '<p class="empty">The configs are the same.</p>') + "</section>",
    ), generated, extra_css=GRID_CSS)

