"""argparse with tektii's conventions: `Error: ...` on bad usage (exit 2), suggestions for
unknown commands, examples in help, and global options accepted before or after the noun."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NoReturn

from tektii_core import __version__

if TYPE_CHECKING:
    from tektii_core.registrars import CommandSpec

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"Error: {message}\nRun `{self.prog} --help` for usage.\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if isinstance(action, argparse._SubParsersAction) and value not in action.choices:
            close = difflib.get_close_matches(value, list(action.choices), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f" (choose from {', '.join(action.choices)})"
            raise argparse.ArgumentError(None, f"unknown command {value!r}{hint}")
        super()._check_value(action, value)


def add_global_options(parser: argparse.ArgumentParser, formats: Iterable[str], *, root: bool) -> None:
    """The options every level accepts; below the root their defaults are suppressed so that a
    value given before the noun is not reset by the subcommand's parser."""
    def default(value: Any) -> Any:
        return value if root else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument("--api-url", metavar="URL", default=default(None),
                       help="platform API URL (env TEKTII_API_URL; default: the local platform)")
    group.add_argument("--api-key", metavar="KEY", default=default(None), help="API key (env TEKTII_API_KEY)")
    group.add_argument("--profile", metavar="NAME", default=default(None),
                       help="configuration profile (env TEKTII_PROFILE; default: default)")
    group.add_argument("--output", metavar="FORMAT", choices=sorted(formats), default=default(None),
                       help=f"output format: {', '.join(sorted(formats))} (default: table)")
    group.add_argument("-v", "--verbose", action="count", default=default(0),
                       help="trace HTTP requests and plugins to stderr (-vv: also bodies and tracebacks)")
    group.add_argument("-q", "--quiet", action="store_true", default=default(False),
                       help="print only results, no progress or headlines")
    if root:
        group.add_argument("--version", action="version", version=f"tektii {__version__}")


def examples_epilog(examples: Iterable[str]) -> str | None:
    examples = list(examples)
    return "examples:\n" + "\n".join(f"  {e}" for e in examples) if examples else None


def build_parser(commands: list[CommandSpec], formats: Iterable[str]) -> Parser:
    """The parser of every noun and verb; `commands` has no two of the same name (see registrars.py)."""
    formats = list(formats)
    root = Parser(
        prog="tektii",
        description="Package trading strategies as Docker images, upload versions, run backtests and read results.",
        epilog=examples_epilog([
            'tektii strategy create --name "my-strategy"',
            "tektii version upload strat_abc123",
            "tektii scenario create strat_abc123 --config ./backtest-config.json",
            "tektii --output json strategy list | jq '.data.strategies[0].id'",
        ]),
    )
    add_global_options(root, formats, root=True)
    nouns = root.add_subparsers(dest="noun", metavar="<command>", title="commands")
    noun_parsers: dict[str, tuple[Parser, Any]] = {}

    def add(target: Any, spec: CommandSpec) -> Parser:
        sub = target.add_parser(spec.name, help=spec.help, description=spec.description or spec.help,
                                epilog=examples_epilog(spec.examples))
        add_global_options(sub, formats, root=False)
        if spec.arguments:
            spec.arguments(sub)
        if spec.run:
            sub.set_defaults(run=spec.run)
        return sub

    for spec in sorted((c for c in commands if not c.parent), key=lambda c: c.name):
        noun_parsers[spec.name] = (add(nouns, spec), None)
    for spec in (c for c in commands if c.parent):  # verbs keep registration order
        if spec.parent not in noun_parsers:
            print(f"Warning: command {spec.name!r} names an unknown parent {spec.parent!r}", file=sys.stderr)
            continue
        parser, verbs = noun_parsers[spec.parent]
        if verbs is None:
            verbs = parser.add_subparsers(dest="verb", metavar="<subcommand>", title="subcommands")
            noun_parsers[spec.parent] = (parser, verbs)
        add(verbs, spec)
    for _parser, verbs in noun_parsers.values():
        if verbs is not None:
            verbs.required = True
    return root
