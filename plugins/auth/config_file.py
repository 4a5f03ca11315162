"""API key stored by `tektii auth login` / `tektii platform up` in credentials.ini (mode 0600)."""

from __future__ import annotations

from tektii_core import hookimpl
from tektii_core.contracts import AuthResult


class ConfigFileProvider:
    name = "config-file"
    priority = 20

    def get_auth(self, settings):
        from tektii_core.client import APIKeyAuth

        config = settings["config"]
        key = config.credentials_file.get(config.profile, "api_key")
        if not key:
            return None
        return AuthResult(APIKeyAuth(key), f"config file {config.credentials_file.path} [{config.profile}]")


@hookimpl
def register_auth_providers(register):
    register(ConfigFileProvider())
