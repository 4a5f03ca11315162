"""`tektii backtest run PATH --config FILE`: the local inner loop. Runs a strategy file or
directory as a process against the engine on 127.0.0.1, on the local market data, with no
upload and no platform, and prints the headline metrics."""

from __future__ import annotations

import os
from pathlib import Path

from tektii_core import hookimpl
from tektii_core.errors import TektiiError
from tektii_core.output import Output


@hookimpl
def register_commands(register):
    register("backtest", help="Run a strategy locally, without uploading it (the inner loop)",
             examples=["tektii backtest run ./main.py --config ./backtest-config.json"])
    register("run", parent="backtest", help="Backtest a strategy file or directory as a local process", run=run,
             arguments=_arguments,
             description="Runs PATH (a .py file, or a directory: the .py its Dockerfile CMD runs, else main.py, else "
                         "strategy.py) with the tektii SDK against the engine on "
                         "127.0.0.1, replaying the local platform's market data, and prints the headline metrics. "
                         "strategyVersionId may be left out of the config.",
             examples=["tektii backtest run ./main.py --config ./backtest-config.json",
                       "tektii --output json backtest run ./my-strategy --config cfg.json"])


def _arguments(parser):
    parser.add_argument("path", metavar="PATH",
                        help="strategy file, or directory (its Dockerfile CMD's script, main.py or strategy.py)")
    parser.add_argument("--config", required=True, metavar="FILE", help="scenario configuration (JSON)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="platform data directory holding market-data/ (default: $TEKTII_DATA_DIR or the XDG data dir)")


def run(ctx, args):
    from tektii_core.cli.live_lines import RunProgressLine
    from tektii_core.scenario_config.instruments import check_against_instruments
    from tektii_core.scenario_config.model import LOCAL_VERSION_ID
    from tektii_core.scenario_config.parse import invalid_config_error, read_config_file
    from tektii_core.scenario_config.validate import validate_config
    from tektii_engine.data.store import CandleStore
    from tektii_engine.run import local_run
    from tektii_plugins.commands.scenario import METRICS, _fmt
    from tektii_plugins.runtimes.process import strategy_entry

    raw = read_config_file(args.config)
    raw.setdefault("strategyVersionId", LOCAL_VERSION_ID)  # nothing is uploaded: any id will do
    config, problems = validate_config(raw)
    path = Path(args.path)
    if not path.exists():
        raise TektiiError(f"Strategy not found: {args.path}")
    strategy_entry(path)  # a directory without an entry point fails before anything runs
    data_dir = Path(args.data_dir or os.environ.get("TEKTII_DATA_DIR") or _default_data_dir())
    store = CandleStore(data_dir / "market-data")
    if config is not None:
        problems += check_against_instruments(config, {i.symbol: i.to_api() for i in store.list_instruments()})
    if problems:
        raise invalid_config_error(problems, source=args.config)
    display = RunProgressLine(ctx)

    def progress(fraction: float, events_per_second: float, equity: float) -> None:
        display.update({"state": "RUNNING", "progress": {"fraction": fraction, "eventsPerSecond": events_per_second,
                                                         "equity": equity}})

    try:
        result = local_run(path, config.to_api(), data_dir=data_dir / "market-data", on_progress=progress,
                           log=(lambda line: ctx.trace(f"strategy: {line}")) if ctx.verbose else None)
    finally:
        display.close()
    if result.state != "COMPLETE":
        raise TektiiError(f"Backtest {result.state.lower()}: {result.reason}")  # the reason ends with the log's tail
    metrics = result.metrics(risk_free_rate=config.risk_free_rate)
    data = {"state": result.state, **metrics, "counters": result.counters}
    record = [("State", result.state), *((label, _fmt(metrics.get(field), unit)) for label, field, unit in METRICS),
              ("Candles", result.counters.get("candles")), ("Events", result.counters.get("events"))]
    return Output(payload={"data": data}, headline="✓ Backtest complete", record=record)


def _default_data_dir() -> Path:
    from tektii_platform.daemon import data_dir_default

    return Path(data_dir_default())
