"""The arguments of the platform's administration verbs, `serve`, `user create|list|revoke` and
`key create|revoke`: one definition for `tektii platform ...` and its alias `python -m
tektii_platform ...` (tektii_platform.admin runs them). Here, in the core, so that building
the tektii parser imports nothing of the platform."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

DEFAULT_PORT = 8470  # tektii_platform.daemon.DEFAULT_PORT: `platform up` prefers it too


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """`--data-dir`, for every verb that works on the platform's data directory."""
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="platform data directory (default: $TEKTII_DATA_DIR or the XDG data directory)")


def data_dir_parent() -> argparse.ArgumentParser:
    """A parent parser holding `--data-dir`, for the verbs of a noun."""
    parent = argparse.ArgumentParser(add_help=False)
    add_data_dir_argument(parent)
    return parent


DATABASE_URL_ENV = "TEKTII_DATABASE_URL"  # tektii_platform.db reads it


def add_database_url_argument(parser: argparse.ArgumentParser) -> None:
    """`--database-url`, for the verbs that start the platform (`up`, `serve`)."""
    parser.add_argument("--database-url", default=None, metavar="URL",
                        help=f"store the platform's state in PostgreSQL (postgresql://USER:PASSWORD@HOST/DB; "
                             f"default: ${DATABASE_URL_ENV}, else SQLite in the data directory). The variable keeps "
                             f"the password out of the process list")


def apply_database_url(args: argparse.Namespace) -> None:
    """`--database-url` overrides $TEKTII_DATABASE_URL for this process and those it starts
    (the background platform of `up`, whose command line then holds no password)."""
    import os

    url = getattr(args, "database_url", None)
    if url:
        os.environ[DATABASE_URL_ENV] = url


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks one)")
    parser.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    add_database_url_argument(parser)


def add_user_arguments(verbs: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """The user verbs on an argparse subparsers action (`dest` is the caller's)."""
    create = verbs.add_parser("create", parents=list(parents), help="create a user and print its API key once",
                              description="Create a platform user. Users are ordinary unless --admin: only admins "
                                          "import, generate or replace the market data every user's scenarios read.")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--admin", action="store_true", help="make an admin (writes shared market data)")
    verbs.add_parser("list", parents=list(parents), help="list users with their roles")
    revoke = verbs.add_parser("revoke", parents=list(parents), help="revoke a user and every API key of theirs")
    revoke.add_argument("user_id", metavar="USER_ID")


def add_key_arguments(verbs: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """The API key verbs on an argparse subparsers action (`dest` is the caller's)."""
    create = verbs.add_parser("create", parents=list(parents), help="issue another API key for a user (printed once)")
    create.add_argument("user_id", metavar="USER_ID")
    revoke = verbs.add_parser("revoke", parents=list(parents), help="revoke an API key")
    revoke.add_argument("key", metavar="KEY_OR_ID", help="the key itself or its id (key_...)")
