"""Profiles, settings and secrets, with the precedence flag > environment > config file.

Files live in the XDG config directory (`$TEKTII_CONFIG_DIR` overrides it):
`config.ini` holds settings per profile, `credentials.ini` (mode 0600) holds API keys.
Keyring and credential helpers are consulted by auth provider plugins, after these.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from tektii_core.errors import TektiiError

DEFAULT_PROFILE = "default"

# setting -> (environment variable or None, description)
SETTINGS: dict[str, tuple[str | None, str]] = {
    "api_url": ("TEKTII_API_URL", "Platform API URL (default: the local platform)"),
    "output": ("TEKTII_OUTPUT", "Default output format (table, json, ...)"),
    "builder": ("TEKTII_BUILDER", "Default image builder for version upload"),
    "credential_helper": ("TEKTII_CREDENTIAL_HELPER", "Command that prints an API key on stdout"),
}
SECRET_SETTINGS = {"api_key": "TEKTII_API_KEY"}


def config_dir() -> Path:
    if os.environ.get("TEKTII_CONFIG_DIR"):
        return Path(os.environ["TEKTII_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "tektii"


def _section(profile: str) -> str:
    return DEFAULT_PROFILE if profile == DEFAULT_PROFILE else f"profile {profile}"


class ConfigFile:
    """One INI file of per-profile values; written atomically, optionally private (0600)."""

    def __init__(self, path: Path, *, private: bool = False):
        self.path = path
        self.private = private
        self._parser = configparser.ConfigParser(interpolation=None)
        try:
            self._parser.read(path, encoding="utf-8")
        except configparser.Error as exc:
            raise TektiiError(f"Cannot read {path}: {exc.message.splitlines()[0]}") from None

    def get(self, profile: str, key: str) -> str | None:
        return self._parser.get(_section(profile), key, fallback=None)

    def items(self, profile: str) -> dict[str, str]:
        section = _section(profile)
        return dict(self._parser.items(section)) if self._parser.has_section(section) else {}

    def set(self, profile: str, key: str, value: str) -> None:
        section = _section(profile)
        if not self._parser.has_section(section):
            self._parser.add_section(section)
        self._parser.set(section, key, value)
        self._save()

    def unset(self, profile: str, key: str) -> bool:
        removed = self._parser.remove_option(_section(profile), key) if self._parser.has_section(_section(profile)) else False
        if removed:
            self._save()
        return removed

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if self.private else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            self._parser.write(fh)
        os.replace(tmp, self.path)


class Config:
    """The resolved settings of one invocation: flags, environment, then the profile's files."""

    def __init__(self, *, profile: str | None = None, flags: dict[str, str | None] | None = None):
        self.profile = profile or os.environ.get("TEKTII_PROFILE") or DEFAULT_PROFILE
        self.flags = {k: v for k, v in (flags or {}).items() if v is not None}
        self.dir = config_dir()
        self.settings_file = ConfigFile(self.dir / "config.ini")
        self.credentials_file = ConfigFile(self.dir / "credentials.ini", private=True)

    def lookup(self, key: str) -> tuple[str | None, str | None]:
        """The value of a setting and a human description of where it came from."""
        env = SETTINGS.get(key, (SECRET_SETTINGS.get(key), ""))[0]
        if key in self.flags:
            return self.flags[key], f"--{key.replace('_', '-')} flag"
        if env and os.environ.get(env):
            return os.environ[env], f"environment variable {env}"
        file = self.credentials_file if key in SECRET_SETTINGS else self.settings_file
        value = file.get(self.profile, key)
        if value:
            return value, f"{file.path} [{self.profile}]"
        return None, None

    def get(self, key: str) -> str | None:
        return self.lookup(key)[0]

    def as_dict(self) -> dict[str, object]:
        """What auth providers and plugins see (secrets included; never print it)."""
        values: dict[str, object] = {k: self.get(k) for k in [*SETTINGS, *SECRET_SETTINGS]}
        values["profile"] = self.profile
        values["config"] = self
        return values

    def store(self, key: str, value: str) -> None:
        if key not in SETTINGS and key not in SECRET_SETTINGS:
            raise TektiiError(f"Unknown setting {key!r}", hint=f"Known settings: {', '.join(SETTINGS)}")
        file = self.credentials_file if key in SECRET_SETTINGS else self.settings_file
        file.set(self.profile, key, value)

    def remove(self, key: str) -> bool:
        file = self.credentials_file if key in SECRET_SETTINGS else self.settings_file
        return file.unset(self.profile, key)
