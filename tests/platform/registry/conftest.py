"""Fixtures: a real distribution registry with the platform's token auth, on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from registry_support import RegistryEnv, start_registry_env


@pytest.fixture(scope="module")
def registry_env(tmp_path_factory) -> Iterator[RegistryEnv]:
    env = start_registry_env(tmp_path_factory.mktemp("registry"))
    yield env
    env.registry.stop()
    env.tokens.stop()
