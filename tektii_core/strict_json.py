"""One strict JSON reader for every JSON body the project accepts: the CLI's scenario
configs, the platform's API and the engine's trading gateway.

Stricter than ``json.loads``: ``NaN``/``Infinity``, a key repeated in one object (JSON
readers disagree on which one wins) and nesting deeper than ``MAX_DEPTH`` are errors. The
depth is checked before parsing, so a hostile body never reaches the recursive parser.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64  # arrays and objects inside each other; documented in docs/api.md
# A string, or an unterminated one up to the end: every quote starts a match, so the scan
# stays linear whatever the input (a pattern that can fail would retry at each quote).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonError(ValueError):
    """Text that is not acceptable JSON. ``kind`` is ``syntax``, ``constant``, ``duplicate``
    or ``depth``; ``line``/``column`` (1-based) are known for syntax and constant errors."""

    def __init__(self, kind: str, message: str, *, line: int | None = None, column: int | None = None,
                 position: int | None = None, token: str | None = None, keys: tuple[str, ...] = (),
                 decode_error: json.JSONDecodeError | None = None):
        super().__init__(message)
        self.kind, self.message = kind, message
        self.line, self.column, self.position = line, column, position
        self.token = token  # the constant, for kind "constant"
        self.keys = keys  # the repeated keys, for kind "duplicate"
        self.decode_error = decode_error  # json's own error, for kind "syntax"


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``text`` (bytes must be UTF-8); raise JsonError for anything not strict JSON."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonError("syntax", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    # Fewer opening brackets than the limit (strings' included) cannot nest deeper: the
    # usual small body skips the scan.
    if text.count("[") + text.count("{") > max_depth:
        depth = nesting_depth(text)
        if depth > max_depth:
            raise JsonError("depth", f"nested {depth} levels deep; the limit is {max_depth}")
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen = dict(items)
        if len(seen) != len(items):  # some key repeats: find which, in order
            seen = {}
            for key, value in items:
                if key in seen:
                    duplicates.append(key)
                seen[key] = value
        return seen

    def constant(name: str) -> Any:
        raise _Constant(name)

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        reason = exc.msg.removesuffix(" at")
        raise JsonError("syntax", f"{reason} at line {exc.lineno}, column {exc.colno}",
                        line=exc.lineno, column=exc.colno, position=exc.pos, decode_error=exc) from None
    except _Constant as exc:
        at = max(text.find(exc.name), 0)
        line, column = text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
        raise JsonError("constant", f"{exc.name} is not a JSON value (line {line}, column {column})",
                        line=line, column=column, position=at, token=exc.name) from None
    except RecursionError:  # not reachable below MAX_DEPTH; kept so that no caller sees it
        raise JsonError("depth", f"nested too deeply; the limit is {max_depth}") from None
    if duplicates:
        keys = tuple(dict.fromkeys(duplicates))
        names = ", ".join(f'"{k}"' for k in keys)
        raise JsonError("duplicate", f"key {names} appears twice in one object", keys=keys)
    return data


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings do not count).
    Linear and iterative, so any input is safe; malformed text gives some number."""
    brackets = _BRACKET.findall(_STRING.sub("", text))
    return max(accumulate(_STEP[c] for c in brackets), default=0)


class _Constant(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name
