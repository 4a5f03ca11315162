"""Fixtures: a real distribution registry with the platform's token auth, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tektii_testkit import RegistryEnv, start_registry_env


@pytest.fixture(scope="module")
def registry_env(tmp_path_factory) -> Iterator[RegistryEnv]:
    env = start_registry_env(tmp_path_factory.mktemp("registry"))
    yield env
    env.registry.stop()
    env.tokens.stop()
