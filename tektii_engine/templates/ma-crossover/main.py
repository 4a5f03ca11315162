"""ma-crossover: buy when the fast SMA crosses above the slow SMA, exit when it crosses below.

A Tektii strategy written against the `tektii` SDK. It trades whatever candles the
scenario subscribes to (any symbol, any timeframe), keeping one pair of moving
averages per symbol and timeframe. Parameters come from environment variables;
see README.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from decimal import Decimal

from ma_crossover import (
    ConfigError,
    Crossover,
    Settings,
    bracket_prices,
    load_settings,
    order_quantity,
)
from tektii import (
    AccountEvent,
    APIStatusError,
    AsyncTradingGateway,
    CandleEvent,
    OrderType,
    Position,
    PositionEvent,
    PositionEventType,
    PositionSide,
    Side,
)

log = logging.getLogger("ma-crossover")


class Portfolio:
    """Positions and equity as the gateway's position/account events report them.

    Until the first position event arrives (the scenario may not subscribe to
    `position_update`), positions are asked for over REST, only when a signal needs them.
    Equity comes from the last account event while no position is open (it is then the
    cash balance, which only fills change), else from REST.
    """

    def __init__(self, gw: AsyncTradingGateway):
        self.gw = gw
        self.positions: dict[str, Position] = {}
        self.positions_from_events = False
        self.flat_equity: Decimal | None = None

    def on_event(self, event: object) -> None:
        if isinstance(event, PositionEvent):
            self.positions_from_events = True
            if event.event == PositionEventType.POSITION_CLOSED:
                self.positions.pop(event.position.id, None)
            else:
                self.positions[event.position.id] = event.position
        elif isinstance(event, AccountEvent):
            self.flat_equity = Decimal(event.account.equity)

    async def positions_of(self, symbol: str) -> list[Position]:
        if self.positions_from_events:
            return [p for p in self.positions.values() if p.symbol == symbol]
        return await self.gw.list_positions(symbol=symbol)

    async def equity(self) -> Decimal:
        if self.flat_equity is not None and self.positions_from_events and not self.positions:
            return self.flat_equity
        return Decimal((await self.gw.get_account()).equity)


async def enter_long(book: Portfolio, symbol: str, close: Decimal, settings: Settings) -> None:
    if any(p.side == PositionSide.LONG for p in await book.positions_of(symbol)):
        return
    equity = await book.equity()
    quantity = order_quantity(equity, settings.order_equity_fraction, close, settings.quantity_decimals)
    if quantity <= 0:
        log.warning("%s: order size rounds to zero at %s, skipping", symbol, close)
        return
    stop_loss, take_profit = bracket_prices(close, settings.stop_loss_pct, settings.take_profit_pct)
    try:
        handle = await book.gw.submit_order(
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
        "%s: fast SMA crossed above slow at %s, buying %s (order %s)",
        symbol,
        close,
        quantity,
        handle.id,
    )


async def exit_long(book: Portfolio, symbol: str, close: Decimal) -> None:
    for position in await book.positions_of(symbol):
        if position.side != PositionSide.LONG:
            continue
        try:
            await book.gw.close_position(position.id, cancel_associated_orders=True)
        except APIStatusError as err:
            log.warning("%s: closing position %s failed: %s", symbol, position.id, err)
            continue
        log.info(
            "%s: fast SMA crossed below slow at %s, closing %s",
            symbol,
            close,
            position.quantity,
        )


async def run(settings: Settings) -> None:
    signals: dict[tuple[str, str], Crossover] = {}
    async with AsyncTradingGateway() as gw, gw.stream() as events:
        book = Portfolio(gw)
        async for event in events:
            if not isinstance(event, CandleEvent):
                book.on_event(event)
                continue
            bar = event.bar
            key = (bar.symbol, str(bar.timeframe))
            if key not in signals:
                signals[key] = Crossover(settings.fast_period, settings.slow_period)
            close = Decimal(bar.close)
            signal = signals[key].update(float(close))
            if signal == "buy":
                await enter_long(book, bar.symbol, close, settings)
            elif signal == "sell":
                await exit_long(book, bar.symbol, close)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per gateway request
    try:
        settings = load_settings(os.environ)
    except ConfigError as err:
        print(f"ma-crossover: {err}", file=sys.stderr)
        return 2
    log.info("starting: %s", settings)
    asyncio.run(run(settings))
    log.info("backtest complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
