"""Helpers shared by test modules, imported as `tektii_testkit` (tests/ is on sys.path through the
root conftest). Fixtures stay in conftest.py files; everything a test imports is here, by topic:

- components: `require` (skip, or fail under TEKTII_REQUIRE_DOCKER=1), Docker, free ports
- databases: TEKTII_TEST_DATABASE, a fresh PostgreSQL database per test platform
- cli: the installed `tektii` in a private home (`CLI`, `base_env`)
- platforms: a real platform as a process (`Platform`, `ServedPlatform`, `served`) or in-process
  (`Api`), the error envelope (`assert_error`)
- runs: the platform's end of the run contract (`run_desk`, `RunDesk`, `running_run`, `wait_end`)
- processes, market_data, feeds: /proc, market-data files and oracles, generated candle feeds
- registry, attacks: a registry with token auth; the security tests' attacker tools
- research: the sweep tests' EUR/USD window
- stand_ins, templates: a stand-in gateway and builder log; the templates' logic modules by path
"""

from .attacks import TINY_DOCKERFILE, Listener, call, cli_for, new_strategy, registry_realm, upload_tiny_image
from .cli import BIN, CLI, TEKTII, Result, base_env, ok_json
from .components import BASE_IMAGE, containers_tool_ready, docker_client_or_skip, docker_running, free_port, require
from .databases import database_kind, drop_platform_database, new_platform_database
from .feeds import TableFeed, WalkFeed, walk
from .market_data import (
    assert_rows_close,
    bucket_of,
    candles,
    minute_bars,
    reference_aggregate,
    shipped_file,
    ts,
    write_text,
)
from .platforms import (
    FINISHED,
    SPEC_CONFIG,
    Api,
    Platform,
    ServedPlatform,
    assert_error,
    served,
    upload_ma_crossover,
    with_version,
)
from .processes import alive, children
from .registry import RegistryEnv, TokenServer, start_registry_env
from .research import END, HOLDOUT, START
from .runs import RUN_DEFAULTS, RunDesk, run_desk, running_run, wait_end
from .stand_ins import Log, StandInGateway, serve_gateway
from .templates import load_logic

__all__ = [
    "END", "HOLDOUT", "START", "ok_json",
    "Api", "BASE_IMAGE", "BIN", "CLI", "FINISHED", "Listener", "Log", "Platform", "RUN_DEFAULTS",
    "RegistryEnv", "Result", "RunDesk", "SPEC_CONFIG", "ServedPlatform", "StandInGateway", "TEKTII",
    "TINY_DOCKERFILE", "TableFeed", "TokenServer", "WalkFeed", "alive", "assert_error", "assert_rows_close",
    "base_env", "bucket_of", "call", "candles", "children", "cli_for", "containers_tool_ready",
    "database_kind", "docker_client_or_skip", "docker_running", "drop_platform_database", "free_port",
    "load_logic", "minute_bars", "new_platform_database", "new_strategy", "reference_aggregate",
    "registry_realm", "require", "run_desk", "running_run", "serve_gateway", "served", "shipped_file", "upload_ma_crossover",
    "start_registry_env", "ts", "upload_tiny_image", "wait_end", "walk", "with_version", "write_text",
]
