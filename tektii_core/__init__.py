"""tektii: package trading strategies as images, upload versions, run backtests."""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # `hookimpl` is made on first use so that `tektii --help` never imports pluggy.
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker("tektii")
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module 'tektii_core' has no attribute {name!r}")
