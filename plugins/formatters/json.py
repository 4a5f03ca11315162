"""`--output json`: the API's own `{"data": ...}` object, unchanged, for jq and scripts."""

from __future__ import annotations

import json
from typing import TextIO

from tektii_core import hookimpl
from tektii_core.output import Output


@hookimpl
def register_formatters(register):
    register("json", render, description="The API's JSON object, as returned by the platform")


def render(output: Output, stream: TextIO, tty: bool) -> None:
    json.dump(output.payload, stream, indent=2 if tty else None, ensure_ascii=False)
    stream.write("\n")
