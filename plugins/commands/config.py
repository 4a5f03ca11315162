"""`tektii config set | get | unset | list`: defaults per profile (API URL, output format, builder...)."""

from __future__ import annotations

import difflib

from tektii_core import hookimpl
from tektii_core.config import SETTINGS
from tektii_core.errors import TektiiError
from tektii_core.output import Output


@hookimpl
def register_commands(register):
    register("config", help="Set and show defaults (api_url, output, builder, credential_helper) per profile",
             examples=["tektii config set output json", "tektii --profile work config set api_url https://tektii.example.com",
                       "tektii config list"])
    register("set", parent="config", help="Set a default", run=set_,
             arguments=lambda p: (p.add_argument("key", metavar="KEY"), p.add_argument("value", metavar="VALUE")))
    register("get", parent="config", help="Show one setting and where its value comes from", run=get,
             arguments=lambda p: p.add_argument("key", metavar="KEY"))
    register("unset", parent="config", help="Remove a default", run=unset,
             arguments=lambda p: p.add_argument("key", metavar="KEY"))
    register("list", parent="config", help="Show every setting with its value and source", run=list_)


def _check_key(key: str) -> None:
    if key not in SETTINGS:
        close = difflib.get_close_matches(key, list(SETTINGS), n=1)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        raise TektiiError(f"Unknown setting {key!r}", hint=f"{hint}Known settings: {', '.join(SETTINGS)}")


def _check_value(ctx, key: str, value: str) -> None:
    if key == "api_url" and not value.startswith(("http://", "https://")):
        raise TektiiError(f"api_url must start with http:// or https://, got {value!r}")
    if key == "output" and value not in ctx.plugins.formatters:
        raise TektiiError(f"Unknown output format {value!r}", hint=f"Available: {', '.join(sorted(ctx.plugins.formatters))}")
    if key == "builder" and value not in {b.name for b in ctx.plugins.builders}:
        raise TektiiError(f"Unknown builder {value!r}",
                          hint=f"Available: {', '.join(b.name for b in ctx.plugins.builders) or 'none installed'}")


def set_(ctx, args):
    _check_key(args.key)
    _check_value(ctx, args.key, args.value)
    ctx.config.settings_file.set(ctx.config.profile, args.key, args.value)
    return Output.message(f"✓ Set {args.key} = {args.value} (profile {ctx.config.profile!r})",
                          {"data": {"profile": ctx.config.profile, "key": args.key, "value": args.value}})


def get(ctx, args):
    _check_key(args.key)
    value, source = ctx.config.lookup(args.key)
    data = {"profile": ctx.config.profile, "key": args.key, "value": value, "source": source}
    return Output(payload={"data": data}, record=[("Key", args.key), ("Value", value), ("Source", source)])


def unset(ctx, args):
    _check_key(args.key)
    removed = ctx.config.settings_file.unset(ctx.config.profile, args.key)
    return Output.message(f"✓ Removed {args.key} (profile {ctx.config.profile!r})" if removed else f"{args.key} was not set",
                          {"data": {"profile": ctx.config.profile, "key": args.key, "removed": removed}})


def list_(ctx, args):
    items = []
    for key, (env, description) in SETTINGS.items():
        value, source = ctx.config.lookup(key)
        items.append({"key": key, "value": value, "source": source, "environment": env, "description": description})
    return Output(payload={"data": {"profile": ctx.config.profile, "settings": items}},
                  columns=["Key", "Value", "Source", "Description"],
                  rows=[[i["key"], i["value"], i["source"], i["description"]] for i in items])
