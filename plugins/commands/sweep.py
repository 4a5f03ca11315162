"""`tektii scenario sweep` and `tektii sweep get | list | cancel | report`: parameter sweeps.

A sweep runs one scenario per trial of a parameter space (grid, seeded random, or Optuna's
TPE search on the platform) and ranks the trials by an objective metric (docs/sweeps.md).
"""

from __future__ import annotations

import time

from tektii_core import hookimpl
from tektii_core.cli.args import add_page_arguments
from tektii_core.errors import TektiiError
from tektii_core.output import Output
from tektii_plugins.commands.scenario import _fmt

SWEEP_STATES = ("RUNNING", "COMPLETE", "FAILED", "CANCELLED")
METHODS = ("grid", "random", "optuna")
POLL_S = 0.5
LIVE_ROWS = 30  # trials drawn in the live table; the rest are counted


@hookimpl
def register_commands(register):
    register("sweep", parent="scenario", help="Run a strategy over a space of parameters and rank the trials",
             run=create, arguments=_create_arguments,
             description="Each trial is a scenario of the base config with the trial's parameters as environment "
                         "entries. Methods: grid (every combination), random --trials N, optuna --trials N (TPE, "
                         "seeded). Constraints such as 'FAST < SLOW' skip combinations. See docs/sweeps.md.",
             examples=["tektii scenario sweep strat_abc123 --config base.json --param FAST_PERIOD=5,10,20 "
                       "--param SLOW_PERIOD=20:60:10 --constraint 'FAST_PERIOD < SLOW_PERIOD' --wait",
                       "tektii scenario sweep strat_abc123 --config base.json --sweep-file sweep.json --method optuna "
                       "--trials 40 --seed 7 --objective totalReturn",
                       "tektii scenario sweep strat_abc123 --config base.json --param FAST_PERIOD=5:30:5 "
                       "--holdout 2024-03-01T00:00:00Z --wait"])
    register("sweep", help="Follow, rank, cancel and report parameter sweeps",
             examples=["tektii sweep get swp_abc123 --wait", "tektii sweep list --strategy strat_abc123",
                       "tektii sweep report swp_abc123 -o sweep.html"])
    register("get", parent="sweep", help="Show a sweep's trials and their ranking", run=get,
             arguments=_get_arguments, examples=["tektii sweep get swp_abc123", "tektii --output json sweep get swp_abc123"])
    register("list", parent="sweep", help="List your sweeps", run=list_, arguments=_list_arguments,
             examples=["tektii sweep list --strategy strat_abc123 --state RUNNING"])
    register("cancel", parent="sweep", help="Cancel a sweep: its pending and running trials", run=cancel,
             arguments=lambda p: p.add_argument("sweep_id", metavar="SWEEP_ID"))
    register("report", parent="sweep", help="Write a self-contained HTML page: ranking, heatmap, best equity curves",
             run=report, arguments=_report_arguments,
             examples=["tektii sweep report swp_abc123 -o sweep.html",
                       "tektii sweep report swp_abc123 -o sweep.html --x FAST_PERIOD --y SLOW_PERIOD --top 3"])


def _create_arguments(parser):
    parser.add_argument("strategy_id", metavar="STRATEGY_ID")
    parser.add_argument("--config", required=True, metavar="FILE", help="the base scenario configuration (JSON)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUES",
                        help="a parameter: NAME=5,10,20 (values) or NAME=20:60:10 (low:high:step, inclusive); repeatable")
    parser.add_argument("--sweep-file", metavar="FILE", help="a sweep file (JSON: parameters, constraints, method, ...)")
    parser.add_argument("--constraint", action="append", default=[], metavar="EXPR",
                        help="skip combinations that break it, e.g. 'FAST < SLOW'; repeatable")
    parser.add_argument("--method", choices=METHODS, help="search method (default grid)")
    parser.add_argument("--trials", type=int, metavar="N", help="trials to run (random and optuna)")
    parser.add_argument("--seed", type=int, metavar="N", help="random and optuna seed (default 0)")
    parser.add_argument("--objective", metavar="METRIC", help="the metric to rank by (default sharpeRatio)")
    direction = parser.add_mutually_exclusive_group()
    direction.add_argument("--maximize", dest="direction", action="store_const", const="maximize",
                           help="higher objective is better (the default, except for drawdown and volatility)")
    direction.add_argument("--minimize", dest="direction", action="store_const", const="minimize",
                           help="lower objective is better")
    parser.add_argument("--holdout", metavar="TIME",
                        help="optimise before TIME, rerun the best trials from TIME on (in- and out-of-sample)")
    parser.add_argument("--holdout-top", type=int, metavar="N", help="how many best trials the holdout reruns (default 3)")
    parser.add_argument("--wait", action="store_true",
                        help="follow the trials until the sweep ends and print the ranking (Ctrl-C stops waiting)")


def _get_arguments(parser):
    parser.add_argument("sweep_id", metavar="SWEEP_ID")
    parser.add_argument("--wait", action="store_true", help="follow the trials until the sweep ends")


def _list_arguments(parser):
    parser.add_argument("--strategy", metavar="STRATEGY_ID", help="only this strategy's sweeps")
    parser.add_argument("--state", type=str.upper, choices=SWEEP_STATES, help="only sweeps in this state")
    add_page_arguments(parser)


def _report_arguments(parser):
    parser.add_argument("sweep_id", metavar="SWEEP_ID")
    parser.add_argument("-o", "--out", metavar="FILE", required=True, help="the HTML file to write")
    parser.add_argument("--x", metavar="PARAM", help="the heatmap's horizontal parameter (default the first)")
    parser.add_argument("--y", metavar="PARAM", help="the heatmap's vertical parameter (default the second)")
    parser.add_argument("--top", type=int, default=5, metavar="N", help="equity curves of the N best trials (default 5)")


# -- building the sweep from the flags and the sweep file -----------------------------------------


def sweep_document(args) -> dict:
    """The sweep as the API takes it: the sweep file, then the flags on top; every problem at once."""
    from tektii_core.scenario_config.model import ConfigError
    from tektii_core.scenario_config.parse import format_problems, parse_config_text, read_config_file
    from tektii_core.sweep_spec import parse_param_flag, validate_sweep

    body: dict = {}
    if args.sweep_file:
        try:
            with open(args.sweep_file, encoding="utf-8") as fh:
                loaded = parse_config_text(fh.read(), source=args.sweep_file)
        except OSError as exc:
            raise TektiiError(f"cannot read the sweep file {args.sweep_file}: {exc.strerror or exc}") from None
        if not isinstance(loaded, dict):
            raise TektiiError(f"{args.sweep_file} is not a sweep: a JSON object {{...}} is expected")
        body.update(loaded)
    body["config"] = read_config_file(args.config)
    parameters = dict(body.get("parameters") or {}) if isinstance(body.get("parameters"), dict) else body.get("parameters")
    for text in args.param:
        try:
            name, spec = parse_param_flag(text)
        except ValueError as exc:
            raise TektiiError(str(exc)) from None
        if not isinstance(parameters, dict):
            parameters = {}
        parameters[name] = spec
    if parameters is not None:
        body["parameters"] = parameters
    if args.constraint:
        existing = body.get("constraints") or []
        body["constraints"] = [*(existing if isinstance(existing, list) else [existing]), *args.constraint]
    for field, value in (("method", args.method), ("trials", args.trials), ("seed", args.seed),
                         ("objective", args.objective), ("direction", args.direction), ("holdout", args.holdout),
                         ("holdoutTop", args.holdout_top)):
        if value is not None:
            body[field] = value
    _spec, problems = validate_sweep(body)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        raise ConfigError(f"not a valid sweep ({count}):\n" + format_problems(problems, indent="  "),
                          hint="see docs/sweeps.md for the sweep's fields and rules", problems=problems)
    return body


# -- views ------------------------------------------------------------------------------------------


def _params_text(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def summary_record(s: dict) -> list[tuple[str, object]]:
    counts = s.get("counts") or {}
    done = sum(counts.get(k, 0) for k in ("COMPLETE", "FAILED", "CANCELLED"))
    record: list[tuple[str, object]] = [("Sweep ID", s["sweepId"]), ("State", s["state"])]
    if s.get("failureReason"):
        record.append(("Failure Reason", s["failureReason"]))
    record += [("Strategy ID", s["strategyId"]), ("Version ID", s["strategyVersionId"]),
               ("Method", s["method"] + (f" (seed {s['seed']})" if s["method"] != "grid" else "")),
               ("Objective", f"{s['objective']} ({s['direction']})"),
               ("Parameters", "; ".join(f"{k}: {_space(v)}" for k, v in s["parameters"].items())),
               ("Constraints", ", ".join(s.get("constraints") or []) or None),
               ("Trials", f"{done}/{s['trialCount']} finished ({counts.get('COMPLETE', 0)} complete)"),
               ("Holdout", s.get("holdout")), ("Created At", s.get("createdAt")), ("Finished At", s.get("finishedAt"))]
    return record


def _space(spec: dict) -> str:
    if "values" in spec:
        return ", ".join(str(v) for v in spec["values"])
    return f"{spec['low']}..{spec['high']}" + (f" step {spec['step']}" if "step" in spec else "")


# The metrics the ranking shows beside the objective (in- and out-of-sample with a holdout).
KEY_METRICS = (("Return", "totalReturn", "%"), ("Sharpe", "sharpeRatio", ""), ("Max DD", "maxDrawdownPct", "%"),
               ("Trades", "totalTrades", ""))


def ranking_view(s: dict) -> Output:
    """The ranked trials: parameters, the objective and the key metrics; with a holdout each of
    them in-sample and out-of-sample side by side."""
    names = list(s["parameters"])
    trials = {t["trial"]: t for t in s.get("trials", [])}
    holdout = s.get("holdout") is not None
    units = {field: unit for _, field, unit in KEY_METRICS}
    shown = [(s["objective"], s["objective"], units.get(s["objective"], "")), *(m for m in KEY_METRICS if m[1] != s["objective"])]
    columns = ["Rank", "Trial", *names]
    for label, _field, _unit in shown:
        columns += [f"{label} (in)", f"{label} (out)"] if holdout else [label]
    columns.append("Scenario ID")
    rows = []
    for number in s.get("ranking", []):
        t = trials[number]
        metrics = t.get("metrics") or {}
        oos = t.get("outOfSample") or {}
        oos_metrics = oos.get("metrics") or {}
        row = [t["rank"], number, *[t["parameters"].get(n) for n in names]]
        for _label, field, unit in shown:
            row.append(_fmt(metrics.get(field), unit))
            if holdout:  # a trial not rerun out of sample shows nothing; a failed rerun its state
                row.append(_fmt(oos_metrics.get(field), unit) if oos.get("state") == "COMPLETE" else oos.get("state"))
        row.append(t["scenarioId"])
        rows.append(row)
    return Output(payload=None, columns=columns, rows=rows)


def _sweep_output(s: dict, headline: str | None = None) -> Output:
    sections = [("Ranking", ranking_view(s))] if s.get("ranking") else []
    unranked = [t for t in s.get("trials", []) if t.get("rank") is None]
    if unranked:
        sections.append(("Other trials", Output(payload=None, columns=["Trial", "Parameters", "State", "Reason"], rows=[
            [t["trial"], _params_text(t["parameters"]), t["state"], t.get("failureReason")] for t in unranked])))
    footer = [f"Report: tektii sweep report {s['sweepId']} -o sweep.html"] if s.get("ranking") else []
    return Output(payload={"data": s}, headline=headline, record=summary_record(s), sections=sections, footer=footer)


# -- following a sweep -------------------------------------------------------------------------------


class SweepProgress:
    """A redrawn table of trials on a terminal; one plain line per trial state change otherwise."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.live = ctx.tty and not ctx.quiet and ctx.output_format == "table"
        self.drawn_lines = 0
        self.seen: dict[int, str] = {}

    def update(self, s: dict) -> None:
        trials = s.get("trials", [])
        if self.live:
            self._draw(s, trials)
            return
        for t in trials:
            if self.seen.get(t["trial"]) != t["state"]:
                self.seen[t["trial"]] = t["state"]
                value = f" {s['objective']}={_fmt(t['objective'])}" if t.get("objective") is not None else ""
                self.ctx.say(f"trial {t['trial']} {_params_text(t['parameters'])}: {t['state']}{value}")

    def _draw(self, s: dict, trials: list[dict]) -> None:
        from tektii_plugins.formatters.table import draw

        names = list(s["parameters"])
        rows = [[str(t["trial"]), *[t["parameters"].get(n, "") for n in names], t["state"],
                 _fmt(t.get("objective")) or "-"] for t in trials[:LIVE_ROWS]]
        counts = s.get("counts") or {}
        status = (f"{s['sweepId']}  {s['state']}  " + "  ".join(f"{k.lower()} {v}" for k, v in counts.items() if v)
                  + (f"  (+{len(trials) - LIVE_ROWS} more trials)" if len(trials) > LIVE_ROWS else ""))
        text = draw(["Trial", *names, "State", s["objective"]], rows, boxed=True) + status + "\n"
        out = self.ctx.stdout
        if self.drawn_lines:
            out.write(f"\033[{self.drawn_lines}F\033[J")  # back to the table's first line, clear below
        out.write(text)
        out.flush()
        self.drawn_lines = text.count("\n")

    def close(self) -> None:
        if self.live and self.drawn_lines:
            self.ctx.stdout.write(f"\033[{self.drawn_lines}F\033[J")
            self.ctx.stdout.flush()


def follow(ctx, sweep: dict) -> Output | int:
    from tektii_core.client import api_path

    path = api_path("/v1/sweeps/{}", sweep["sweepId"])
    progress = SweepProgress(ctx)
    try:
        while sweep["state"] == "RUNNING":
            progress.update(sweep)
            time.sleep(POLL_S)
            sweep = ctx.client.get(path)["data"]
        progress.update(sweep)
    except KeyboardInterrupt:
        progress.close()
        ctx.stderr.write(f"\nStopped waiting; the sweep goes on. Check it with: tektii sweep get {sweep['sweepId']}\n")
        return 130
    progress.close()
    if sweep["state"] == "FAILED":
        raise TektiiError(f"Sweep {sweep['sweepId']} failed: {sweep.get('failureReason') or 'no reason given'}",
                          hint=f"See the trials: tektii sweep get {sweep['sweepId']}")
    if sweep["state"] == "CANCELLED":
        raise TektiiError(f"Sweep {sweep['sweepId']} was cancelled",
                          hint=f"The finished trials: tektii sweep get {sweep['sweepId']}")
    return _sweep_output(sweep, headline=f"✓ Sweep {sweep['sweepId']} complete")


# -- commands -----------------------------------------------------------------------------------------


def create(ctx, args):
    from tektii_core.client import api_path

    body = ctx.client.post(api_path("/v1/strategies/{}/sweeps", args.strategy_id), json=sweep_document(args))
    sweep = body["data"]
    if args.wait:
        return follow(ctx, sweep)
    return Output(payload=body, headline=f"✓ Sweep created: {sweep['sweepId']} ({sweep['trialCount']} trials, "
                                         f"{sweep['method']})", record=summary_record(sweep),
                  footer=["", f"Follow it with: tektii sweep get {sweep['sweepId']} --wait"])


def get(ctx, args):
    from tektii_core.client import api_path

    body = ctx.client.get(api_path("/v1/sweeps/{}", args.sweep_id))
    if args.wait:
        return follow(ctx, body["data"])
    return _sweep_output(body["data"])


def list_(ctx, args):
    params = {"limit": args.limit, "cursor": args.cursor, "strategyId": args.strategy, "state": args.state}
    body = ctx.client.get("/v1/sweeps", params=params)
    page = body["data"]
    rows = []
    for s in page["sweeps"]:
        counts = s.get("counts") or {}
        done = sum(counts.get(k, 0) for k in ("COMPLETE", "FAILED", "CANCELLED"))
        rows.append([s["sweepId"], s["strategyId"], s["state"], s["method"], s["objective"], f"{done}/{s['trialCount']}",
                     s.get("best"), s["createdAt"]])
    footer = [f"More: tektii sweep list --cursor {page['nextCursor']}"] if page.get("nextCursor") else []
    return Output(payload=body, rows=rows, footer=footer,
                  columns=["Sweep ID", "Strategy ID", "State", "Method", "Objective", "Trials", "Best Trial", "Created At"])


def cancel(ctx, args):
    from tektii_core.client import api_path

    body = ctx.client.post(api_path("/v1/sweeps/{}/cancel", args.sweep_id))
    return Output(payload=body, headline=f"✓ Cancelled sweep {args.sweep_id}", record=summary_record(body["data"]))


def report(ctx, args):
    from tektii_core.client import api_path
    from tektii_plugins.reports.sweep_page import render_sweep_report

    sweep = ctx.client.get(api_path("/v1/sweeps/{}", args.sweep_id))["data"]
    names = list(sweep["parameters"])
    for flag, name in (("--x", args.x), ("--y", args.y)):
        if name is not None and name not in names:
            raise TektiiError(f"{flag} {name}: the sweep has no such parameter; it has {', '.join(names)}")
    if args.top < 1:
        raise TektiiError("--top must be at least 1")
    trials = {t["trial"]: t for t in sweep.get("trials", [])}
    curves = []
    for number in sweep.get("ranking", [])[: args.top]:
        scenario_id = trials[number]["scenarioId"]
        rows = ctx.client.get(api_path("/v1/strategies/{}/scenarios/{}/results/timeseries", sweep["strategyId"],
                                   scenario_id))["data"]
        curves.append((f"#{trials[number]['rank']} trial {number}: {_params_text(trials[number]['parameters'])}", rows["rows"]))
    html = render_sweep_report(sweep, curves, x=args.x, y=args.y)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(html)
    return Output.message(f"✓ Sweep report written to {args.out}", {"data": {"path": args.out, "bytes": len(html.encode())}})

