"""Reading config files: malformed JSON with line and column, unreadable files."""

from __future__ import annotations

import json

import pytest
from tektii_testkit import SPEC_CONFIG

from tektii_core.errors import TektiiError
from tektii_core.scenario_config import (
    ConfigError,
    load_scenario_config,
    parse_config_text,
    read_config_file,
)

GOOD = json.dumps(SPEC_CONFIG, indent=2)


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, source="backtest-config.json")
    assert isinstance(info.value, TektiiError)  # the CLI prints it as one Error: line
    return info.value


def test_valid_text_parses():
    assert parse_config_text(GOOD) == SPEC_CONFIG
    assert parse_config_text("\ufeff" + GOOD) == SPEC_CONFIG  # a BOM from Windows editors


@pytest.mark.parametrize(
    ("text", "line", "column", "reason"),
    [
        ('{\n  "startTime": "2024-01-01T00:00:00Z",\n}', 3, 1, "trailing comma before }"),
        ('{\n  "events": ["candle_1m",]\n}', 2, 26, "trailing comma before ]"),
        ('{\n  "a": 1\n  "b": 2\n}', 3, 3, "Expecting ',' delimiter"),
        ("{\n  startTime: 1\n}", 2, 3, "Expecting property name enclosed in double quotes"),
        ('{\n  "a": "unterminated\n}', 2, 21, "Invalid control character"),
        ('{"a": 1} {"b": 2}', 1, 10, "Extra data"),
        ('{\n  "initialCapital": NaN\n}', 2, 21, "NaN is not a JSON value"),
        ('{"riskFreeRate": -Infinity}', 1, 18, "-Infinity is not a JSON value"),
    ],
)
def test_malformed_json_reports_line_and_column(text, line, column, reason):
    err = error_of(text)
    assert (err.line, err.column) == (line, column)
    assert err.message.startswith(f"backtest-config.json: invalid JSON at line {line}, column {column}: {reason}")
    assert err.hint


def test_hints_say_how_to_fix():
    assert "remove the comma" in error_of('{"a": 1,}').hint
    assert "double quotes" in error_of("{a: 1}").hint
    assert 'line 3: "b": 2' in error_of('{\n  "a": 1\n  "b": 2\n}').hint


def test_empty_and_non_object_documents():
    assert error_of("  \n").message == "backtest-config.json is empty"
    assert error_of("[1, 2]").message == ("backtest-config.json: a scenario config must be a JSON object {...}, got an array")


def test_duplicate_keys_are_errors():
    err = error_of('{"startTime": "a", "endTime": "b", "startTime": "c"}')
    assert 'key "startTime" appears twice' in err.message


def test_read_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*missing.json"):
        read_config_file(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="is a directory"):
        read_config_file(tmp_path)
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'{"x": "caf\xe9"}')
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        read_config_file(latin1)
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": 1,\n}\n')
    with pytest.raises(ConfigError, match=r"bad.json: invalid JSON at line 3, column 1"):
        read_config_file(bad)


def test_load_scenario_config(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(GOOD)
    assert load_scenario_config(good).strategy_version_id == "ver_xyz789"

    broken = dict(SPEC_CONFIG, initialCapital=0, positionMode="x")
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ConfigError) as info:
        load_scenario_config(path)
    err = info.value
    assert [p.path for p in err.problems] == ["initialCapital", "positionMode"]
    lines = err.message.splitlines()
    assert lines[0] == f"{path} is not a valid scenario config (2 problems):"
    assert lines[1].startswith("  initialCapital: must be between 1 and 100,000,000, got 0")
    assert lines[2].startswith('  positionMode: unknown position mode "x"')
    assert "docs/scenario-config.md" in err.hint
