"""Platform instrument symbols: ``C:`` crypto, ``F:`` forex, ``S:`` stocks and indices."""

from __future__ import annotations

import re

import attrs

from tektii_core.contracts import TektiiError

MARKETS = {"C": "CRYPTO", "F": "FOREX", "S": "STOCK"}

ACCEPTED_FORMS = (
    "C:<BASE><QUOTE> for crypto (e.g. C:BTCUSD), "
    "F:<BASE><QUOTE> for forex (e.g. F:EURUSD) or "
    "S:<TICKER> for stocks and indices (e.g. S:SPX)"
)

# Quote currencies that split a crypto code into BASE/QUOTE; the first suffix match wins.
_CRYPTO_QUOTES = ("USDT", "USDC", "BUSD", "USD", "EUR", "GBP", "JPY", "BTC", "ETH")

_CRYPTO_RE = re.compile(r"[A-Z0-9]{2,20}")
_FOREX_RE = re.compile(r"[A-Z]{6}")
# Tickers such as SPX, BRK.B, ^GSPC or RDS-A; no path separators (symbols name files).
_TICKER_RE = re.compile(r"[A-Z0-9^][A-Z0-9.\-^]{0,15}")


@attrs.frozen
class Symbol:
    symbol: str  # normalised, e.g. "C:BTCUSD"
    market: str  # CRYPTO | FOREX | STOCK
    name: str  # e.g. "BTC/USD"

    @property
    def prefix(self) -> str:
        return self.symbol.split(":", 1)[0]

    @property
    def code(self) -> str:
        return self.symbol.split(":", 1)[1]


def parse_symbol(text: str) -> Symbol:
    """Parse and normalise a platform symbol (case-insensitive), or raise TektiiError."""
    raw = text.strip().upper() if isinstance(text, str) else ""
    prefix, sep, code = raw.partition(":")
    name = None
    if sep and prefix == "C" and _CRYPTO_RE.fullmatch(code):
        for quote in _CRYPTO_QUOTES:
            if code.endswith(quote) and len(code) > len(quote):
                name = f"{code[: -len(quote)]}/{quote}"
                break
    elif sep and prefix == "F" and _FOREX_RE.fullmatch(code):
        name = f"{code[:3]}/{code[3:]}"
    elif sep and prefix == "S" and _TICKER_RE.fullmatch(code):
        name = code
    if name is None:
        raise TektiiError(f"invalid symbol {text!r}: use {ACCEPTED_FORMS}")
    return Symbol(symbol=f"{prefix}:{code}", market=MARKETS[prefix], name=name)
