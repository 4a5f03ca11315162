"""API key from the system keyring (service "tektii", user = profile), when `keyring` is installed."""

from __future__ import annotations

from tektii_core import hookimpl
from tektii_core.contracts import AuthResult

SERVICE = "tektii"


def _keyring():
    try:
        import keyring
        import keyring.errors
    except ImportError:
        return None
    return keyring


class KeyringProvider:
    name = "keyring"
    priority = 30

    def get_auth(self, settings):
        from tektii_core.client import APIKeyAuth

        keyring = _keyring()
        if keyring is None:
            return None
        profile = settings["profile"]
        try:
            key = keyring.get_password(SERVICE, profile)
        except keyring.errors.KeyringError:
            return None  # no usable backend on this machine: nothing stored there
        if not key:
            return None
        return AuthResult(APIKeyAuth(key), f"system keyring (service {SERVICE!r}, profile {profile!r})")


@hookimpl
def register_auth_providers(register):
    register(KeyringProvider())
