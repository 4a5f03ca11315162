"""What a command hands to a formatter: the API payload plus a view of it for humans.

A formatter decides how to show it: `json` prints `payload` unchanged (the API's
`{"data": ...}` object), `table` draws `record` / `columns` + `rows` and the `headline`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Output:
    payload: Any
    headline: str | None = None  # e.g. "✓ Strategy created successfully!"
    record: Sequence[tuple[str, Any]] | None = None  # Field/Value pairs of one object
    columns: Sequence[str] | None = None  # list view: column titles ...
    rows: Sequence[Sequence[Any]] | None = None  # ... and one row per item
    footer: Sequence[str] = field(default_factory=tuple)  # hints shown after the table
    text: str | None = None  # free text (trees, reports) shown as is by table formatters
    sections: Sequence[tuple[str, Output]] = field(default_factory=tuple)  # titled sub-views, in order
    exit_code: int = 0  # shown, and still a failure (e.g. a rerun that was not identical)

    @classmethod
    def message(cls, text: str, payload: Any = None) -> Output:
        return cls(payload=payload if payload is not None else {"data": {"message": text}}, text=text)


def cell(value: Any) -> str:
    """The human form of one value in a table."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value) or "-"
    return str(value)
