"""`tektii data import | generate | list` end to end: the real entry point against a real platform
(its own, so that the instruments it lists are only this module's)."""

from __future__ import annotations

import json

import pytest
from tektii_testkit import Platform, shipped_file

CSV = (
    "Date,Open,High,Low,Close,Volume\n"
    "2024-01-01,100,101,99,100.5,10\n"
    "2024-01-02,100.5,102,100,101.5,11\n"
    "2024-01-03,101.5,101.5,100.5,101,12\n"
)


@pytest.fixture(scope="module")
def own_platform(tmp_path_factory):
    server = Platform(tmp_path_factory.mktemp("data-cli") / "data")
    yield server
    server.stop()


@pytest.fixture
def data_cli(cli, own_platform):
    cli.env.update({"TEKTII_API_URL": own_platform.url, "TEKTII_API_KEY": own_platform.new_user("quant", admin=True)})
    return cli


def test_parser_timeframes_are_the_engine_timeframes():
    from tektii_engine.data.timeframes import TIMEFRAMES
    from tektii_plugins.commands.data import TIMEFRAMES as CLI_TIMEFRAMES

    assert CLI_TIMEFRAMES == TIMEFRAMES


def test_import_generate_list(data_cli, tmp_path):
    csv = tmp_path / "spx.csv"
    csv.write_text(CSV)
    done = data_cli("data", "import", "S:SPX", str(csv))
    assert done.code == 0, done.err
    assert "✓ Imported spx.csv into S:SPX" in done.out
    assert "Granularities" in done.out and "1d, 1w" in done.out

    done = data_cli("data", "generate", "C:BTCUSD", "--start", "2024-01-01", "--end", "2024-01-02", "--seed", "3")
    assert done.code == 0, done.err
    assert "✓ Generated 1,440 synthetic 1m bars for C:BTCUSD" in done.out

    listed = data_cli("--output", "json", "data", "list", env={"TEKTII_API_KEY": None})  # public: no key
    assert listed.code == 0, listed.err
    instruments = json.loads(listed.out)["data"]["instruments"]
    assert [(i["symbol"], i["market"], i["synthetic"]) for i in instruments] == [
        ("C:BTCUSD", "CRYPTO", True),
        ("S:SPX", "STOCK", False),
    ]
    assert instruments[1]["dataStart"] == "2024-01-01T00:00:00Z" and instruments[1]["dataEnd"] == "2024-01-04T00:00:00Z"
    table = data_cli("data", "list")
    assert table.code == 0 and "BTC/USD" in table.out and "synthetic" in table.out


def test_import_of_real_data_then_replace(data_cli, tmp_path):
    path = shipped_file("gym-anytrading", "gym_anytrading/datasets/data/FOREX_EURUSD_1H_ASK.csv")
    done = data_cli("--output", "json", "data", "import", "F:EURUSD", str(path), "--timeframe", "1h")
    assert done.code == 0, done.err
    assert json.loads(done.out)["data"]["rows"] == 6225
    small = tmp_path / "eurusd.csv"
    small.write_text("time,open,high,low,close\n2024-01-01T22:00:00Z,1.1,1.2,1.0,1.15\n")
    done = data_cli("--output", "json", "data", "import", "F:EURUSD", str(small), "--timeframe", "1h", "--replace")
    assert done.code == 0, done.err
    assert json.loads(done.out)["data"]["rows"] == 1


def test_bad_file_reports_every_line_and_imports_nothing(data_cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV.replace("100.5,102,100,101.5,11", "100.5,99,100,x,11").replace(",12\n", ",-12\n"))
    done = data_cli("data", "import", "C:ETHUSD", str(bad))
    assert done.code != 0 and "✓" not in done.out
    assert "Traceback" not in done.err
    assert "Error: bad.csv: 3 problems, nothing was imported:" in done.err
    assert "  line 3: close 'x' is not a number" in done.err
    assert "  line 3: high 99 is below max(open, close) 100.5" in done.err
    assert "  line 4: negative volume -12" in done.err
    assert done.err.count("close 'x' is not a number") == 1 and "::" not in done.err  # each problem once
    assert done.err.rstrip().endswith("Solution: fix the rows listed and import again")
    listed = data_cli("--output", "json", "data", "list")
    assert "C:ETHUSD" not in [i["symbol"] for i in json.loads(listed.out)["data"]["instruments"]]


def test_the_platforms_hint_is_the_solution_line(data_cli, tmp_path):
    done = data_cli("data", "generate", "C:SOLUSD", "--start", "2024-01-01", "--end", "2024-01-05", "--timeframe", "1d")
    assert done.code == 0, done.err
    csv = tmp_path / "sol.csv"
    csv.write_text(CSV)
    done = data_cli("data", "import", "C:SOLUSD", str(csv))
    assert done.code == 1
    assert done.err.splitlines() == ["Error: C:SOLUSD holds synthetic data; cannot merge imported data into it",
                                     "Solution: use --replace to replace the stored data"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "import", "BTCUSD", "x.csv"], "invalid symbol 'BTCUSD'"),
        (["data", "import", "C:BTCUSD", "missing.csv"], "File not found: missing.csv"),
        (["data", "generate", "C:BTCUSD", "--start", "soon", "--end", "2024-01-02"], "invalid time 'soon'"),
        (["data", "generate", "C:BTCUSD", "--start", "2024-01-02", "--end", "2024-01-01"], "end must be after"),
        (
            ["data", "generate", "C:BTCUSD", "--start", "2024-01-01", "--end", "2024-01-02", "--timeframe", "3m"],
            "invalid choice",
        ),  # fmt: skip
    ],
)
def test_user_errors_are_one_error_line(data_cli, args, message):
    done = data_cli(*args)
    assert done.code != 0
    assert message in done.err and "Traceback" not in done.err
