"""The templates' environment parsing: defaults, every bad value reported, fail fast."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tektii_engine.templates import BUILTIN_TEMPLATES, template_dir


def test_ma_defaults_and_overrides(ma):
    assert ma.load_settings({}) == ma.Settings(10, 20, 0.10, None, None, 8)
    env = {
        "FAST_PERIOD": "5",
        "SLOW_PERIOD": " 50 ",
        "ORDER_EQUITY_FRACTION": "0.25",
        "STOP_LOSS_PCT": "2.5",
        "TAKE_PROFIT_PCT": "",
        "QUANTITY_DECIMALS": "0",
    }
    assert ma.load_settings(env) == ma.Settings(5, 50, 0.25, 2.5, None, 0)


def test_rsi_defaults_and_overrides(rsi):
    assert rsi.load_settings({}) == rsi.Settings(14, 30.0, 70.0, 0.10, None, None, 8)
    env = {"RSI_PERIOD": "7", "RSI_OVERSOLD": "20", "RSI_OVERBOUGHT": "80", "TAKE_PROFIT_PCT": "4"}
    assert rsi.load_settings(env) == rsi.Settings(7, 20.0, 80.0, 0.10, None, 4.0, 8)


def test_ma_reports_every_bad_variable_at_once(ma):
    env = {
        "FAST_PERIOD": "fast",
        "SLOW_PERIOD": "1",
        "ORDER_EQUITY_FRACTION": "nan",
        "STOP_LOSS_PCT": "150",
        "TAKE_PROFIT_PCT": "-1",
        "QUANTITY_DECIMALS": "2.5",
    }
    with pytest.raises(ma.ConfigError) as raised:
        ma.load_settings(env)
    assert str(raised.value) == (
        "invalid settings: FAST_PERIOD='fast' is not an integer; "
        "SLOW_PERIOD='1' must be at least 2; "
        "ORDER_EQUITY_FRACTION='nan' is not a number; "
        "STOP_LOSS_PCT='150' must be between 0.01 and 99.99; "
        "TAKE_PROFIT_PCT='-1' must be between 0.01 and 1000; "
        "QUANTITY_DECIMALS='2.5' is not an integer"
    )


def test_ma_fast_must_be_below_slow(ma):
    with pytest.raises(ma.ConfigError, match=r"FAST_PERIOD \(20\) must be smaller than SLOW_PERIOD \(20\)"):
        ma.load_settings({"FAST_PERIOD": "20"})


def test_rsi_reports_every_bad_variable_at_once(rsi):
    env = {"RSI_PERIOD": "1", "RSI_OVERSOLD": "-5", "RSI_OVERBOUGHT": "x", "ORDER_EQUITY_FRACTION": "0"}
    with pytest.raises(rsi.ConfigError) as raised:
        rsi.load_settings(env)
    assert str(raised.value) == (
        "invalid settings: RSI_PERIOD='1' must be at least 2; "
        "RSI_OVERSOLD='-5' must be between 0 and 100; "
        "RSI_OVERBOUGHT='x' is not a number; "
        "ORDER_EQUITY_FRACTION='0' must be between 0.0001 and 1"
    )


def test_rsi_zones_must_be_ordered(rsi):
    with pytest.raises(rsi.ConfigError, match=r"RSI_OVERSOLD \(70\) must be below RSI_OVERBOUGHT \(60\)"):
        rsi.load_settings({"RSI_OVERSOLD": "70", "RSI_OVERBOUGHT": "60"})


@pytest.mark.parametrize(
    ("template", "env", "message"),
    [
        ("ma-crossover", {"SLOW_PERIOD": "soon"}, "ma-crossover: invalid settings: SLOW_PERIOD='soon' is not an integer"),
        ("rsi-momentum", {"RSI_PERIOD": "0"}, "rsi-momentum: invalid settings: RSI_PERIOD='0' must be at least 2"),
    ],
)
def test_main_fails_fast_on_bad_settings_before_connecting(template, env, message):
    # No gateway exists at this address; the strategy must stop on the settings first.
    run_env = {
        **os.environ,
        **env,
        "TEKTII_TRADING_GATEWAY_URL": "http://127.0.0.1:9",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    done = subprocess.run(
        [sys.executable, "main.py"],
        cwd=template_dir(template),
        env=run_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == message
    assert "Traceback" not in done.stderr


def test_templates_catalogue_matches_the_directories():
    templates = {t.name: t for t in BUILTIN_TEMPLATES}
    assert set(templates) == {"ma-crossover", "rsi-momentum"}
    assert templates["ma-crossover"].defaults["FAST_PERIOD"] == "10"
    assert templates["rsi-momentum"].defaults["RSI_OVERBOUGHT"] == "70"
    for name, template in templates.items():
        assert template_dir(name) == template.directory
        assert (template.directory / "main.py").is_file()
