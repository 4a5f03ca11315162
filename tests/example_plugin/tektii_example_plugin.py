"""A third-party tektii plugin, installed from its own distribution through the `tektii` entry point.

It adds: a builder (`tarball`: writes the build context as a reproducible tar archive, which is
all a "build" needs to be when the target is an archive store), a formatter (`markdown`), an
auth provider (a key read from the file named by EXAMPLE_TEKTII_KEY_FILE), a noun (`hello`) and a
verb under the built-in noun `strategy` (`count`).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

from tektii_core import hookimpl
from tektii_core.contracts import AuthResult, Availability, BuiltImage
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


def count_strategies(ctx, args):
    total = sum(1 for _ in ctx.client.paginate("/v1/strategies", "strategies", limit=100))
    return Output(payload={"data": {"count": total}}, record=[("Strategies", total)])


@hookimpl
def register_builders(register):
    register(TarballBuilder(), order=90)


@hookimpl
def register_formatters(register):
    register("markdown", render_markdown, description="Markdown tables (example plugin)")


@hookimpl
def register_auth_providers(register):
    register(KeyFileProvider())


@hookimpl
def register_commands(register):
    register("hello", help="Greet someone (example plugin)", run=hello,
             arguments=lambda p: p.add_argument("who", nargs="?", default="world"))
    register("count", parent="strategy", help="Count your strategies (example plugin)", run=count_strategies)
