"""Keyset pagination: ``limit`` and an opaque ``cursor``.

Lists are ordered newest first by (created_at, id) (the store's ``keyset`` queries them); the
cursor is the base64 of the last returned item's position, so pages neither repeat nor skip items when others are added
meanwhile (new items are newer than any cursor and appear on a fresh first page).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from .http import Param, Request, validation_error
from .store import Page
from .validation import FieldError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

PARAMS = (
    Param(
        "limit",
        {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "default": DEFAULT_LIMIT,
        },
        f"Items per page, 1-{MAX_LIMIT}.",
    ),
    Param(
        "cursor",
        {"type": "string"},
        "The nextCursor of the previous page; omit for the first page.",
    ),
)


def encode_cursor(created_at: str, ident: str) -> str:
    raw = json.dumps([created_at, ident], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError):
        position = None
    if not (isinstance(position, list) and len(position) == 2 and all(isinstance(p, str) for p in position)):
        raise ValueError("is not a cursor this API returned")
    return position[0], position[1]


def parse_page(req: Request) -> Page:
    """The page a list request asks for; 422 naming every bad parameter."""
    query, errors = req.query, []
    limit = DEFAULT_LIMIT
    if "limit" in query:
        text = query["limit"].strip()
        if not text.isdigit():
            errors.append(FieldError("limit", f"must be an integer from 1 to {MAX_LIMIT}"))
        elif not 1 <= int(text) <= MAX_LIMIT:
            errors.append(FieldError("limit", f"must be from 1 to {MAX_LIMIT}"))
        else:
            limit = int(text)
    after = None
    if "cursor" in query:
        try:
            after = _decode_cursor(query["cursor"])
        except ValueError as exc:
            errors.append(FieldError("cursor", str(exc)))
    if errors:
        raise validation_error(errors)
    return Page(limit, after)


def finish(rows: Sequence[Any], page: Page) -> tuple[Sequence[Any], str | None]:
    """Trim the extra row and compute nextCursor (None on the last page)."""
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    last = rows[-1]
    return rows, encode_cursor(last["created_at"], last["id"])
