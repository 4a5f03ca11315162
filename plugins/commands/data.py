"""`tektii data import | generate | list`: market data on the platform (docs/market-data.md)."""

from __future__ import annotations

from tektii_core import hookimpl
from tektii_core.output import Output
from tektii_core.timeutil import TIMEFRAMES

UPLOAD_TIMEOUT = (10.0, 600.0)  # connect, read: the platform validates the whole file first


@hookimpl
def register_commands(register):
    register("data", help="Import, generate and list the market data backtests replay",
             examples=["tektii data import F:EURUSD ./eurusd-1h.csv", "tektii data generate C:BTCUSD --start 2024-01-01 "
                       "--end 2024-04-01", "tektii data list"])  # fmt: skip
    register("import", parent="data", help="Import OHLCV candles from a CSV or Parquet file", run=import_,
             arguments=_import_arguments,
             description="Every row is validated first (times, numbers, high/low, volume, order, duplicates, "
                         "spacing); every bad row is reported by line and then nothing is imported. A re-import "
                         "merges (new rows win on equal times) unless --replace is given.",
             examples=["tektii data import F:EURUSD ./eurusd-1h.csv", "tektii data import S:SPX ./sp500.csv.gz "
                       "--timeframe 1d --replace"])  # fmt: skip
    register(
        "generate",
        parent="data",
        help="Generate reproducible synthetic candles (a random walk)",
        run=generate,
        arguments=_generate_arguments,
        examples=[
            "tektii data generate C:BTCUSD --start 2024-01-01 --end 2024-04-01",
            "tektii data generate F:EURUSD --start 2024-01-01 --end 2025-01-01 --timeframe 1h --seed 7",
        ],
    )
    register(
        "list",
        parent="data",
        help="List the instruments with market data (no API key needed)",
        run=list_,
        examples=["tektii data list", "tektii --output json data list | jq '.data.instruments[0].symbol'"],
    )


def _symbol_argument(parser):
    parser.add_argument("symbol", metavar="SYMBOL", help="C:BTCUSD (crypto), F:EURUSD (forex) or S:SPX (stocks)")


def _import_arguments(parser):
    _symbol_argument(parser)
    parser.add_argument("file", metavar="FILE", help="CSV (or .csv.gz) or Parquet with time and OHLC(V) columns")
    parser.add_argument("--timeframe", choices=TIMEFRAMES, metavar="TF",
                        help="the file's timeframe (default: inferred from the rows' spacing)")  # fmt: skip
    parser.add_argument("--replace", action="store_true", help="replace the stored data instead of merging")


def _generate_arguments(parser):
    _symbol_argument(parser)
    parser.add_argument("--start", required=True, help="window start, RFC 3339 or a date (e.g. 2024-01-01)")
    parser.add_argument("--end", required=True, help="window end (exclusive)")
    parser.add_argument("--timeframe", choices=TIMEFRAMES, metavar="TF", default="1m", help="bar size (default 1m)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed (default 0): same seed, same candles")


def _seed(text: str) -> int:
    import argparse

    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return int(text)


def _path(symbol: str, action: str = "") -> str:
    from urllib.parse import quote

    from tektii_engine.data.symbols import parse_symbol

    code = parse_symbol(symbol).symbol  # a bad symbol is refused before any request
    return f"/v1/instruments/{quote(code, safe=':')}" + (f"/{action}" if action else "")


def _time(text: str) -> str:
    """RFC 3339 for the API from a date or a timestamp; TektiiError if neither."""
    from tektii_core.timeutil import format_time
    from tektii_engine.data.timeframes import parse_time

    return format_time(parse_time(text))


def instrument_record(data: dict) -> list[tuple[str, object]]:
    return [("Symbol", data["symbol"]), ("Name", data["name"]), ("Market", data["market"]),
            ("Data Start", data["dataStart"]), ("Data End", data["dataEnd"]),
            ("Granularities", data["granularities"]), ("Source", data["source"]),
            ("Rows", f"{data['rows']:,}")]  # fmt: skip


def _data_problems(exc):
    """A market-data validation error: every problem on its own line, not one long line."""
    from tektii_core.client import APIError
    from tektii_core.contracts import TektiiError

    if isinstance(exc, APIError) and exc.code == "invalid_market_data":
        lines = [str(d.get("message")) for d in exc.details]
        head = exc.api_message.rstrip(":.") + ":"
        return TektiiError("\n  ".join([head, *lines]), hint=exc.hint or "fix the rows listed and import again")
    return exc


def import_(ctx, args):
    from pathlib import Path

    from tektii_core.client import APIError
    from tektii_core.contracts import TektiiError

    path = _path(args.symbol, "import")
    file = Path(args.file)
    if not file.is_file():
        raise TektiiError(f"File not found: {args.file}")
    ctx.say(f"Uploading {file.name} ({file.stat().st_size:,} bytes)...")
    params = {"filename": file.name, "timeframe": args.timeframe, "mode": "replace" if args.replace else "merge"}
    try:
        with open(file, "rb") as handle:
            body = ctx.client.request("POST", path, params=params, data=handle, timeout=UPLOAD_TIMEOUT,
                                      headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    except APIError as exc:
        raise _data_problems(exc) from None
    data = body["data"]
    verb = "Replaced" if args.replace else "Imported"
    return Output(payload=body, headline=f"✓ {verb} {file.name} into {data['symbol']}", record=instrument_record(data))


def generate(ctx, args):
    path = _path(args.symbol, "generate")
    request = {"start": _time(args.start), "end": _time(args.end), "timeframe": args.timeframe, "seed": args.seed}
    body = ctx.client.post(path, json=request, timeout=UPLOAD_TIMEOUT)
    data = body["data"]
    return Output(payload=body, headline=f"✓ Generated {data['rows']:,} synthetic {args.timeframe} bars for "
                  f"{data['symbol']}", record=instrument_record(data))  # fmt: skip


def list_(ctx, args):
    from tektii_core.client import APIClient

    # Public endpoint: no API key needed, so none is looked up.
    client = APIClient(ctx.api_url, None, verbose=ctx.verbose)
    instruments = list(client.paginate("/v1/instruments", "instruments", limit=1000))
    body = {"data": {"instruments": instruments, "nextCursor": None}}
    rows = [[i["symbol"], i["name"], i["market"], i["dataStart"], i["dataEnd"], i["granularities"],
             "synthetic" if i["synthetic"] else "imported", f"{i['rows']:,}"] for i in instruments]  # fmt: skip
    footer = [] if instruments else ["No market data yet: tektii data import SYMBOL FILE, or tektii data generate"]
    return Output(payload=body, columns=["Symbol", "Name", "Market", "Data Start", "Data End", "Granularities",
                                         "Source", "Rows"], rows=rows, footer=footer)  # fmt: skip
