"""Unit tests of the strategy's pure logic: `python -m unittest` (or `python -m pytest`)."""

import unittest
from decimal import Decimal

from rsi_momentum import (
    ConfigError,
    RsiMomentum,
    WilderRSI,
    load_settings,
    order_quantity,
)


class WilderRsiTest(unittest.TestCase):
    def test_first_value_and_smoothing(self):
        rsi = WilderRSI(2)
        # changes +2, -1 -> avg gain 1, avg loss 0.5 -> RS 2 -> RSI 66.67
        values = [rsi.update(c) for c in (10, 12, 11)]
        self.assertEqual(values[:2], [None, None])
        self.assertAlmostEqual(values[2], 200 / 3)
        # change +3 -> avg gain (1 + 3) / 2 = 2, avg loss 0.25 -> RS 8 -> RSI 88.89
        self.assertAlmostEqual(rsi.update(14), 800 / 9)


class MomentumTest(unittest.TestCase):
    def test_buy_when_leaving_oversold_and_sell_when_leaving_overbought(self):
        momentum = RsiMomentum(2, 30, 70)
        signals = [momentum.update(c) for c in (10, 9, 8, 9.5, 11, 12, 11)]
        self.assertEqual(signals, [None, None, None, "buy", None, None, "sell"])


class SettingsTest(unittest.TestCase):
    def test_defaults(self):
        settings = load_settings({})
        self.assertEqual((settings.rsi_period, settings.oversold, settings.overbought), (14, 30, 70))

    def test_zones_must_be_ordered(self):
        with self.assertRaisesRegex(ConfigError, "RSI_OVERSOLD \\(80\\) must be below"):
            load_settings({"RSI_OVERSOLD": "80"})


class SizingTest(unittest.TestCase):
    def test_rounds_down(self):
        self.assertEqual(order_quantity(Decimal(1000), 0.1, Decimal(3), 2), Decimal("33.33"))


if __name__ == "__main__":
    unittest.main()
