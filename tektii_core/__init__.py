"""tektii: package trading strategies as images, upload versions, run backtests."""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("tektii")
