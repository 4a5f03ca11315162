"""`tektii platform up | down | status | serve | user | key`: the local platform (API, storage,
registry, runs), its users and their API keys. serve, user and key run tektii_platform.admin
(also behind `python -m tektii_platform`)."""

from __future__ import annotations

from tektii_core import hookimpl
from tektii_core.output import Output


@hookimpl
def register_commands(register):
    register("platform", help="Run the local tektii platform (API server, registry, backtest runner)",
             examples=["tektii platform up", "tektii platform status", "tektii platform serve --port 8080",
                       "tektii platform down"])
    register("up", parent="platform", help="Start the local platform in the background and store its API key",
             run=up, arguments=_up_arguments)
    register("down", parent="platform", help="Stop the local platform", run=down)
    register("status", parent="platform", help="Show whether the local platform runs, and where", run=status)
    register("serve", parent="platform", help="Run the platform in the foreground (containers, service managers)",
             run=serve, arguments=_serve_arguments,
             description="Logs one line per request to stderr; SIGTERM or SIGINT finishes the requests in flight "
                         "and exits 0.")
    on_this_machine = ("Works on the platform's data directory on this machine (--data-dir, else $TEKTII_DATA_DIR or "
                       "the XDG data directory), whether or not the platform runs.")
    register("user", parent="platform", help="Manage the platform's users: create (ordinary, or --admin), list, revoke",
             run=user, arguments=_user_arguments,
             description=on_this_machine + " Only admins import, generate or replace market data; every user's "
                                           "scenarios read it.",
             examples=["tektii platform user create alice", "tektii platform user create ops --admin",
                       "tektii platform user list", "tektii platform user revoke user_abc123"])
    register("key", parent="platform", help="Manage API keys: create another for a user, revoke one",
             run=key, arguments=_key_arguments, description=on_this_machine,
             examples=["tektii platform key create user_abc123", "tektii platform key revoke key_def456"])


def _up_arguments(parser):
    from tektii_core.cli.platform_admin import add_database_url_argument

    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: any free)")
    add_database_url_argument(parser)


def _serve_arguments(parser):
    from tektii_core.cli.platform_admin import add_data_dir_argument, add_serve_arguments

    add_serve_arguments(parser)
    add_data_dir_argument(parser)


def _user_arguments(parser):
    from tektii_core.cli.platform_admin import add_user_arguments, data_dir_parent

    add_user_arguments(parser.add_subparsers(dest="admin_verb", metavar="<action>", title="actions", required=True),
                       [data_dir_parent()])


def _key_arguments(parser):
    from tektii_core.cli.platform_admin import add_key_arguments, data_dir_parent

    add_key_arguments(parser.add_subparsers(dest="admin_verb", metavar="<action>", title="actions", required=True),
                      [data_dir_parent()])


def _admin(noun: str, args) -> Output:
    from tektii_platform.admin import run

    outcome = run(noun, args.admin_verb, args)
    if outcome.columns:
        return Output(payload={"data": outcome.data}, columns=list(outcome.columns), rows=[list(r) for r in outcome.rows])
    return Output(payload={"data": outcome.data}, text="\n".join(outcome.lines))


def user(ctx, args):
    return _admin("user", args)


def key(ctx, args):
    return _admin("key", args)


def _record(info, data_dir) -> Output:
    data = {"running": info is not None, "url": info.url if info else None, "pid": info.pid if info else None,
            "dataDir": str(data_dir), "database": info.database if info else None,  # the URL without its password
            "backend": info.backend if info else None}
    return Output(payload={"data": data},
                  record=[("Running", data["running"]), ("URL", data["url"]), ("PID", data["pid"]),
                          ("Data Dir", data["dataDir"]), ("Database", data["database"]), ("Backend", data["backend"])])


def up(ctx, args):
    from tektii_core.cli.platform_admin import apply_database_url
    from tektii_plugins.local_platform import data_dir, ensure_running

    apply_database_url(args)
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
    if info is not None:
        _add_execution(ctx, info, out)
    return out


def _add_execution(ctx, info, out: Output) -> None:
    """Where runs execute, as the platform tells an admin (GET /v1/platform/execution): for a
    cluster backend, its nodes with their free CPU and `docker` slots."""
    from tektii_core.client import APIClient
    from tektii_core.errors import TektiiError

    configured = ctx.config.get("api_url")
    if configured and configured.rstrip("/") != info.url.rstrip("/"):
        return  # the key is another platform's: it is not sent here
    found = ctx.authenticate()
    if found is None:
        return
    try:
        execution = APIClient(info.url, found.auth, verbose=ctx.verbose).get("/v1/platform/execution")["data"]
    except TektiiError as exc:  # not an admin's key, a cluster that does not answer: the rest stands
        out.footer = (f"Execution details unavailable: {exc.message}",)
        return
    out.payload["data"]["execution"] = execution
    limit = execution.get("maxConcurrentRuns")
    out.record = [*out.record, ("Concurrency", f"{limit} runs" if limit else "the cluster's capacity")]
    cluster = execution.get("cluster")
    if cluster is not None:
        out.record = [*out.record, ("Cluster", cluster.get("address"))]
        rows = [[n["nodeId"][:12], n["address"], n["alive"], _slots(n["cpu"]), _slots(n["docker"]),
                 f"{n['memoryMb']['free']:,} / {n['memoryMb']['total']:,} MiB"] for n in cluster["nodes"]]
        out.sections = [("Nodes", Output(payload=None, columns=["Node", "Address", "Alive", "CPU Free", "Docker Free",
                                                                 "Memory Free"], rows=rows))]


def _slots(amount: dict) -> str:
    return f"{amount['free']:g} / {amount['total']:g}"


def serve(ctx, args):
    from tektii_platform.admin import serve

    serve(args)
    return 0
