"""`tektii platform up | down | status | serve | user`: the local platform (API, storage, registry,
runs) and its users."""

from __future__ import annotations

import os

from tektii_core import hookimpl
from tektii_core.output import Output


@hookimpl
def register_commands(register):
    register("platform", help="Run the local tektii platform (API server, registry, backtest runner)",
             examples=["tektii platform up", "tektii platform status", "tektii platform serve --port 8080",
                       "tektii platform down"])
    register("up", parent="platform", help="Start the local platform in the background and store its API key",
             run=up, arguments=lambda p: p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: any free)"))
    register("down", parent="platform", help="Stop the local platform", run=down)
    register("status", parent="platform", help="Show whether the local platform runs, and where", run=status)
    register("serve", parent="platform", help="Run the platform in the foreground (containers, service managers)",
             run=serve, arguments=_serve_arguments)
    register("user", parent="platform", help="Manage the platform's users: create (ordinary, or --admin), list, revoke",
             run=user, arguments=_user_arguments,
             description="Works on the platform's data directory on this machine ($TEKTII_DATA_DIR or the XDG data "
                         "directory), whether or not the platform runs. Only admins import, generate or replace "
                         "market data; every user's scenarios read it.",
             examples=["tektii platform user create alice", "tektii platform user create ops --admin",
                       "tektii platform user list", "tektii platform user revoke user_abc123"])


def _serve_arguments(parser):
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument("--data-dir", help="data directory (default: $TEKTII_DATA_DIR or the XDG data dir)")


def _user_arguments(parser):
    from tektii_platform.user_admin import add_arguments

    add_arguments(parser.add_subparsers(dest="user_verb", metavar="<action>", title="actions", required=True))


def user(ctx, args):
    from tektii_platform.user_admin import run
    from tektii_plugins.local_platform import data_dir

    outcome = run(args.user_verb, data_dir(), args)
    if outcome.rows or args.user_verb == "list":
        return Output(payload={"data": outcome.data}, columns=list(outcome.columns), rows=[list(r) for r in outcome.rows])
    return Output(payload={"data": outcome.data}, text="\n".join(outcome.lines))


def _record(info, data_dir) -> Output:
    data = {"running": info is not None, "url": info.url if info else None, "pid": info.pid if info else None,
            "dataDir": str(data_dir)}
    return Output(payload={"data": data},
                  record=[("Running", data["running"]), ("URL", data["url"]), ("PID", data["pid"]),
                          ("Data Dir", data["dataDir"])])


def up(ctx, args):
    from tektii_plugins.local_platform import data_dir, ensure_running

    info = ensure_running(ctx, port=args.port)
    out = _record(info, data_dir())
    out.headline = f"✓ Local platform running at {info.url}"
    return out


def down(ctx, args):
    from tektii_platform import daemon
    from tektii_plugins.local_platform import data_dir

    stopped = daemon.stop(data_dir())
    return Output.message("✓ Local platform stopped" if stopped else "The local platform was not running",
                          {"data": {"stopped": stopped}})


def status(ctx, args):
    from tektii_platform import daemon
    from tektii_plugins.local_platform import data_dir

    info = daemon.status(data_dir())
    out = _record(info, data_dir())
    out.headline = None if info else "The local platform is not running (start it with `tektii platform up`)"
    return out


def serve(ctx, args):
    from tektii_platform import daemon, server

    data_dir = args.data_dir or os.environ.get("TEKTII_DATA_DIR") or daemon.data_dir_default()
    server.serve(data_dir, host=args.host, port=args.port)
    return 0
