"""`tektii version upload | list | get | tree`."""

from __future__ import annotations

from tektii_core import hookimpl
from tektii_core.cli.args import add_page_arguments
from tektii_core.output import Output


@hookimpl
def register_commands(register):
    register("version", help="Upload strategy images as versions and inspect them",
             examples=["tektii version upload strat_abc123", "tektii version list strat_abc123",
                       "tektii version get strat_abc123 ver_xyz789", "tektii version tree strat_abc123"])
    register("upload", parent="version", help="Build, verify (linux/amd64) and push an image as a new version",
             run=upload, arguments=_upload_arguments,
             description="Validates the inputs, detects the Git SHA, creates the version, builds the image for "
                         "linux/amd64 with a builder plugin, verifies its platform and pushes it to the platform's registry.",
             examples=["tektii version upload strat_abc123",
                       "tektii version upload strat_abc123 --dockerfile ./docker/Dockerfile.prod --context ./src",
                       "tektii version upload strat_abc123 --git-sha abc1234def --parent ver_xyz789",
                       "tektii version upload strat_abc123 --template ma-crossover",
                       "tektii version upload strat_abc123 --builder podman"])
    register("list", parent="version", help="List the versions of a strategy", run=list_, arguments=_list_arguments,
             examples=["tektii version list strat_abc123"])
    register("get", parent="version", help="Show one version", run=get, arguments=_get_arguments,
             examples=["tektii version get strat_abc123 ver_xyz789"])
    register("tree", parent="version", help="Draw the --parent lineage of a strategy's versions as a tree",
             run=tree, arguments=_tree_arguments,
             description="With --metric, each version shows its best and its latest completed scenario for that "
                         "metric, and whether its best improved or regressed on its parent's.",
             examples=["tektii version tree strat_abc123", "tektii version tree strat_abc123 --metric sharpeRatio"])


def _upload_arguments(parser):
    parser.add_argument("strategy_id", metavar="STRATEGY_ID")
    parser.add_argument("--dockerfile", metavar="PATH", default="./Dockerfile",
                        help="path to your Dockerfile (default ./Dockerfile)")
    parser.add_argument("--context", metavar="PATH", default=".", help="Docker build context directory (default .)")
    parser.add_argument("--git-sha", metavar="SHA", help="Git commit SHA for this version (default: auto-detected)")
    parser.add_argument("--parent", metavar="VERSION_ID", help="parent version ID when branching from an existing version")
    parser.add_argument("--template", metavar="TEMPLATE",
                        help="create the version from a platform template (ma-crossover, rsi-momentum) and skip the build")
    parser.add_argument("--builder", metavar="NAME", help="image builder (docker, buildx, podman, buildah; see `tektii plugins`)")


def _list_arguments(parser):
    parser.add_argument("strategy_id", metavar="STRATEGY_ID")
    add_page_arguments(parser)


def _tree_arguments(parser):
    parser.add_argument("strategy_id", metavar="STRATEGY_ID")
    parser.add_argument("--metric", metavar="METRIC",
                        help="show each version's best and latest completed scenario for this metric, e.g. sharpeRatio")


def _get_arguments(parser):
    parser.add_argument("strategy_id", metavar="STRATEGY_ID")
    parser.add_argument("version_id", metavar="VERSION_ID")


def _size(value):
    if value is None:
        return None
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{value} B"
        value /= 1024


def version_record(v: dict) -> list[tuple[str, object]]:
    record = [("Version ID", v["id"]), ("Strategy ID", v["strategyId"]), ("State", v["state"])]
    if v.get("failureReason"):
        record.append(("Failure Reason", v["failureReason"]))
    record += [("Git SHA", v.get("gitSha")), ("Uncommitted Changes", v.get("gitDirty")), ("Parent", v.get("parentId")),
               ("Template", v.get("template")), ("Builder", v.get("builder")), ("Image", v.get("image")),
               ("Digest", v.get("digest")), ("Platform", f"{v['os']}/{v['architecture']}" if v.get("os") else None),
               ("Size", _size(v.get("size"))), ("Created At", v["createdAt"]), ("Updated At", v["updatedAt"])]
    return record


def upload(ctx, args):
    from tektii_core.upload import Upload, UploadRequest

    request = UploadRequest(strategy_id=args.strategy_id, dockerfile=args.dockerfile, context=args.context,
                            git_sha=args.git_sha, parent=args.parent, template=args.template, builder=args.builder)
    result = Upload(ctx, request).run()
    version, git = result["version"], result["git"]
    text = "\n".join([
        f"  Version ID: {version['id']}",
        f"  Git SHA: {git.short}",
        f"  Image: {version.get('image') or 'template ' + str(version.get('template'))}",
    ])
    return Output(payload={"data": version}, headline="\n✓ Version uploaded successfully!", text=text,
                  footer=["", "  Use this version ID when creating scenarios"])  # a hint: -q drops it


def list_(ctx, args):
    from tektii_core.client import api_path

    body = ctx.client.get(api_path("/v1/strategies/{}/versions", args.strategy_id),
                          params={"limit": args.limit, "cursor": args.cursor})
    page = body["data"]
    rows = [[v["id"], v.get("gitSha", ""), v.get("parentId"), v.get("template"), v["state"], _size(v.get("size")),
             v["createdAt"]] for v in page["versions"]]
    footer = [f"More: tektii version list {args.strategy_id} --cursor {page['nextCursor']}"] if page.get("nextCursor") else []
    return Output(payload=body, columns=["Version ID", "Git SHA", "Parent", "Template", "State", "Size", "Created At"],
                  rows=rows, footer=footer)


def get(ctx, args):
    from tektii_core.client import api_path

    body = ctx.client.get(api_path("/v1/strategies/{}/versions/{}", args.strategy_id, args.version_id))
    return Output(payload=body, record=version_record(body["data"]))


def tree(ctx, args):
    from tektii_core.client import api_path

    # The API lists newest first (ordered to the microsecond); the tree reads oldest first.
    versions = list(ctx.client.paginate(api_path("/v1/strategies/{}/versions", args.strategy_id), "versions", limit=100))[::-1]
    known = {v["id"] for v in versions}
    children: dict[str | None, list[dict]] = {}
    for v in versions:
        children.setdefault(v.get("parentId") if v.get("parentId") in known else None, []).append(v)
    scores = _scores(ctx, args.strategy_id, args.metric, versions) if args.metric else {}
    lines: list[str] = []
    tee, corner, pipe = ("├── ", "└── ", "│   ") if ctx.tty else ("|-- ", "`-- ", "|   ")

    def label(v: dict) -> str:
        what = v.get("template") and f"template {v['template']}" or (v.get("gitSha") or "")
        text = f"{v['id']}  {what}  {v['state']}  {v['createdAt']}"
        if args.metric:
            text += "  " + _score_text(args.metric, scores[v["id"]])
        return text

    def walk(parent_id: str, prefix: str) -> None:
        kids = children.get(parent_id, [])
        for i, v in enumerate(kids):
            last = i == len(kids) - 1
            lines.append(f"{prefix}{corner if last else tee}{label(v)}")
            walk(v["id"], prefix + ("    " if last else pipe))

    for root in children.get(None, []):
        lines.append(label(root))
        walk(root["id"], "")
    nodes = [{"id": v["id"], "parentId": v.get("parentId"), "gitSha": v.get("gitSha"), "state": v["state"],
              **({"metric": scores[v["id"]]} if args.metric else {})} for v in versions]
    data = {"strategyId": args.strategy_id, "versions": nodes, **({"metric": args.metric} if args.metric else {})}
    return Output(payload={"data": data}, text="\n".join(lines) if lines else "No versions yet.")


def _scores(ctx, strategy_id: str, metric: str, versions: list[dict]) -> dict[str, dict]:
    """Per version: its best and its latest completed scenario (the last to finish, by
    finishedAt) for `metric`, and the change of its best against its parent's best (positive:
    improved, in the metric's direction)."""
    from tektii_core.client import api_path
    from tektii_core.errors import TektiiError
    from tektii_core.sweep_spec import OBJECTIVES, default_direction

    if metric not in OBJECTIVES:
        raise TektiiError(f"--metric {metric}: not a metric; use one of {', '.join(OBJECTIVES)}")
    sign = 1.0 if default_direction(metric) == "maximize" else -1.0
    by_version: dict[str, list[dict]] = {}
    for s in ctx.client.paginate(api_path("/v1/strategies/{}/scenarios", strategy_id), "scenarios", limit=100,
                                 params={"state": "COMPLETE"}):
        if isinstance(s.get(metric), (int, float)):
            by_version.setdefault(s["strategyVersionId"], []).append(s)  # newest first
    scores: dict[str, dict] = {}
    for v in versions:  # oldest first: a parent is scored before its children
        found = by_version.get(v["id"], [])
        best = max(found, key=lambda s: sign * s[metric]) if found else None
        # latest completed: the one that finished last (the list is newest created first; ties keep it)
        latest = max(found, key=lambda s: s.get("finishedAt") or "", default=None)
        parent = scores.get(v.get("parentId") or "")
        change = None
        if best is not None and parent and parent["best"] is not None:
            change = best[metric] - parent["best"]["value"]
        scores[v["id"]] = {
            "best": {"scenarioId": best["scenarioId"], "value": best[metric]} if best else None,
            "latest": {"scenarioId": latest["scenarioId"], "value": latest[metric]} if latest else None,
            "completedScenarios": len(found),
            "changeFromParent": change,
            "improved": None if change is None or change == 0 else (sign * change > 0),
        }
    return scores


def _score_text(metric: str, score: dict) -> str:
    if score["best"] is None:
        return f"{metric}: no completed scenario"
    text = (f"{metric} best {score['best']['value']:.2f} ({score['best']['scenarioId']})"
            f" latest {score['latest']['value']:.2f} ({score['latest']['scenarioId']})")
    if score["improved"] is not None:
        word = "improved" if score["improved"] else "regressed"
        text += f"  {word} {score['changeFromParent']:+.2f} on parent"
    return text
