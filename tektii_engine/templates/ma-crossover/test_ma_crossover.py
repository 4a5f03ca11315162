"""Unit tests of the strategy's pure logic: `python -m unittest` (or `python -m pytest`)."""

import unittest
from decimal import Decimal

from ma_crossover import (
    ConfigError,
    Crossover,
    bracket_prices,
    load_settings,
    order_quantity,
)


class CrossoverTest(unittest.TestCase):
    def test_signals_on_crosses_only(self):
        crossover = Crossover(2, 3)
        closes = [10, 10, 10, 13, 16, 12, 8, 8]
        # SMA2: -, 10, 10, 11.5, 14.5, 14, 10, 8;  SMA3: -, -, 10, 11, 13, 13.67, 12, 9.33
        signals = [crossover.update(c) for c in closes]
        self.assertEqual(signals, [None, None, None, "buy", None, None, "sell", None])


class SettingsTest(unittest.TestCase):
    def test_defaults(self):
        settings = load_settings({})
        self.assertEqual((settings.fast_period, settings.slow_period), (10, 20))
        self.assertEqual(settings.order_equity_fraction, 0.10)

    def test_invalid_values_are_all_reported(self):
        with self.assertRaises(ConfigError) as raised:
            load_settings({"FAST_PERIOD": "ten", "ORDER_EQUITY_FRACTION": "2"})
        self.assertIn("FAST_PERIOD='ten' is not an integer", str(raised.exception))
        self.assertIn("ORDER_EQUITY_FRACTION='2' must be between", str(raised.exception))


class SizingTest(unittest.TestCase):
    def test_fraction_of_equity_at_the_close(self):
        self.assertEqual(order_quantity(Decimal(100000), 0.1, Decimal(400), 8), Decimal(25))
        self.assertEqual(bracket_prices(Decimal(100), 2, 5), (Decimal(98), Decimal(105)))


if __name__ == "__main__":
    unittest.main()
