"""The fill model: at which price an order fills on a bar, with the spread (docs/fill-model.md).

Candle prices are mid prices. A quote is `bid = mid × (1 − s/2)`, `ask = mid × (1 + s/2)`
with `s` the instrument's spread as a fraction (`spreadBps / 10 000`). A buy order sees the
bar's ask prices (open, high and low times `1 + s/2`), a sell order its bid prices; on those
the rules are the frictionless ones: market orders fill at the open, stops trigger on the high
(buy) or low (sell) and fill at the stop or the gapped open, limits fill at the limit or the
better open. Market and triggered stop fills then pay `slippage_bps` against the trader.
With a spread of 0 every price is the candle's own: the frictionless model exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from tektii_engine.broker.models import ZERO, Order, market_decimal

Bar = tuple[Decimal, Decimal, Decimal]
"""(open, high, low) as one side of the market sees them."""


def _set(value: Decimal | None) -> Decimal:
    """A price the order's type requires (validated when the order was placed)."""
    assert value is not None
    return value


class FillModel:
    """Quotes and fill prices of one account's instruments."""

    def __init__(self, spread_bps: Mapping[str, float | Decimal], slippage_bps: float | Decimal = 0):
        self.half = {s: market_decimal(bps) / 20_000 for s, bps in spread_bps.items()}
        self.slippage_rate = market_decimal(slippage_bps) / 10_000

    def side_price(self, symbol: str, side: int, mid: Decimal) -> Decimal:
        """The ask (side +1) or bid (side -1) around a mid price."""
        half = self.half.get(symbol, ZERO)
        return mid * (1 + half * side) if half else mid

    def quote(self, symbol: str, mid: Decimal) -> tuple[Decimal, Decimal]:
        """(bid, ask) around a mid price."""
        return self.side_price(symbol, -1, mid), self.side_price(symbol, 1, mid)

    def sides(self, symbol: str, o: Decimal, h: Decimal, l: Decimal) -> dict[int, Bar]:
        """The bar as buyers (+1: ask prices) and sellers (-1: bid prices) see it."""
        half = self.half.get(symbol, ZERO)
        if not half:
            return {1: (o, h, l), -1: (o, h, l)}
        up, down = 1 + half, 1 - half
        return {1: (o * up, h * up, l * up), -1: (o * down, h * down, l * down)}

    def spread_cost(self, symbol: str, side: int, price: Decimal, quantity: Decimal | int) -> Decimal:
        """What the spread cost a fill at `price` (before slippage): its distance to the mid."""
        half = self.half.get(symbol, ZERO)
        if not half:
            return ZERO
        return quantity * price * half / (1 + half * side)

    def slip(self, side: int, price: Decimal) -> Decimal:
        return price * (1 + self.slippage_rate * side)

    def trigger(self, order: Order, o: Decimal, h: Decimal, l: Decimal) -> tuple[Decimal | None, bool, bool]:
        """On the bar (o, h, l) of the order's side: (fill price before slippage or None,
        whether it was a resting limit (maker), whether slippage applies)."""
        side, kind = order.side, order.order_type
        if kind == "MARKET":
            return o, False, True
        if kind == "STOP" or (kind == "STOP_LIMIT" and not order.triggered):
            stop = _set(order.stop_price)
            if side > 0:
                hit = o if o >= stop else (stop if h >= stop else None)
            else:
                hit = o if o <= stop else (stop if l <= stop else None)
            if hit is None or kind == "STOP":
                return hit, False, True
            # STOP_LIMIT: from the trigger on it works as a limit; on the trigger bar it fills
            # only if the trigger price itself satisfies the limit (the later path is unknown).
            order.triggered = True
            if (_set(order.limit_price) - hit) * side >= 0:
                return hit, False, False
            return None, False, False
        if kind == "TRAILING_STOP":
            return self._trailing(order, o, h, l), False, True
        limit = _set(order.limit_price)  # LIMIT, or a triggered STOP_LIMIT
        if side > 0:
            return (o if o <= limit else (limit if l <= limit else None)), True, False
        return (o if o >= limit else (limit if h >= limit else None)), True, False

    @staticmethod
    def _trailing(order: Order, o: Decimal, h: Decimal, l: Decimal) -> Decimal | None:
        side, dist = order.side, _set(order.trailing_distance)
        if order.watermark is None:  # placed before any price was known
            order.watermark = o
        mark = order.watermark
        offset = mark * dist / 100 if order.trailing_type == "PERCENT" else dist
        stop = mark + offset if side > 0 else mark - offset
        if side > 0:
            hit = o if o >= stop else (stop if h >= stop else None)
        else:
            hit = o if o <= stop else (stop if l <= stop else None)
        # The watermark follows the bar only after the check: the bar's path is unknown.
        order.watermark = min(mark, l) if side > 0 else max(mark, h)
        order.stop_price = stop
        return hit
