"""The self-contained HTML reports of `tektii scenario report` and `tektii sweep report`.

A library the scenario and sweep commands share, not a plugin (the built-in plugins are the
modules tektii_core.plugins.BUILTIN_PLUGINS names). Stdlib only and cheap to import, yet the
commands import it only when they need it (`report`, `compare`):

- chart_maths: axis ticks, calendar time ticks, per-pixel downsampling
- scenario_results: reading and checking the results (every bad field reported by its path)
- formatting: numbers, prices, times and escaped text
- svg_charts: chart frames and axes; equity, drawdown, overlay and heatmap charts
- page_document: the HTML document and its CSS, shared by the pages
- scenario_page, comparison_page, sweep_page: the pages
"""
