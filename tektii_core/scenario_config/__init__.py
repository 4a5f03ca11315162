"""The scenario config of ``tektii scenario create --config FILE``, in one place for the CLI,
the platform and the engine:

- ``model``: the ScenarioConfig attrs model, its limits and defaults, its one serialiser (to_api);
- ``parse``: reading a file's JSON (errors with line and column);
- ``validate``: the one validator (every problem at once, by JSON path);
- ``instruments``: a valid config against the platform's market data;
- ``schema``: the rules as a JSON Schema.

The names below are re-exported for callers that want the whole API; modules in this project
import from the submodule that owns a name.
"""

from tektii_core.scenario_config.instruments import check_against_instruments
from tektii_core.scenario_config.model import (
    CANDLE_EVENTS,
    ENV_NAME_RE,
    EVENTS,
    FIELDS,
    LIFECYCLE_EVENTS,
    MAX_SUBSCRIPTIONS,
    NUMBERS,
    POSITION_MODES,
    PROTECTED_ENV,
    SYMBOL_RE,
    VERSION_ID_RE,
    ConfigError,
    Problem,
    ScenarioConfig,
    Subscription,
    protected_env_problem,
)
from tektii_core.scenario_config.parse import (
    format_problems,
    invalid_config_error,
    load_scenario_config,
    parse_config_text,
    read_config_file,
)
from tektii_core.scenario_config.schema import config_json_schema
from tektii_core.scenario_config.validate import build_config, config_from_json, validate_config

__all__ = [
    "CANDLE_EVENTS", "ENV_NAME_RE", "EVENTS", "FIELDS", "LIFECYCLE_EVENTS", "MAX_SUBSCRIPTIONS", "NUMBERS",
    "POSITION_MODES", "PROTECTED_ENV", "SYMBOL_RE", "VERSION_ID_RE", "ConfigError", "Problem", "ScenarioConfig",
    "Subscription", "build_config", "check_against_instruments", "config_from_json", "config_json_schema",
    "format_problems", "invalid_config_error", "load_scenario_config", "parse_config_text", "protected_env_problem",
    "read_config_file", "validate_config",
]  # fmt: skip
