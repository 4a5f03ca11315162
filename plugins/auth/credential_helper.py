"""API key printed by a configured command (`tektii config set credential_helper "sso-token tektii"`),
for enterprise single sign-on. The command's stdout, stripped, is the key."""

from __future__ import annotations

import shlex
import subprocess

from tektii_core import hookimpl
from tektii_core.contracts import AuthResult
from tektii_core.errors import TektiiError

TIMEOUT_S = 30


class CredentialHelperProvider:
    name = "credential-helper"
    priority = 40

    def get_auth(self, settings):
        from tektii_core.client import APIKeyAuth

        command = settings.get("credential_helper")
        if not command:
            return None
        try:
            done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except (OSError, ValueError) as exc:
            raise TektiiError(f"Credential helper {command!r} could not run: {exc}") from None
        except subprocess.TimeoutExpired:
            raise TektiiError(f"Credential helper {command!r} did not finish within {TIMEOUT_S} s") from None
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise TektiiError(f"Credential helper {command!r} failed (exit {done.returncode}): {reason}")
        token = done.stdout.strip()
        if not token or len(token.split()) != 1:
            raise TektiiError(f"Credential helper {command!r} printed no usable key (expected one token on stdout)")
        return AuthResult(APIKeyAuth(token), f"credential helper {command!r}")


@hookimpl
def register_auth_providers(register):
    register(CredentialHelperProvider())
