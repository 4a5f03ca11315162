"""Every hook a tektii plugin can implement.

Plugins are modules (or objects) with functions marked ``@tektii_core.hookimpl``; built-ins
in ``tektii_plugins`` are registered exactly like third-party packages that declare an entry
point in the group ``tektii``. Most hooks hand the plugin a ``register`` callback (a registrar
of tektii_core.registrars, with the signature documented here) and collect what it registers,
so one plugin may contribute any number of things and the core decides how to combine them
(pluggy "register_*" style, as in llm and datasette): an installed plugin overrides a built-in
of the same name. See docs/plugins.md.
"""

from __future__ import annotations

from typing import Any

import pluggy

from tektii_core.registrars import (
    AuthProviderRegistrar,
    BuilderRegistrar,
    CommandRegistrar,
    ExecutionBackendRegistrar,
    FormatterRegistrar,
    RuntimeRegistrar,
    TemplateRegistrar,
)

hookspec = pluggy.HookspecMarker("tektii")


@hookspec
def register_commands(register: CommandRegistrar) -> None:
    """Add CLI nouns and verbs.

    ``register(name, *, help, run=None, arguments=None, parent=None, description=None,
    examples=())``: ``name`` is a noun (``parent=None``) or a verb under the noun ``parent``
    (which may come from another plugin). ``arguments(parser)`` adds argparse arguments;
    ``run(ctx, args)`` executes the command and returns an ``Output``, an int exit code or
    None. A noun without ``run`` groups verbs.
    """


@hookspec
def register_formatters(register: FormatterRegistrar) -> None:
    """Add output formats for ``--output``.

    ``register(name, render, *, description="")`` where ``render(output, stream, tty)``
    writes a ``tektii_core.output.Output`` to the text stream; ``tty`` says whether the
    stream is a terminal (colour and box drawing only then).
    """


@hookspec
def register_auth_providers(register: AuthProviderRegistrar) -> None:
    """Add sources of API credentials.

    ``register(provider)`` with a ``tektii_core.contracts.AuthProvider``. Providers are asked
    in ascending ``priority``; the first that returns an ``AuthResult`` wins.
    """


@hookspec
def register_builders(register: BuilderRegistrar) -> None:
    """Add image builders for ``version upload``.

    ``register(builder, *, order=100)`` with a ``tektii_core.contracts.Builder``; when the user
    names no builder, the first available one in ascending ``order`` is used. A
    ``tektii_core.contracts.TemplateBuilder`` (``source = "template"``) makes the versions of
    ``version upload --template`` instead.
    """


@hookspec
def register_templates(register: TemplateRegistrar) -> None:
    """Add strategy templates the platform offers (``GET /v1/templates``, ``version upload
    --template``, ``strategy init``).

    ``register(name, directory, *, description="", defaults=None)``: ``directory`` holds the
    template's files (a tektii SDK strategy and a linux/amd64 Dockerfile); ``defaults`` maps the
    environment variables it reads to their defaults.
    """


@hookspec
def register_runtimes(register: RuntimeRegistrar) -> None:
    """Add strategy runtimes (how a backtest starts the strategy's code).

    ``register(runtime)`` with a ``tektii_core.contracts.Runtime``.
    """


@hookspec
def register_execution_backends(register: ExecutionBackendRegistrar) -> None:
    """Add platform execution backends (where scenario runs execute).

    ``register(backend)`` with a ``tektii_core.contracts.ExecutionBackend``. The platform uses
    the backend named by the environment variable ``TEKTII_EXECUTION_BACKEND`` (default ``local``:
    a worker pool of isolated processes on this machine); a backend on a distributed engine plugs
    in here.
    """


@hookspec(firstresult=True)
def resolve_api_url(settings: dict[str, Any]) -> str | None:
    """Return the platform API URL to use when the user configured none, or None.

    First result wins; the built-in local-platform plugin is ``trylast`` so that an installed
    plugin (e.g. one pointing at a company's platform) takes precedence.
    """
