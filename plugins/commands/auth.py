"""`tektii auth login | status | logout`."""

from __future__ import annotations

import getpass
import sys

from tektii_core import hookimpl
from tektii_core.errors import TektiiError
from tektii_core.output import Output


@hookimpl
def register_commands(register):
    register("auth", help="Log in with an API key, see where the key comes from, log out",
             examples=["tektii auth login", "echo $KEY | tektii auth login --with-key-stdin", "tektii auth status"])
    register("login", parent="auth", help="Store an API key for this profile (checked against the platform first)",
             run=login, arguments=_login_arguments)
    register("status", parent="auth", help="Show which source supplies the API key and who it belongs to", run=status)
    register("logout", parent="auth", help="Remove the stored API key of this profile", run=logout)


def _login_arguments(parser):
    parser.add_argument("--with-key-stdin", action="store_true", help="read the key from standard input")


def login(ctx, args):
    from tektii_core.client import APIClient, APIKeyAuth

    if args.with_key_stdin:
        key = sys.stdin.readline().strip()
    elif ctx.config.flags.get("api_key"):
        key = ctx.config.flags["api_key"]
    elif sys.stdin.isatty():
        key = getpass.getpass("API key: ").strip()
    else:
        raise TektiiError("No API key given", hint="Use --with-key-stdin or --api-key, or run interactively.")
    if not key:
        raise TektiiError("The API key is empty")
    me = APIClient(ctx.api_url, APIKeyAuth(key), verbose=ctx.verbose).get("/v1/me")
    ctx.config.store("api_key", key)
    user = me["data"]
    return Output(payload=me, headline=f"✓ Logged in as {user.get('name')} ({user.get('id')})",
                  record=[("User ID", user.get("id")), ("Name", user.get("name")), ("Profile", ctx.config.profile),
                          ("Stored In", str(ctx.config.credentials_file.path))])


def status(ctx, args):
    found = ctx.authenticate()
    if found is None:
        raise TektiiError("Not logged in: no API key found",
                          hint="Run `tektii auth login`, pass --api-key, or set TEKTII_API_KEY.")
    from tektii_core.client import APIClient

    me = APIClient(ctx.api_url, found.auth, verbose=ctx.verbose).get("/v1/me")["data"]
    data = {"profile": ctx.config.profile, "apiUrl": ctx.api_url, "keySource": found.source,
            "userId": me.get("id"), "userName": me.get("name")}
    return Output(payload={"data": data},
                  record=[("Profile", data["profile"]), ("API URL", data["apiUrl"]), ("Key Source", data["keySource"]),
                          ("User ID", data["userId"]), ("User Name", data["userName"])])


def logout(ctx, args):
    removed = ctx.config.remove("api_key")
    text = (f"✓ Removed the API key of profile {ctx.config.profile!r}" if removed
            else f"No API key stored for profile {ctx.config.profile!r}")
    return Output.message(text, {"data": {"profile": ctx.config.profile, "removed": removed}})
