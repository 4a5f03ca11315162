"""`tektii plugins`: what is loaded, from which distribution, implementing which hooks;
which built-ins installed plugins override; and which builders and runtimes can run on this
machine, and why not."""

from __future__ import annotations

from tektii_core import hookimpl
from tektii_core.output import Output


@hookimpl
def register_commands(register):
    register("plugins", help="List loaded plugins, their hooks, and which builders and runtimes are available here",
             run=list_plugins, examples=["tektii plugins", "tektii --output json plugins"])


def _availability(items) -> list[dict]:
    rows = []
    for item in items:
        try:
            found = item.availability()
            ok, reason = found.ok, found.describe()
        except Exception as exc:  # a broken plugin reports itself, it does not break the listing
            ok, reason = False, f"availability check failed: {exc}"
        rows.append({"name": item.name, "description": getattr(item, "description", ""), "available": ok, "reason": reason})
    return rows


def list_plugins(ctx, args):
    plugins = ctx.plugins.describe()
    builders = _availability(ctx.plugins.builders)
    runtimes = _availability(ctx.plugins.runtimes.values())
    overrides = [o.to_api() for o in ctx.plugins.overrides]
    payload = {"data": {"plugins": plugins, "builders": builders, "runtimes": runtimes,
                        "formatters": sorted(ctx.plugins.formatters), "templates": list(ctx.plugins.templates),
                        "overrides": overrides}}

    def yes_no(row):
        return "yes" if row["available"] else f"no: {row['reason']}"

    sections = [
        ("Plugins", Output(payload=None, columns=["Name", "Distribution", "Version", "Hooks"],
                           rows=[[p["name"], p["distribution"], p["version"], p["hooks"]] for p in plugins])),
        ("Builders (in order of preference)", Output(payload=None, columns=["Builder", "Available", "Description"],
                                                     rows=[[b["name"], yes_no(b), b["description"]] for b in builders])),
        ("Runtimes", Output(payload=None, columns=["Runtime", "Available", "Description"],
                            rows=[[r["name"], yes_no(r), r["description"]] for r in runtimes])),
    ]
    if overrides:
        sections.insert(1, ("Built-ins overridden by installed plugins", Output(
            payload=None, columns=["Kind", "Name", "Plugin", "Overrides"],
            rows=[[o["kind"], o["name"], o["plugin"], o["overrides"]] for o in overrides])))
    return Output(payload=payload, sections=sections)
