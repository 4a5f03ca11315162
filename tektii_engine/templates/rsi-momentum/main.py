"""rsi-momentum: buy when RSI climbs out of the oversold zone, exit when it falls out of overbought.

A Tektii strategy written against the `tektii` SDK. It trades whatever candles the
scenario subscribes to (any symbol, any timeframe), keeping one RSI per symbol
and timeframe. Parameters come from environment variables;
see README.md.
"""

from __future__ import annotations

import logging
import os
import sys
from decimal import Decimal

from rsi_momentum import (
    ConfigError,
    RsiMomentum,
    Settings,
    bracket_prices,
    load_settings,
    order_quantity,
)
from tektii import (
    APIStatusError,
    CandleEvent,
    OrderType,
    PositionSide,
    Side,
    TradingGateway,
)

log = logging.getLogger("rsi-momentum")


def enter_long(gw: TradingGateway, symbol: str, close: Decimal, rsi: float, settings: Settings) -> None:
    if any(p.side == PositionSide.LONG for p in gw.list_positions(symbol=symbol)):
        return
    equity = Decimal(gw.get_account().equity)
    quantity = order_quantity(equity, settings.order_equity_fraction, close, settings.quantity_decimals)
    if quantity <= 0:
        log.warning("%s: order size rounds to zero at %s, skipping", symbol, close)
        return
    stop_loss, take_profit = bracket_prices(close, settings.stop_loss_pct, settings.take_profit_pct)
    try:
        handle = gw.submit_order(
            symbol,
            Side.BUY,
            quantity,
            OrderType.MARKET,
            stop_loss=stop_loss,
            take_profit=take_profit,
        )
    except APIStatusError as err:
        log.warning("%s: buy of %s rejected: %s", symbol, quantity, err)
        return
    log.info(
        "%s: RSI %.1f left the oversold zone at %s, buying %s (order %s)",
        symbol,
        rsi,
        close,
        quantity,
        handle.id,
    )


def exit_long(gw: TradingGateway, symbol: str, close: Decimal, rsi: float) -> None:
    for position in gw.list_positions(symbol=symbol):
        if position.side != PositionSide.LONG:
            continue
        try:
            gw.close_position(position.id, cancel_associated_orders=True)
        except APIStatusError as err:
            log.warning("%s: closing position %s failed: %s", symbol, position.id, err)
            continue
        log.info(
            "%s: RSI %.1f left the overbought zone at %s, closing %s",
            symbol,
            rsi,
            close,
            position.quantity,
        )


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per gateway request
    try:
        settings = load_settings(os.environ)
    except ConfigError as err:
        print(f"rsi-momentum: {err}", file=sys.stderr)
        return 2
    log.info("starting: %s", settings)
    signals: dict[tuple[str, str], RsiMomentum] = {}
    with TradingGateway() as gw, gw.stream() as events:
        for event in events:
            if not isinstance(event, CandleEvent):
                continue
            bar = event.bar
            key = (bar.symbol, str(bar.timeframe))
            if key not in signals:
                signals[key] = RsiMomentum(settings.rsi_period, settings.oversold, settings.overbought)
            close = Decimal(bar.close)
            momentum = signals[key]
            signal = momentum.update(float(close))
            if signal == "buy":
                enter_long(gw, bar.symbol, close, momentum.value, settings)
            elif signal == "sell":
                exit_long(gw, bar.symbol, close, momentum.value)
    log.info("backtest complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
