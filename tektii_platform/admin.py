"""Administering the platform on the machine its data lives on: the one implementation behind
``tektii platform serve | user ... | key ...`` and its alias ``python -m tektii_platform ...``.

Both CLIs add the same arguments (``tektii_core.cli.platform_admin``, so that building the
tektii parser imports nothing of the platform) and call ``run`` or ``serve``; each prints the
returned ``Outcome`` its own way (the tektii formatters, ``--output json`` too, or plain lines).
The user and key verbs work whether or not the platform runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import attrs

from tektii_core.contracts import TektiiError


@attrs.frozen
class Outcome:
    data: Any  # the JSON form (`{"data": ...}` of the tektii CLI)
    lines: tuple[str, ...] = ()  # what a person reads
    columns: tuple[str, ...] = ()  # list view
    rows: tuple[tuple[Any, ...], ...] = ()


def data_dir(args: argparse.Namespace) -> Path:
    """``--data-dir``, else ``$TEKTII_DATA_DIR`` or the XDG data directory."""
    from .daemon import data_dir_default

    return Path(args.data_dir) if getattr(args, "data_dir", None) else data_dir_default()


def serve(args: argparse.Namespace) -> None:
    """Serve in the foreground until SIGTERM or SIGINT (see tektii_platform.server.serve)."""
    from tektii_core.cli.platform_admin import apply_database_url

    from .server import serve as serve_forever

    apply_database_url(args)
    serve_forever(data_dir(args), host=args.host, port=args.port, threads=args.threads)


def run(noun: str, verb: str, args: argparse.Namespace) -> Outcome:
    """One `user` or `key` verb on the platform's data directory."""
    from .db import open_database

    db = open_database(data_dir(args))
    try:
        if noun == "user":
            return _user(db, verb, args)
        if noun == "key":
            return _key(db, verb, args)
        raise ValueError(f"unknown noun {noun!r}")
    finally:
        db.close()


def _user(db: Any, verb: str, args: argparse.Namespace) -> Outcome:
    from . import accounts

    if verb == "create":
        user, key = accounts.create_user(db, args.name, admin=args.admin)
        return Outcome({**user.to_json(), "apiKey": key},
                       (f"Created {user.role} {user.id} ({user.name}).", f"API key (shown only now): {key}"))
    if verb == "list":
        users = accounts.list_users(db)
        return Outcome({"users": [{**u.to_json(), "revokedAt": u.revoked_at} for u in users]},
                       columns=("User ID", "Created At", "Name", "Role", "Revoked At"),
                       rows=tuple((u.id, u.created_at, u.name, u.role, u.revoked_at) for u in users))
    if verb == "revoke":
        user = accounts.revoke_user(db, args.user_id)
        return Outcome({**user.to_json(), "revokedAt": user.revoked_at},
                       (f"Revoked {user.id} ({user.name}) and every API key of theirs.",))
    raise ValueError(f"unknown verb {verb!r}")


def _key(db: Any, verb: str, args: argparse.Namespace) -> Outcome:
    from . import accounts

    if verb == "create":
        key = accounts.create_api_key(db, args.user_id)
        return Outcome({"userId": args.user_id, "apiKey": key}, (f"API key (shown only now): {key}",))
    if verb == "revoke":
        if not accounts.revoke_api_key(db, args.key):
            raise TektiiError("No such active API key", hint="A key is given in full (tk_...) or by its id (key_...).")
        return Outcome({"revoked": True}, ("Revoked.",))
    raise ValueError(f"unknown verb {verb!r}")
