"""Market data: candles, timeframes, the per-instrument store, import and generation.

Only light modules are imported here; numpy and pyarrow are imported by the modules that
need them (``candles``, ``aggregate``, ``store``, ``importer``, ``generate``).
"""

from tektii_engine.data.timeframes import TIMEFRAMES

__all__ = ["TIMEFRAMES"]
