"""``python -m tektii_platform``: run the platform server, manage users and API keys.

python -m tektii_platform serve [--host 127.0.0.1] [--port 8470] [--data-dir DIR]
python -m tektii_platform user create NAME [--admin]   (prints the new API key once)
python -m tektii_platform user list
python -m tektii_platform user revoke USER_ID
python -m tektii_platform key create USER_ID     (prints the new API key once)
python -m tektii_platform key revoke KEY_OR_ID
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tektii_core.contracts import TektiiError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tektii_platform",
        description="The local tektii platform: REST API server and its administration.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", type=Path, default=None,
        help="platform data directory (default: $TEKTII_DATA_DIR or the XDG data directory)",
    )  # fmt: skip
    nouns = parser.add_subparsers(dest="noun", required=True, metavar="COMMAND")

    serve = nouns.add_parser("serve", parents=[common], help="serve the API in the foreground")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8470, help="port (default 8470; 0 picks one)")
    serve.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")

    from .user_admin import add_arguments

    add_arguments(nouns.add_parser("user", help="manage users").add_subparsers(dest="verb", required=True), [common])

    key = nouns.add_parser("key", help="manage API keys").add_subparsers(dest="verb", required=True)
    key_create = key.add_parser("create", parents=[common], help="issue a new API key for a user")
    key_create.add_argument("user_id")
    key_revoke = key.add_parser("revoke", parents=[common], help="revoke an API key")
    key_revoke.add_argument("key", help="the key itself or its id (key_...)")
    return parser


def _run(args: argparse.Namespace) -> int:
    from .daemon import data_dir_default

    data_dir = args.data_dir or data_dir_default()
    if args.noun == "serve":
        from .server import serve

        serve(data_dir, host=args.host, port=args.port, threads=args.threads)
        return 0

    if args.noun == "user":
        from .user_admin import run

        outcome = run(args.verb, data_dir, args)
        for line in outcome.lines:
            print(line)
        for row in outcome.rows:
            print("\t".join("-" if value is None else str(value) for value in row))
        return 0

    from . import accounts
    from .db import open_database

    db = open_database(data_dir)
    try:
        if args.noun == "key" and args.verb == "create":
            print(f"API key (shown only now): {accounts.create_api_key(db, args.user_id)}")
        elif args.noun == "key" and args.verb == "revoke":
            if not accounts.revoke_api_key(db, args.key):
                raise TektiiError("No such active API key")
            print("Revoked.")
    finally:
        db.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except TektiiError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(exc.hint, file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # e.g. the port is taken, the data directory is not writable
        print(f"Error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
