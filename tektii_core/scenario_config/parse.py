"""Reading a scenario config file: its bytes, its JSON (errors with line and column, and a
hint), and the ConfigError that lists every problem the validator found.

Standard library and attrs only: the CLI imports this at start-up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tektii_core import strict_json
from tektii_core.scenario_config.explain import describe_type
from tektii_core.scenario_config.model import ConfigError, Problem, ScenarioConfig
from tektii_core.scenario_config.validate import validate_config


def parse_config_text(text: str, *, source: str = "FILE") -> dict[str, Any]:
    """Parse JSON text; malformed JSON raises ConfigError naming ``source``, line and column.

    Stricter than ``json.loads``: NaN/Infinity and a key repeated in one object are errors
    (JSON parsers disagree on which duplicate wins).
    """
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ConfigError(
            f"{source} is empty",
            hint='write a JSON object such as {"strategyVersionId": "ver_...", ...}',
        )
    try:
        data = strict_json.loads(text)
    except strict_json.JsonError as exc:
        if exc.decode_error is not None:
            reason, hint = _explain_json_error(exc.decode_error, text)
            raise ConfigError(
                f"{source}: invalid JSON at line {exc.line}, column {exc.column}: {reason}",
                hint=hint,
                line=exc.line,
                column=exc.column,
            ) from None
        if exc.kind == "constant":
            raise ConfigError(
                f"{source}: invalid JSON at line {exc.line}, column {exc.column}: {exc.token} is not a JSON value",
                hint="write a number, or leave the field out to use its default",
                line=exc.line,
                column=exc.column,
            ) from None
        if exc.kind == "duplicate":
            raise ConfigError(
                f"{source}: invalid JSON: {exc.message}",
                hint="keep one of them (JSON readers disagree on which one wins)",
            ) from None
        raise ConfigError(f"{source}: invalid JSON: {exc.message}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a scenario config must be a JSON object {{...}}, got {describe_type(data)}")
    return data


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read and parse a config file; every failure is a ConfigError."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory, not a file: {p}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start}); JSON files must be UTF-8") from None
    return parse_config_text(text, source=str(p))


def load_scenario_config(path: str | Path) -> ScenarioConfig:
    """Read, parse and validate a config file, or raise ConfigError listing every problem."""
    config, problems = validate_config(read_config_file(path))
    if config is None:
        raise invalid_config_error(problems, source=str(path))
    return config


def invalid_config_error(problems: Sequence[Problem], *, source: str = "FILE") -> ConfigError:
    """The ConfigError for a config with problems: all of them, one per line."""
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return ConfigError(
        f"{source} is not a valid scenario config ({count}):\n" + format_problems(problems, indent="  "),
        hint="see docs/scenario-config.md for every field and rule",
        problems=problems,
    )


def format_problems(problems: Iterable[Problem], *, indent: str = "") -> str:
    """One ``path: message`` line per problem, in the order found."""
    return "\n".join(f"{indent}{p}" for p in problems)


def _explain_json_error(exc: json.JSONDecodeError, text: str) -> tuple[str, str]:
    reason = exc.msg.removesuffix(" at")
    before = text[: exc.pos].rstrip()
    after = text[exc.pos : exc.pos + 1]
    hint = "fix the JSON at that position"
    if reason.startswith("Expecting property name") and before.endswith(","):
        reason, hint = (
            "trailing comma before }",
            "remove the comma after the last field",
        )
    elif reason.startswith("Expecting value") and before.endswith(",") and after == "]":
        reason, hint = "trailing comma before ]", "remove the comma after the last item"
    elif reason.startswith("Expecting property name"):
        hint = 'field names need double quotes, e.g. "startTime"'
    elif reason.startswith("Expecting ',' delimiter"):
        hint = "a comma is probably missing between two fields or items"
    elif reason.startswith("Unterminated string"):
        hint = "a closing double quote is missing"
    elif reason.startswith("Extra data"):
        hint = "the file must hold exactly one JSON object"
    elif reason.startswith("Invalid control character"):
        hint = "strings cannot span lines; use \\n for a line break"
    line_text = text.splitlines()[exc.lineno - 1] if text.splitlines() else ""
    if line_text.strip():
        hint += f"; line {exc.lineno}: {line_text.strip()[:80]}"
    return reason, hint
