"""The reproducibility record of a run: what exactly it replayed, through which code.

Every scenario run records the strategy it ran (the image's manifest digest, or the
template's name and content hash), the engine (its version and a hash of its source), the
canonical hash of its config and a checksum of every candle the feed delivered. Two runs
with equal records replay the same bars through the same code; when their results still
differ, the strategy is not deterministic (see docs/scenarios.md, `tektii scenario rerun`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from tektii_engine.engine import CandleFeed

# The parts of a result that a rerun must reproduce bit for bit, in the order they are compared.
RESULT_PARTS = ("fills", "orders", "equityCurve", "trades", "metrics")


def canonical_hash(value: Any) -> str:
    """sha256 of the canonical JSON form (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=1)
def engine_identity() -> dict[str, str]:
    """The engine's version and a sha256 over its Python source (names and contents)."""
    from tektii_core import __version__

    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "templates" in path.relative_to(root).parts:
            continue  # a template is the strategy, recorded on its own
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return {"engineVersion": __version__, "engineSourceHash": "sha256:" + digest.hexdigest()}


class ChecksummedFeed:
    """Wraps a CandleFeed and hashes every bar it delivers, per (symbol, timeframe) stream, so
    the checksum does not depend on the order the engine reads its streams in."""

    def __init__(self, feed: CandleFeed):
        self.feed = feed
        self._streams: dict[tuple[str, str], Any] = {}
        self.candles = 0

    def __call__(self, symbol: str, timeframe: str, start: int, end: int) -> Iterator[Any]:
        digest = self._streams.setdefault((symbol, timeframe), hashlib.sha256())
        for chunk in self.feed(symbol, timeframe, start, end):
            for column in (chunk.time, chunk.open, chunk.high, chunk.low, chunk.close, chunk.volume):
                digest.update(column.astype(column.dtype.newbyteorder("<"), copy=False).tobytes())
            self.candles += len(chunk.time)
            yield chunk

    def checksum(self) -> str:
        total = hashlib.sha256()
        for (symbol, timeframe), digest in sorted(self._streams.items()):
            total.update(f"{symbol}\0{timeframe}\0".encode() + digest.digest())
        return "sha256:" + total.hexdigest()


def strategy_identity(image: str | None, template: str | None) -> dict[str, str | None]:
    """What strategy code ran: an image pinned by digest, or a template and its content hash."""
    if template is not None:
        from tektii_engine.templates import template_hash

        return {"imageDigest": None, "template": template, "templateHash": "sha256:" + template_hash(template)}
    digest = image.rsplit("@", 1)[1] if image and "@" in image else None
    return {"imageDigest": digest, "template": None, "templateHash": None}


def build_record(config: Mapping[str, Any], feed: ChecksummedFeed, *, image: str | None,
                 template: str | None) -> dict[str, Any]:
    return {
        **strategy_identity(image, template),
        **engine_identity(),
        "configHash": canonical_hash(dict(config)),
        "candlesChecksum": feed.checksum(),
        "candlesReplayed": feed.candles,
    }


# (record fields, what it means when they differ), in the order a rerun names them
_CAUSES = (
    (("candlesChecksum", "candlesReplayed"), "data", "the market data changed since the first run"),
    (("imageDigest", "template", "templateHash"), "strategy", "a different image or template ran"),
    (("engineVersion", "engineSourceHash"), "engine", "a different engine version ran"),
    (("configHash",), "config", "the config differs"),
)


def compare_runs(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """Whether two finished runs (result.json contents with ``reproducibility``) are identical,
    and if not, what differed: the record's causes first, then the first differing result part."""
    a, b = first.get("reproducibility") or {}, second.get("reproducibility") or {}
    differences = []
    for fields, cause, message in _CAUSES:
        changed = [f for f in fields if a.get(f) != b.get(f)]
        if changed:
            differences.append({"cause": cause, "message": message,
                                "fields": [{"field": f, "first": a.get(f), "second": b.get(f)} for f in changed]})
    results = []
    for part in RESULT_PARTS:
        detail = _first_difference(first.get(part), second.get(part))
        if detail is not None:
            results.append({"part": part, "detail": detail})
    if results and not differences:
        differences.append({"cause": "nondeterministic",
                            "message": "the strategy is not deterministic: same data, code and config, other results",
                            "fields": []})
    return {"identical": not differences and not results, "differences": differences, "resultDifferences": results}


def _first_difference(a: Any, b: Any) -> str | None:
    if a == b and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True):
        return None  # equal, and bit for bit (json repr round-trips every float exactly)
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if json.dumps(x, sort_keys=True) != json.dumps(y, sort_keys=True):
                when = x.get("time") or x.get("entryTime") if isinstance(x, dict) else None
                fields = _first_difference(x, y) if isinstance(x, dict) and isinstance(y, dict) else "differs"
                return f"item {i}{f' (at {when})' if when else ''} {fields}"
        return f"{len(a)} items, then {len(b)}"
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in set(a) | set(b) if json.dumps(a.get(k)) != json.dumps(b.get(k)))
        return "differs in " + ", ".join(keys)
    return "differs"
