"""Entry point of the `tektii` console script."""

from __future__ import annotations

import sys

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from tektii_core.cli import fasthelp

    if fasthelp.try_print(argv):
        return EXIT_OK
    verbose = sum(a.count("v") for a in argv if a.startswith("-") and not a.startswith("--") and set(a[1:]) == {"v"})
    verbose += argv.count("--verbose")
    try:
        return _run(argv)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stderr.close()  # e.g. `tektii ... | head`: nothing left to say
        return EXIT_OK
    except Exception as exc:
        from tektii_core.errors import TektiiError

        if verbose >= 2:
            import traceback

            traceback.print_exc()
        if isinstance(exc, TektiiError):
            print(f"Error: {exc.message}", file=sys.stderr)
            if exc.hint:
                print(f"Solution: {exc.hint}", file=sys.stderr)
            return exc.exit_code
        print(f"Error: internal error: {type(exc).__name__}: {exc} (run with -vv for the traceback)", file=sys.stderr)
        return EXIT_ERROR


def _run(argv: list[str]) -> int:
    from tektii_core.cli import fasthelp
    from tektii_core.cli.context import Context
    from tektii_core.cli.parser import build_parser
    from tektii_core.output import Output
    from tektii_core.plugins import Plugins

    plugins = Plugins()
    parser = build_parser(plugins.commands, plugins.formatters)
    fasthelp.save(parser)
    if not argv:
        parser.print_help()
        return EXIT_OK
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.parse_args([*argv, "--help"])  # a noun without a verb: show its help
        return EXIT_USAGE
    ctx = Context(args, plugins)
    if ctx.verbose:
        for row in plugins.describe():
            ctx.trace(f"plugin {row['name']} ({row['distribution']} {row['version']}): {', '.join(row['hooks'])}")
        for override in plugins.overrides:
            ctx.trace(override.message())
    result = args.run(ctx, args)
    if isinstance(result, Output):
        plugins.formatters[ctx.output_format](result, ctx.stdout, ctx.tty)
        ctx.stdout.flush()
        return EXIT_OK
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
