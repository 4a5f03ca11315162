"""`tektii strategy create | list | get`."""

from __future__ import annotations

from tektii_core import hookimpl
from tektii_core.cli.args import add_page_arguments
from tektii_core.output import Output


@hookimpl
def register_commands(register):
    register("strategy", help="Create and inspect strategies (named containers for your trading logic)",
             examples=['tektii strategy create --name "my-strategy"', "tektii strategy list", "tektii strategy get strat_abc123"])
    register("create", parent="strategy", help="Create a strategy", run=create,
             arguments=lambda p: p.add_argument("--name", required=True, help="strategy name (unique among yours)"),
             examples=['tektii strategy create --name "momentum-v1"'])
    register("list", parent="strategy", help="List your strategies", run=list_, arguments=add_page_arguments,
             examples=["tektii strategy list --limit 50", "tektii --output json strategy list | jq '.data.strategies[0].id'"])
    register("init", parent="strategy", help="Write a ready-to-upload strategy project from a template", run=init,
             arguments=_init_arguments,
             description="Writes the strategy (on the tektii SDK), a linux/amd64 Dockerfile, requirements, a small test and "
                         "a README with the next commands. Existing files are never overwritten without --force.",
             examples=["tektii strategy init", "tektii strategy init rsi-momentum ./my-rsi",
                       "tektii strategy init ma-crossover . --force"])
    register("get", parent="strategy", help="Show one strategy", run=get,
             arguments=lambda p: p.add_argument("strategy_id", metavar="STRATEGY_ID"),
             examples=["tektii strategy get strat_abc123"])


def _init_arguments(parser):
    parser.add_argument("template", nargs="?", default="ma-crossover", metavar="TEMPLATE",
                        help="ma-crossover (default) or rsi-momentum")
    parser.add_argument("directory", nargs="?", default=".", metavar="DIR", help="where to write the project (default .)")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")


def strategy_record(data: dict) -> list[tuple[str, object]]:
    from tektii_core.models import Strategy, structure

    s = structure(data, Strategy)
    return [("Strategy ID", s.id), ("Name", s.name), ("Owner ID", s.owner_id), ("Created By", s.created_by),
            ("Created At", s.created_at), ("Updated At", s.updated_at)]


def create(ctx, args):
    body = ctx.client.post("/v1/strategies", json={"name": args.name})
    return Output(payload=body, headline="✓ Strategy created successfully!", record=strategy_record(body["data"]))


def get(ctx, args):
    from tektii_core.client import api_path

    body = ctx.client.get(api_path("/v1/strategies/{}", args.strategy_id))
    return Output(payload=body, record=strategy_record(body["data"]))


def list_(ctx, args):
    body = ctx.client.get("/v1/strategies", params={"limit": args.limit, "cursor": args.cursor})
    page = body["data"]
    rows = [[s["id"], s["name"], s["createdAt"], s["updatedAt"]] for s in page["strategies"]]
    footer = [f"More: tektii strategy list --cursor {page['nextCursor']}"] if page.get("nextCursor") else []
    return Output(payload=body, columns=["Strategy ID", "Name", "Created At", "Updated At"], rows=rows, footer=footer)


def init(ctx, args):
    from pathlib import Path

    from tektii_core.errors import TektiiError
    from tektii_engine.templates import write_project

    templates = ctx.plugins.templates
    if args.template not in templates:
        raise TektiiError(f"Unknown template {args.template!r}", hint=f"Available: {', '.join(templates)}")
    written = write_project(args.template, Path(args.directory), force=args.force)
    files = [str(p) for p in written]
    return Output(payload={"data": {"template": args.template, "directory": args.directory, "files": files}},
                  headline=f"✓ Wrote a {args.template} strategy project to {args.directory}",
                  columns=["File"], rows=[[f] for f in files],
                  footer=["", "Next:", '  tektii strategy create --name "my-strategy"',
                          f"  cd {args.directory} && tektii version upload strat_...",
                          "  tektii backtest run . --config CONFIG.json   (run it locally first; docs/scenario-config.md)"])
