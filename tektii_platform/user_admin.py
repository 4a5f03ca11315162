"""Platform users, managed on the machine the platform's data lives on: the one implementation
behind ``python -m tektii_platform user create|list|revoke`` and ``tektii platform user ...``.

Both CLIs add these arguments (``add_arguments``) and call ``run``; each prints the returned
``Outcome`` its own way (plain lines, or the tektii formatters with ``--output json``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

VERBS = ("create", "list", "revoke")


@attrs.frozen
class Outcome:
    data: Any  # the JSON form (`{"data": ...}` of the tektii CLI)
    lines: tuple[str, ...] = ()  # what a person reads
    columns: tuple[str, ...] = ()  # list view
    rows: tuple[tuple[Any, ...], ...] = ()


def add_arguments(verbs: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """The verbs on an argparse subparsers action (`dest` is the caller's)."""
    create = verbs.add_parser("create", parents=list(parents), help="create a user and print its API key once",
                              description="Create a platform user. Users are ordinary unless --admin: only admins "
                                          "import, generate or replace the market data every user's scenarios read.")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--admin", action="store_true", help="make an admin (writes shared market data)")
    verbs.add_parser("list", parents=list(parents), help="list users with their roles")
    revoke = verbs.add_parser("revoke", parents=list(parents), help="revoke a user and every API key of theirs")
    revoke.add_argument("user_id", metavar="USER_ID")


def run(verb: str, data_dir: Path, args: argparse.Namespace) -> Outcome:
    from . import accounts
    from .db import open_database

    db = open_database(Path(data_dir))
    try:
        if verb == "create":
            user, key = accounts.create_user(db, args.name, admin=args.admin)
            return Outcome(
                {**user.to_json(), "apiKey": key},
                (f"Created {user.role} {user.id} ({user.name}).", f"API key (shown only now): {key}"),
            )
        if verb == "list":
            users = accounts.list_users(db)
            return Outcome(
                {"users": [{**u.to_json(), "revokedAt": u.revoked_at} for u in users]},
                columns=("User ID", "Created At", "Name", "Role", "Revoked At"),
                rows=tuple((u.id, u.created_at, u.name, u.role, u.revoked_at) for u in users),
            )
        if verb == "revoke":
            user = accounts.revoke_user(db, args.user_id)
            return Outcome({**user.to_json(), "revokedAt": user.revoked_at},
                           (f"Revoked {user.id} ({user.name}) and every API key of theirs.",))
        raise ValueError(f"unknown verb {verb!r}")
    finally:
        db.close()
