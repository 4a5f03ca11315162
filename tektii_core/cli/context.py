"""What a command's `run(ctx, args)` gets: settings, plugins, output and the API client."""

from __future__ import annotations

import argparse
import sys
from functools import cached_property
from typing import Any, TextIO

from tektii_core.config import Config
from tektii_core.contracts import AuthResult
from tektii_core.errors import TektiiError
from tektii_core.plugins import Plugins


class Context:
    def __init__(self, args: argparse.Namespace, plugins: Plugins, *, stdout: TextIO | None = None,
                 stderr: TextIO | None = None):
        self.args = args
        self.plugins = plugins
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.verbose: int = getattr(args, "verbose", 0) or 0
        self.quiet: bool = bool(getattr(args, "quiet", False))
        self.config = Config(profile=getattr(args, "profile", None),
                             flags={"api_url": getattr(args, "api_url", None), "api_key": getattr(args, "api_key", None)})

    @property
    def tty(self) -> bool:
        return self.stdout.isatty()

    @cached_property
    def output_format(self) -> str:
        fmt = getattr(self.args, "output", None) or self.config.get("output") or "table"
        if fmt not in self.plugins.formatters:
            raise TektiiError(f"Unknown output format {fmt!r}", hint=f"Available: {', '.join(sorted(self.plugins.formatters))}")
        return fmt

    def say(self, line: str = "") -> None:
        """A progress line: on stdout for tables, on stderr when stdout carries machine output."""
        if self.quiet:
            return
        stream = self.stdout if self.output_format == "table" else self.stderr
        stream.write(line + "\n")
        stream.flush()

    def warn(self, message: str) -> None:
        self.stderr.write(f"Warning: {message}\n")
        self.stderr.flush()

    def trace(self, message: str, level: int = 1) -> None:
        if self.verbose >= level:
            self.stderr.write(message + "\n")

    @cached_property
    def api_url(self) -> str:
        url = self.config.get("api_url")
        if url:
            self.trace(f"API URL {url} from {self.config.lookup('api_url')[1]}")
            return url
        url = self.plugins.resolve_api_url(self.settings())
        if not url:
            raise TektiiError("No platform API URL configured",
                              hint="Run `tektii platform up`, or set --api-url / TEKTII_API_URL.")
        self.trace(f"API URL {url} from plugin resolution (local platform)")
        return url

    def settings(self) -> dict[str, Any]:
        return {**self.config.as_dict(), "context": self}

    def authenticate(self) -> AuthResult | None:
        """The first credentials an auth provider finds, in ascending provider priority."""
        settings = self.settings()
        for provider in self.plugins.auth_providers:
            result = provider.get_auth(settings)
            self.trace(f"auth provider {provider.name}: {'found ' + result.source if result else 'nothing'}")
            if result is not None:
                return result
        return None

    @cached_property
    def client(self) -> Any:
        from tektii_core.client import APIClient

        url = self.api_url  # may start the local platform and store its key
        found = self.authenticate()
        if found is None:
            raise TektiiError("No API key configured",
                              hint="Run `tektii auth login`, pass --api-key, or set TEKTII_API_KEY.")
        return APIClient(url, found.auth, verbose=self.verbose)
