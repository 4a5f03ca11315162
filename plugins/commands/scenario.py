"""`tektii scenario create | get | list | cancel | logs | results | report | compare | rerun`: backtest runs.
(`scenario sweep` lives with the sweep commands in tektii_plugins.commands.sweep.)"""

from __future__ import annotations

import sys
import time

from tektii_core import hookimpl
from tektii_core.cli.args import add_page_arguments
from tektii_core.cli.live_lines import RunProgressLine
from tektii_core.errors import TektiiError
from tektii_core.output import Output

STATES = ("PENDING", "RUNNING", "COMPLETE", "FAILED", "CANCELLED")
FINISHED = {"COMPLETE", "FAILED", "CANCELLED"}
RESULT_TYPES = ("metadata", "timeseries", "trades")
WAIT_S = 1.0  # --wait: the long poll's length, i.e. how often the progress is redrawn
CANCEL_WAIT_S = 120.0  # a cancelled run stops within seconds; the platform kills a worker that lingers past 20 s
# (label, field, unit) of the headline metrics, in the order the summary shows them
METRICS = (
    ("Total Return", "totalReturn", "%"), ("Sharpe Ratio", "sharpeRatio", ""), ("Max Drawdown", "maxDrawdownPct", "%"),
    ("Total Trades", "totalTrades", ""), ("Win Rate", "winRatePct", "%"), ("Sortino Ratio", "sortinoRatio", ""),
    ("CAGR", "cagrPct", "%"), ("Volatility", "volatilityPct", "%"), ("Profit Factor", "profitFactor", ""),
    ("Average Win", "averageWin", ""), ("Average Loss", "averageLoss", ""), ("Exposure Time", "exposureTimePct", "%"),
    ("Total Fees", "totalFees", ""), ("Longest Drawdown", "longestDrawdownDays", " days"),
    ("Start Equity", "startEquity", ""), ("End Equity", "endEquity", ""), ("Margin Calls", "marginCalls", ""),
)


@hookimpl
def register_commands(register):
    register("scenario", help="Configure, run and read backtest scenarios",
             examples=["tektii scenario create strat_abc123 --config ./backtest-config.json --wait",
                       "tektii scenario get strat_abc123 scen_def456",
                       "tektii --output json scenario get strat_abc123 scen_def456"])
    register("create", parent="scenario", help="Validate a scenario config and start its backtest", run=create,
             arguments=_create_arguments,
             description="Reads the JSON config (see docs/scenario-config.md), checks every field before any request, "
                         "and starts the run on the platform. The scenario starts PENDING and moves through RUNNING to "
                         "COMPLETE (or FAILED / CANCELLED).",
             examples=["tektii scenario create strat_abc123 --config ./backtest-config.json",
                       "tektii scenario create strat_abc123 --config ./backtest-config.json --wait"])
    register("get", parent="scenario", help="Show a scenario's state and headline metrics", run=get,
             arguments=_ids, examples=["tektii scenario get strat_abc123 scen_def456"])
    register("list", parent="scenario", help="List a strategy's scenarios", run=list_, arguments=_list_arguments,
             examples=["tektii scenario list strat_abc123 --state COMPLETE", "tektii scenario list strat_abc123 --version ver_x"])
    register("cancel", parent="scenario", help="Cancel a pending or running scenario", run=cancel, arguments=_ids)
    register("logs", parent="scenario", help="Show the strategy's output (stdout/stderr) of a run", run=logs,
             arguments=_logs_arguments, examples=["tektii scenario logs strat_abc123 scen_def456 --follow"])
    register("results", parent="scenario", help="Download a result: metadata, the equity time series, or the trade log",
             run=results, arguments=_results_arguments,
             examples=["tektii scenario results strat_abc123 scen_def456 --type trades --format csv -o trades.csv"])
    register("report", parent="scenario", help="Write a self-contained HTML report (metrics, equity, drawdown, trades)",
             run=report, arguments=_report_arguments,
             description="With one scenario: its full report. With several: their metrics side by side, their equity "
                         "curves overlaid and where their configs differ.",
             examples=["tektii scenario report strat_abc123 scen_def456 -o report.html",
                       "tektii scenario report strat_abc123 scen_a scen_b scen_c -o compare.html"])
    register("compare", parent="scenario", help="Metrics of several scenarios side by side, with differences",
             run=compare, arguments=_compare_arguments,
             description="Differences are against the first scenario; the configs' differing fields are listed too.",
             examples=["tektii scenario compare strat_abc123 scen_a scen_b",
                       "tektii --output csv scenario compare strat_abc123 scen_a scen_b scen_c"])
    register("rerun", parent="scenario", help="Run a scenario again and report whether the result is identical",
             run=rerun, arguments=_ids,
             description="Runs the same version and config again, waits, and compares every fill, order, equity point, "
                         "trade and metric bit for bit. When they differ it names why: the market data changed, a "
                         "different image or engine ran, or the strategy is not deterministic. Exit 1 when not identical.",
             examples=["tektii scenario rerun strat_abc123 scen_def456"])


def _ids(parser):
    parser.add_argument("strategy_id", metavar="STRATEGY_ID")
    parser.add_argument("scenario_id", metavar="SCENARIO_ID")


def _create_arguments(parser):
    parser.add_argument("strategy_id", metavar="STRATEGY_ID")
    parser.add_argument("--config", required=True, metavar="FILE", help="scenario configuration (JSON)")
    parser.add_argument("--wait", action="store_true",
                        help="follow the run until it finishes and print its metrics (Ctrl-C stops waiting, not the run)")


def _list_arguments(parser):
    parser.add_argument("strategy_id", metavar="STRATEGY_ID")
    parser.add_argument("--state", type=str.upper, choices=STATES, help="only scenarios in this state")
    parser.add_argument("--version", metavar="VERSION_ID", help="only scenarios of this version")
    add_page_arguments(parser)


def _logs_arguments(parser):
    _ids(parser)
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until the run ends")


def _results_arguments(parser):
    _ids(parser)
    parser.add_argument("--type", required=True, choices=RESULT_TYPES, help="which result to download")
    parser.add_argument("--format", choices=("json", "csv"), default="json", help="file format (default json)")
    parser.add_argument("-o", "--out", metavar="FILE", help="write to FILE instead of standard output")


def _report_arguments(parser):
    parser.add_argument("strategy_id", metavar="STRATEGY_ID")
    parser.add_argument("scenario_ids", metavar="SCENARIO_ID", nargs="+", help="one scenario, or several to overlay")
    parser.add_argument("-o", "--out", metavar="FILE", required=True, help="the HTML file to write")


def _compare_arguments(parser):
    parser.add_argument("strategy_id", metavar="STRATEGY_ID")
    parser.add_argument("scenario_ids", metavar="SCENARIO_ID", nargs="+", help="two or more scenarios")


def _path(args) -> str:
    from tektii_core.client import api_path

    return api_path("/v1/strategies/{}/scenarios/{}", args.strategy_id, args.scenario_id)


def _fmt(value, unit: str = "") -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        text = f"{value:,.2f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return text + unit


def summary_record(s: dict) -> list[tuple[str, object]]:
    config = s.get("config") or {}
    record: list[tuple[str, object]] = [("Scenario ID", s["scenarioId"]), ("State", s["state"])]
    if s.get("failureReason"):
        record.append(("Failure Reason", s["failureReason"]))
    record += [("Strategy ID", s.get("strategyId")), ("Version ID", s.get("strategyVersionId")),
               ("Window", f"{config.get('startTime')} → {config.get('endTime')}" if config else None),
               ("Instruments", ", ".join(sub["instrument"] for sub in config.get("subscriptions", [])) or None),
               ("Initial Capital", _fmt(config.get("initialCapital"))), ("Position Mode", config.get("positionMode"))]
    progress = s.get("progress") or {}
    if s["state"] == "RUNNING" and progress:
        record.append(("Progress", f"{progress.get('fraction', 0) * 100:.1f}%"))
    if s["state"] == "RUNNING" and s.get("cancelRequested"):
        record.append(("Cancel", "requested: the run is stopping"))
    if s["state"] == "COMPLETE":
        # risk metrics stay "-" until the run had enough data to compute them
        record += [(label, _fmt(s.get(field), unit)) for label, field, unit in METRICS]
    record += [("Created At", s.get("createdAt")), ("Started At", s.get("startedAt")), ("Finished At", s.get("finishedAt"))]
    if s.get("sweepId"):
        record.append(("Sweep ID", s["sweepId"]))
    if s.get("rerunOf"):
        record.append(("Rerun Of", s["rerunOf"]))
    record += reproducibility_record(s.get("reproducibility"))
    return record


def reproducibility_record(r: dict | None) -> list[tuple[str, object]]:
    """What the run replayed, through which code (tektii_engine/record.py)."""
    if not r:
        return []
    strategy = (f"template {r['template']} ({r.get('templateHash')})" if r.get("template")
                else f"image {r.get('imageDigest')}")
    return [("Strategy Code", strategy), ("Engine", f"{r.get('engineVersion')} ({r.get('engineSourceHash')})"),
            ("Config Hash", r.get("configHash")),
            ("Candles Checksum", f"{r.get('candlesChecksum')} ({r.get('candlesReplayed', 0):,} candles)")]


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 60) -> str:
    if len(values) < 2:
        return ""
    step = max(1, len(values) // width)
    points = [values[min(i, len(values) - 1)] for i in range(0, len(values), step)][:width]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    return "".join(SPARKS[int((v - low) / span * (len(SPARKS) - 1))] for v in points)


def create(ctx, args):
    from tektii_core.client import api_path
    from tektii_core.scenario_config.parse import load_scenario_config, read_config_file

    load_scenario_config(args.config)  # every problem, before any request
    body = ctx.client.post(api_path("/v1/strategies/{}/scenarios", args.strategy_id), json=read_config_file(args.config))
    scenario = body["data"]
    if not args.wait:
        return Output(payload=body, headline=f"✓ Scenario created: {scenario['scenarioId']} ({scenario['state']})",
                      record=summary_record(scenario),
                      footer=["", f"Read the results with: tektii scenario get {args.strategy_id} {scenario['scenarioId']}"])
    return _wait(ctx, args.strategy_id, scenario)


def _wait(ctx, strategy_id: str, scenario: dict) -> Output:
    from tektii_core.client import api_path

    path = api_path("/v1/strategies/{}/scenarios/{}", strategy_id, scenario["scenarioId"])
    bar = RunProgressLine(ctx)
    try:
        scenario = until_finished(ctx, path, scenario, WAIT_S, on_update=bar.update)
    except KeyboardInterrupt:
        bar.close()
        ctx.stderr.write(f"\nStopped waiting; the run goes on. Check it with: tektii scenario get {strategy_id} "
                         f"{scenario['scenarioId']}\n")
        return 130
    bar.close()
    if scenario["state"] == "FAILED":
        raise TektiiError(f"Scenario {scenario['scenarioId']} failed: {scenario.get('failureReason') or 'no reason given'}",
                          hint=f"The strategy's output: tektii scenario logs {strategy_id} {scenario['scenarioId']}")
    if scenario["state"] == "CANCELLED":
        raise TektiiError(f"Scenario {scenario['scenarioId']} was cancelled")
    return Output(payload={"data": scenario}, headline=f"✓ Scenario {scenario['scenarioId']} complete",
                  record=summary_record(scenario))


def until_finished(ctx, path: str, scenario: dict, wait_s: float, *, on_update=None, timeout: float | None = None) -> dict | None:
    """The scenario at `path` once it has finished, long-polling ``GET ?waitS=wait_s`` (the platform
    answers as soon as the run ends, else after `wait_s` with fresh progress for `on_update`).
    None when `timeout` seconds passed first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while scenario["state"] not in FINISHED:
        if deadline is not None and time.monotonic() >= deadline:
            return None
        if on_update is not None:
            on_update(scenario)
        asked = time.monotonic()
        scenario = ctx.client.get(path, params={"waitS": wait_s})["data"]
        if scenario["state"] not in FINISHED and time.monotonic() - asked < wait_s / 2:
            time.sleep(wait_s / 2)  # a platform that does not long-poll: do not spin
    return scenario


def get(ctx, args):
    body = ctx.client.get(_path(args))
    scenario = body["data"]
    footer = []
    if scenario["state"] == "COMPLETE" and ctx.tty and ctx.output_format == "table":
        rows = ctx.client.get(_path(args) + "/results/timeseries")["data"]["rows"]
        line = sparkline([r["equity"] for r in rows])
        if line:
            footer = ["", f"Equity  {line}"]
    return Output(payload=body, record=summary_record(scenario), footer=footer)


def list_(ctx, args):
    from tektii_core.client import api_path

    params = {"limit": args.limit, "cursor": args.cursor, "state": args.state, "versionId": args.version}
    body = ctx.client.get(api_path("/v1/strategies/{}/scenarios", args.strategy_id), params=params)
    page = body["data"]
    rows = [[s["scenarioId"], s.get("strategyVersionId"), s["state"], _fmt(s.get("totalReturn"), "%"),
             _fmt(s.get("sharpeRatio")), _fmt(s.get("maxDrawdownPct"), "%"), s.get("totalTrades"), s.get("createdAt")]
            for s in page["scenarios"]]
    footer = [f"More: tektii scenario list {args.strategy_id} --cursor {page['nextCursor']}"] if page.get("nextCursor") else []
    return Output(payload=body, rows=rows, footer=footer,
                  columns=["Scenario ID", "Version ID", "State", "Return", "Sharpe", "Max DD", "Trades", "Created At"])


def cancel(ctx, args):
    """Ask for the cancel (the platform answers at once), then wait until the run has stopped."""
    scenario = ctx.client.post(_path(args) + "/cancel")["data"]
    check = f"Check it with: tektii scenario get {args.strategy_id} {args.scenario_id}"
    try:
        ended = until_finished(ctx, _path(args), scenario, 5.0, timeout=CANCEL_WAIT_S)
    except KeyboardInterrupt:
        ctx.stderr.write(f"\nStopped waiting; the run is being cancelled. {check}\n")
        return 130
    if ended is None:
        raise TektiiError(f"Scenario {args.scenario_id} did not stop within {CANCEL_WAIT_S:.0f} s of its cancel",
                          hint=f"The platform keeps trying to stop it. {check}")
    headline = (f"✓ Cancelled scenario {args.scenario_id}" if ended["state"] == "CANCELLED"
                else f"Scenario {args.scenario_id} ended {ended['state']} before the cancel took effect")
    return Output(payload={"data": ended}, headline=headline, record=summary_record(ended))


def logs(ctx, args):
    offset = 0
    while True:
        page = ctx.client.get(_path(args) + "/logs", params={"offset": offset})["data"]
        for line in page["lines"]:
            ctx.stdout.write(line + "\n")
        ctx.stdout.flush()
        offset = page["nextOffset"]
        if not args.follow or (page["state"] in FINISHED and not page["lines"]):
            return 0
        if not page["lines"]:
            time.sleep(0.5)


def results(ctx, args):
    path = _path(args) + f"/results/{args.type}"
    if args.format == "csv":
        text = ctx.client.get_text(path, params={"format": "csv"})
    else:
        import json

        text = json.dumps(ctx.client.get(path), indent=2) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        ctx.say(f"✓ Wrote {args.type} ({args.format}) to {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def report(ctx, args):
    from tektii_core.client import api_path
    from tektii_plugins.reports.comparison_page import render_comparison_report
    from tektii_plugins.reports.scenario_page import render_report

    def results(scenario_id: str, kind: str) -> dict:
        return ctx.client.get(api_path("/v1/strategies/{}/scenarios/{}/results/{}", args.strategy_id, scenario_id,
                                       kind))["data"]

    if len(args.scenario_ids) == 1:
        parts = {kind: results(args.scenario_ids[0], kind) for kind in RESULT_TYPES}
        html = render_report(parts["metadata"], parts["timeseries"]["rows"], parts["trades"]["trades"])
    else:
        html = render_comparison_report([(results(sid, "metadata"), results(sid, "timeseries")["rows"])
                                         for sid in args.scenario_ids])
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(html)
    return Output.message(f"✓ Report written to {args.out}", {"data": {"path": args.out, "bytes": len(html.encode())}})


def compare(ctx, args):
    from tektii_core.client import api_path
    from tektii_plugins.reports.comparison_page import config_differences

    if len(args.scenario_ids) < 2:
        raise TektiiError("compare needs at least two scenarios", hint="tektii scenario compare STRATEGY_ID SCEN_A SCEN_B")
    scenarios = [ctx.client.get(api_path("/v1/strategies/{}/scenarios/{}", args.strategy_id, sid))["data"]
                 for sid in args.scenario_ids]
    ids = [s["scenarioId"] for s in scenarios]
    metrics, rows = [], []
    for label, field, unit in METRICS:
        values = [s.get(field) for s in scenarios]
        differences = [v - values[0] if isinstance(v, (int, float)) and isinstance(values[0], (int, float)) else None
                       for v in values[1:]]
        metrics.append({"metric": field, "values": values, "differences": differences})
        rows.append([label, *[_fmt(v, unit) for v in values], *[_signed(d, unit) for d in differences]])
    changed = config_differences([s.get("config") or {} for s in scenarios])
    payload = {"data": {"scenarioIds": ids, "states": [s["state"] for s in scenarios], "metrics": metrics,
                        "configDifferences": [{"field": k, "values": v} for k, v in changed]}}
    columns = ["Metric", *ids, *[f"Δ {i}" for i in ids[1:]]]
    sections = []
    if ctx.output_format == "table":
        sections = [("Config differences", Output(payload=None, columns=["Field", *ids], rows=[[k, *v] for k, v in changed]))
                    if changed else ("Config differences", Output.message("The configs are the same."))]
    return Output(payload=payload, columns=columns, rows=rows, sections=sections)


def _signed(value, unit: str) -> str | None:
    if value is None:
        return None
    text = _fmt(value, unit) or ""
    return text if text.startswith("-") else "+" + text


def rerun(ctx, args):
    from tektii_core.client import api_path

    created = ctx.client.post(_path(args) + "/rerun")["data"]
    ctx.say(f"Rerunning {args.scenario_id} as {created['scenarioId']}...")
    waited = _wait(ctx, args.strategy_id, created)
    if not isinstance(waited, Output):
        return waited
    check = ctx.client.get(api_path("/v1/strategies/{}/scenarios/{}/reproduction", args.strategy_id, created["scenarioId"]))
    data = check["data"]
    if data["identical"]:
        return Output(payload=check, text=f"identical: {created['scenarioId']} reproduced {args.scenario_id} bit for bit "
                                          "(every fill, order, equity point, trade and metric)")
    lines = [f"different: {created['scenarioId']} did not reproduce {args.scenario_id}"]
    for d in data["differences"]:
        lines.append(f"  {d['cause']}: {d['message']}")
        lines += [f"    {f['field']}: {f['first']} -> {f['second']}" for f in d["fields"]]
    for part in data["resultDifferences"]:
        lines.append(f"  {part['part']}: {part['detail']}")
    return Output(payload=check, text="\n".join(lines), exit_code=1)
