"""The HTML document every report page is written into: one file with its CSS inline, no script,
and a Content-Security-Policy that forbids loading anything, so it opens offline, survives being
mailed around and prints."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tektii_plugins.reports.formatting import escape, fmt_time
from tektii_plugins.reports.svg_charts import DRAWDOWN_COLOUR

GAIN_COLOUR = "#15803d"
LOSS_COLOUR = "#b91c1c"

_CSS = """
:root{--fg:#1f2328;--muted:#5d6670;--line:#d8dee4;--soft:#f6f8fa}
*{box-sizing:border-box;-webkit-print-color-adjust:exact;print-color-adjust:exact}
html{background:#fff}
body{margin:0;color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1160px;margin:0 auto;padding:28px 32px 40px}
h1{font-size:26px;line-height:1.2;margin:2px 0 4px;overflow-wrap:anywhere}
h2{font-size:17px;margin:0 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
section{margin-top:30px}
.eyebrow{margin:0;color:var(--muted);font-size:12px;letter-spacing:.08em;text-transform:uppercase}
.sub,.muted,figcaption,.note{color:var(--muted)}
.sub{margin:0 0 14px}
figcaption,.note{font-size:12.5px}
.facts{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:6px 18px;margin:0;padding:14px 16px;
background:var(--soft);border:1px solid var(--line);border-radius:8px}
.facts dt{color:var(--muted)}
.facts dd{margin:0;overflow-wrap:anywhere}
.state{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;letter-spacing:.04em}
.state.ok{background:#dcfce7;color:#166534}.state.bad{background:#fee2e2;color:#991b1b}
.state.busy{background:#fef3c7;color:#92400e}.state.off{background:#e5e7eb;color:#374151}
.inst{font-weight:600}
.kpis{display:grid;grid-template-columns:repeat(5,1fr);gap:12px}
.kpi{border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.kpi .label,.stat .label{color:var(--muted);font-size:12.5px}
.kpi .value{font-size:26px;font-weight:600;font-variant-numeric:tabular-nums;line-height:1.3}
.stats{display:grid;grid-template-columns:repeat(4,1fr);gap:0 24px;margin-top:14px}
.stat{display:flex;justify-content:space-between;gap:12px;padding:7px 2px;border-bottom:1px solid #eef1f4}
.stat .value{font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap}
.na{color:#9aa3ad;cursor:help}
.pos{color:var(--gain)}.neg{color:var(--loss)}
figure{margin:0;break-inside:avoid}
svg.chart{display:block;width:100%;height:auto;font-size:12px;font-family:inherit}
svg .grid line{stroke:#e8ecf0;stroke-width:1}
svg .frame{fill:none;stroke:#c9d1d9;stroke-width:1}
svg .ylab text{text-anchor:end;fill:var(--muted);font-variant-numeric:tabular-nums}
svg .xlab text{text-anchor:middle;fill:var(--muted)}
svg .xlab text.ctx{font-size:11px;fill:#8b949e}
svg polyline{stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
svg .capital{stroke:#6b7280;stroke-width:1.2;stroke-dasharray:6 4}
svg .capital-label{text-anchor:end;fill:#4b5563;font-size:11.5px}
svg .trough{fill:#fff;stroke:var(--dd);stroke-width:2}
svg .trough-label{fill:var(--loss);font-size:11.5px;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px;
stroke-linejoin:round}
.table-wrap{border:1px solid var(--line);border-radius:8px;overflow:hidden}
table.trades{width:100%;border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
.trades th{background:var(--soft);text-align:left;font-weight:600;color:#3d444d;padding:7px 10px;
border-bottom:1px solid var(--line)}
.trades td{padding:5px 10px;border-bottom:1px solid #eef1f4;white-space:nowrap}
.trades tbody tr:nth-child(even){background:#fbfcfd}
.trades .n{text-align:right}.trades td.h{color:var(--muted)}
.side{font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.04em;padding:1px 6px;border-radius:4px;
background:#eef1f4}
.side.long{background:#dcfce7;color:#166534}.side.short{background:#fee2e2;color:#991b1b}
pre.config{margin:0;padding:14px 16px;background:var(--soft);border:1px solid var(--line);border-radius:8px;
font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.empty{padding:28px;text-align:center;color:var(--muted);border:1px dashed var(--line);border-radius:8px}
footer{margin-top:34px;color:#8b949e;font-size:12px}
@media (max-width:860px){.kpis{grid-template-columns:repeat(2,1fr)}.stats{grid-template-columns:1fr 1fr}
.facts{grid-template-columns:max-content 1fr}}
@media print{main{max-width:none;padding:0}section{margin-top:18px}.kpi .value{font-size:20px}
.table-wrap{overflow:visible}thead{display:table-header-group}tr{break-inside:avoid}h2{break-after:avoid}@page{margin:12mm}}
"""
_COLOURS = f":root{{--gain:{GAIN_COLOUR};--loss:{LOSS_COLOUR};--dd:{DRAWDOWN_COLOUR}}}"

# The comparison and sweep pages' extra styles: metric and ranking grids, the overlay's legend,
# the heatmap's labels.
GRID_CSS = """
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:8px 0 0;padding:0;list-style:none;font-size:12.5px}
.legend .swatch{display:inline-block;width:14px;height:4px;border-radius:2px;margin-right:6px;vertical-align:middle}
table.grid{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
.grid th,.grid td{padding:5px 10px;border-bottom:1px solid #eef1f4;text-align:right;white-space:nowrap}
.grid th{background:var(--soft);font-weight:600;color:#3d444d}.grid th:first-child,.grid td:first-child{text-align:left}
svg .cell-label{text-anchor:middle;font-size:12px;font-variant-numeric:tabular-nums}
svg .axis-title{fill:var(--muted);font-size:12.5px;text-anchor:middle}
"""


def document(title: str, body: Sequence[str], generated: datetime, *, extra_css: str = "") -> str:
    """The whole page: `body` (HTML fragments) between the head and the footer."""
    return "".join((
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        # Nothing may load from anywhere: the page is complete as it is (and stays inert).
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="tektii">',
        f"<title>{escape(title)}</title><style>{_COLOURS}{_CSS}{extra_css}</style></head><body><main>",
        *body,
        f"<footer>Generated by tektii on {escape(fmt_time(generated.timestamp()))} UTC. "
        "All times are UTC. This file is self-contained and works offline.</footer>",
        "</main></body></html>\n",
    ))
