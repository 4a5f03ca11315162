"""Reproducible synthetic candles: a geometric random walk with realistic bar ranges.

The same symbol, window, timeframe and seed always give the same candles. Price levels and
volatility depend on the market (BTC in the tens of thousands, EUR/USD near 1.1); forex is
closed from Friday 22:00 to Sunday 22:00 UTC, stocks on Saturdays and Sundays, and crypto
trades around the clock. No bar is produced while a market is closed.
"""

from __future__ import annotations

import math
import zlib
from typing import TYPE_CHECKING, Any

import attrs

from tektii_core.contracts import TektiiError
from tektii_engine.data import timeframes
from tektii_engine.data.symbols import Symbol, parse_symbol

if TYPE_CHECKING:
    import numpy as np

    from tektii_engine.data.candles import Candles
    from tektii_engine.data.store import CandleStore, InstrumentInfo

MAX_ROWS = 20_000_000  # 20 years of 1m bars; more would not fit a sensible memory budget
_YEAR = 365.25 * 86400
_WEEK = 604800
_FRIDAY_22H = 4 * 86400 + 22 * 3600  # seconds after Monday 00:00 UTC
_SUNDAY_22H = 6 * 86400 + 22 * 3600
_SATURDAY = 5 * 86400


@attrs.frozen
class _Profile:
    price: float  # starting price
    volatility: float  # annualised
    decimals: int  # price tick
    volume_per_minute: float


_CRYPTO_PRICES = {
    "BTC": 42_000.0,
    "ETH": 2_300.0,
    "SOL": 100.0,
    "XRP": 0.6,
    "DOGE": 0.08,
}
_FOREX_PRICES = {
    "EURUSD": 1.10, "GBPUSD": 1.27, "USDJPY": 148.0, "AUDUSD": 0.66, "USDCHF": 0.87,
    "USDCAD": 1.35, "NZDUSD": 0.61, "EURGBP": 0.86, "EURJPY": 160.0,
}  # fmt: skip
_INDEX_PRICES = {"SPX": 4_700.0, "^GSPC": 4_700.0, "SP500": 4_700.0, "NDX": 16_500.0}


def _decimals(price: float) -> int:
    """Enough decimals for about five significant digits at this price."""
    return max(2, 4 - math.floor(math.log10(price)))


def _profile(sym: Symbol) -> _Profile:
    base, _, quote = sym.name.partition("/")
    if sym.market == "CRYPTO":
        price = _CRYPTO_PRICES.get(base, 50.0)
        return _Profile(price, 0.50, _decimals(price), 25.0 if base == "BTC" else 400.0)
    if sym.market == "FOREX":
        price = _FOREX_PRICES.get(sym.code, 1.0)
        return _Profile(price, 0.07, 3 if quote == "JPY" else 5, 1_500.0)
    price = _INDEX_PRICES.get(sym.code, 100.0)
    return _Profile(price, 0.20, 2, 50_000.0)


def is_open(times: np.ndarray, market: str) -> np.ndarray:
    """Whether the market trades at each time (bars are produced only then)."""
    import numpy as np

    into_week = (times - timeframes.bucket_start(times, "1w")) % _WEEK
    if market == "FOREX":
        return ~((into_week >= _FRIDAY_22H) & (into_week < _SUNDAY_22H))
    if market == "STOCK":
        return into_week < _SATURDAY
    return np.ones(len(times), dtype=bool)


def generate(symbol: str, start: Any, end: Any, *, timeframe: str = "1m", seed: int = 0) -> Candles:
    """Synthetic ``timeframe`` candles opening in ``[start, end)`` (reproducible per seed)."""
    import numpy as np

    from tektii_engine.data.candles import Candles

    sym = parse_symbol(symbol)
    step = timeframes.seconds(timeframe)
    t0, t1 = timeframes.parse_time(start), timeframes.parse_time(end)
    if t1 <= t0:
        raise TektiiError("the end must be after the start")
    if not isinstance(seed, int) or seed < 0:
        raise TektiiError(f"the seed must be a non-negative integer, got {seed!r}")
    first = timeframes.bucket_ceil(t0, timeframe)
    if (t1 - first) // step > MAX_ROWS:
        raise TektiiError(
            f"that window holds more than {MAX_ROWS:,} {timeframe} bars",
            hint="generate a shorter window or a coarser timeframe",
        )
    times = np.arange(first, t1, step, dtype=np.int64)
    times = times[is_open(times, sym.market)]
    if len(times) == 0:
        raise TektiiError(f"{sym.symbol} does not trade between {start} and {end}")

    profile = _profile(sym)
    # The symbol is part of the seed so that two instruments never move in lockstep.
    rng = np.random.default_rng([seed, zlib.crc32(sym.symbol.encode())])
    n = len(times)
    sigma = profile.volatility * math.sqrt(step / _YEAR)
    shocks = rng.standard_t(df=4, size=n) / math.sqrt(2.0)  # fat tails, unit variance
    returns = sigma * shocks
    # After a closed period the price opens away from the last close.
    closed_for = np.diff(times, prepend=times[0]) - step
    gaps = profile.volatility * np.sqrt(np.maximum(closed_for, 0) / _YEAR) * 0.3
    gaps = gaps * rng.standard_normal(n)
    log_close = math.log(profile.price) + np.cumsum(gaps + returns)
    close = np.exp(log_close)
    open_ = np.exp(log_close - returns)
    # Wicks beyond the body: half-normal, about half a bar's standard deviation.
    up = np.abs(rng.standard_normal(n)) * sigma * 0.5
    down = np.abs(rng.standard_normal(n)) * sigma * 0.5
    high = np.maximum(open_, close) * np.exp(up)
    low = np.minimum(open_, close) * np.exp(-down)
    # Rounding is monotonic, so high >= max(open, close) and low <= min(open, close) hold.
    open_, high, low, close = (np.round(a, profile.decimals) for a in (open_, high, low, close))
    activity = 0.6 + np.abs(shocks)  # busier bars move more
    volume = profile.volume_per_minute * (step / 60) * activity * rng.lognormal(0, 0.35, n)
    volume = np.round(volume, 4 if sym.market == "CRYPTO" else 0)
    return Candles(times, open_, high, low, close, volume)


def write_generated(
    store: CandleStore,
    symbol: str,
    start: Any,
    end: Any,
    *,
    timeframe: str = "1m",
    seed: int = 0,
) -> InstrumentInfo:
    """Generate candles and store them as the instrument's (synthetic) data, replacing any."""
    candles = generate(symbol, start, end, timeframe=timeframe, seed=seed)
    return store.write(symbol, candles, base_timeframe=timeframe, source="synthetic", mode="replace")
