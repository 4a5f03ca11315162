"""``python -m tektii_platform``: an alias of ``tektii platform serve | user | key`` (the same
arguments and code, tektii_platform.admin), printing plain lines; what ``tektii platform up``
starts in the background.

python -m tektii_platform serve [--host 127.0.0.1] [--port 8470] [--threads 8] [--data-dir DIR]
python -m tektii_platform user create NAME [--admin] | list | revoke USER_ID
python -m tektii_platform key create USER_ID | revoke KEY_OR_ID
"""

from __future__ import annotations

import argparse
import sys

from tektii_core.cli.platform_admin import add_key_arguments, add_serve_arguments, add_user_arguments, data_dir_parent
from tektii_core.contracts import TektiiError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tektii_platform",
                                     description="The local tektii platform (an alias of `tektii platform`).")
    common = data_dir_parent()
    nouns = parser.add_subparsers(dest="noun", required=True, metavar="COMMAND")
    add_serve_arguments(nouns.add_parser("serve", parents=[common], help="serve the API in the foreground"))
    add_user_arguments(nouns.add_parser("user", help="manage users").add_subparsers(dest="verb", required=True), [common])
    add_key_arguments(nouns.add_parser("key", help="manage API keys").add_subparsers(dest="verb", required=True), [common])
    return parser


def main(argv: list[str] | None = None) -> int:
    from . import admin

    args = _parser().parse_args(argv)
    try:
        if args.noun == "serve":
            admin.serve(args)
            return 0
        outcome = admin.run(args.noun, args.verb, args)
    except TektiiError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"Solution: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # e.g. the port is taken, the data directory is not writable
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    for line in outcome.lines:
        print(line)
    for row in outcome.rows:
        print("\t".join("-" if value is None else str(value) for value in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
