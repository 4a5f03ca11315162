"""A third-party tektii plugin, installed from its own distribution through the `tektii` entry point.

It adds: a builder (`tarball`: writes the build context as a reproducible tar archive, which is
all a "build" needs to be when the target is an archive store), a formatter (`markdown`), an
auth provider (a key read from the file named by EXAMPLE_TEKTII_KEY_FILE), a strategy template
(`buy-and-hold`, the files in buy_and_hold_template/ next to this module: the test suite installs
this distribution editable), a noun (`hello`) and a verb under the built-in noun `strategy` (`count`).

With EXAMPLE_OVERRIDE_BUILTINS=1 it also registers one thing of each kind under a built-in's name
(the `csv` formatter, the `docker` builder, the `credential-helper` auth provider, the `process`
runtime, the `local` execution backend and the verb `config list`), which then override the
built-ins (see docs/plugins.md, "Names").
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

from tektii_core import hookimpl
from tektii_core.contracts import AuthResult, Availability, BuiltImage, RunningStrategy, RunSpec, StrategyLaunch
from tektii_core.errors import TektiiError
from tektii_core.output import Output, cell


class TarballBuilder:
    name = "tarball"
    description = "Archives the build context (example third-party builder)"

    def availability(self):
        out = os.environ.get("EXAMPLE_TARBALL_DIR")
        return Availability(True) if out else Availability(False, "set EXAMPLE_TARBALL_DIR to enable")

    def build(self, *, dockerfile, context, tag, platform, log):
        target = Path(os.environ["EXAMPLE_TARBALL_DIR"]) / (tag.replace("/", "_").replace(":", "_") + ".tar")
        def reproducible(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.mtime = 0
            log(f"added {info.name}")
            return info

        with tarfile.open(target, "w") as tar:
            for path in sorted(Path(context).rglob("*")):
                tar.add(path, arcname=str(path.relative_to(context)), recursive=False, filter=reproducible)
        os_, arch = platform.split("/")
        return BuiltImage(reference=str(target), os=os_, architecture=arch, size=target.stat().st_size)

    def push(self, *, image, credentials, log):
        digest = hashlib.sha256(Path(image.reference).read_bytes()).hexdigest()
        log(f"kept {image.reference}")
        return f"sha256:{digest}"


class KeyFileProvider:
    name = "example-key-file"
    priority = 5  # before the built-ins: an explicit example setting wins

    def get_auth(self, settings):
        from tektii_core.client import APIKeyAuth

        path = os.environ.get("EXAMPLE_TEKTII_KEY_FILE")
        if not path:
            return None
        try:
            key = Path(path).read_text().strip()
        except OSError as exc:
            raise TektiiError(f"EXAMPLE_TEKTII_KEY_FILE {path!r} cannot be read: {exc.strerror}") from None
        return AuthResult(APIKeyAuth(key), f"example key file {path}")


def overriding_builtins() -> bool:
    return os.environ.get("EXAMPLE_OVERRIDE_BUILTINS") == "1"


class TarballInsteadOfDocker(TarballBuilder):
    name = "docker"
    description = "Archives the build context instead of building with docker (example override)"


class NoCredentialHelper:
    name = "credential-helper"
    priority = 40

    def get_auth(self, settings):
        return None


class UnavailableProcessRuntime:
    name = "process"
    description = "Refuses to start strategies (example override)"

    def availability(self):
        return Availability(False, "the example plugin replaced the process runtime")

    def start(self, launch: StrategyLaunch) -> RunningStrategy:
        raise TektiiError("the example plugin's process runtime starts nothing")


class UnavailableLocalBackend:
    name = "local"
    description = "Runs nothing (example override)"

    def availability(self):
        return Availability(False, "the example plugin replaced the local backend")

    def start(self, run: RunSpec):
        raise TektiiError("the example plugin's local backend runs nothing")

    def abandon(self, scenario_id, run_dir, ident):
        pass


def render_markdown(output: Output, stream, tty: bool) -> None:
    if output.record is not None:
        header, rows = ["Field", "Value"], [[label, cell(v)] for label, v in output.record]
    elif output.columns is not None:
        header, rows = list(output.columns), [[cell(v) for v in row] for row in output.rows or ()]
    else:
        stream.write((output.text or "") + "\n")
        return
    stream.write("| " + " | ".join(header) + " |\n")
    stream.write("|" + "|".join("---" for _ in header) + "|\n")
    for row in rows:
        stream.write("| " + " | ".join(row) + " |\n")


def hello(ctx, args):
    return Output.message(f"Hello, {args.who}!", {"data": {"greeting": f"Hello, {args.who}!"}})


def config_list_override(ctx, args):
    return Output.message("config list, as the example plugin does it", {"data": {"example": True}})


def count_strategies(ctx, args):
    total = sum(1 for _ in ctx.client.paginate("/v1/strategies", "strategies", limit=100))
    return Output(payload={"data": {"count": total}}, record=[("Strategies", total)])


@hookimpl
def register_builders(register):
    register(TarballBuilder(), order=90)
    if overriding_builtins():
        register(builder=TarballInsteadOfDocker(), order=10)


@hookimpl
def register_templates(register):
    register("buy-and-hold", Path(__file__).resolve().parent / "buy_and_hold_template",
             description="Buys QUANTITY units of each symbol on its first candle and holds (example plugin)",
             defaults={"QUANTITY": "1"})


@hookimpl
def register_formatters(register):
    register("markdown", render_markdown, description="Markdown tables (example plugin)")
    if overriding_builtins():
        register(name="csv", render=render_markdown, description="Markdown tables, named csv (example override)")


@hookimpl
def register_auth_providers(register):
    register(KeyFileProvider())
    if overriding_builtins():
        register(provider=NoCredentialHelper())


@hookimpl
def register_runtimes(register):
    if overriding_builtins():
        register(runtime=UnavailableProcessRuntime())


@hookimpl
def register_execution_backends(register):
    if overriding_builtins():
        register(backend=UnavailableLocalBackend())


@hookimpl
def register_commands(register):
    register("hello", help="Greet someone (example plugin)", run=hello,
             arguments=lambda p: p.add_argument("who", nargs="?", default="world"))
    register("count", parent="strategy", help="Count your strategies (example plugin)", run=count_strategies)
    if overriding_builtins():
        register(name="list", parent="config", help="List the configuration (example override)", run=config_list_override)
