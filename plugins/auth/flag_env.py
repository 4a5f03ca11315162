"""API key from `--api-key` or the environment variable TEKTII_API_KEY (highest precedence)."""

from __future__ import annotations

import os

from tektii_core import hookimpl
from tektii_core.contracts import AuthResult

ENV = "TEKTII_API_KEY"


class FlagEnvProvider:
    name = "flag-env"
    priority = 10

    def get_auth(self, settings):
        from tektii_core.client import APIKeyAuth

        flag = settings["config"].flags.get("api_key")
        if flag:
            return AuthResult(APIKeyAuth(flag), "--api-key flag")
        if os.environ.get(ENV):
            return AuthResult(APIKeyAuth(os.environ[ENV]), f"environment variable {ENV}")
        return None


@hookimpl
def register_auth_providers(register):
    register(FlagEnvProvider())
