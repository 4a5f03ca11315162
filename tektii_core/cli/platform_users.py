"""The arguments of `platform user create|list|revoke`: one definition for `tektii platform
user` and `python -m tektii_platform user` (tektii_platform.user_admin runs them). Here, in the
core, so that both may import it and building the tektii parser imports nothing of the platform."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


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
