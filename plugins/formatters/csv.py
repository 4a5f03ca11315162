"""`--output csv`: lists and records as CSV with a header row, for spreadsheets."""

from __future__ import annotations

import csv
from typing import TextIO

from tektii_core import hookimpl
from tektii_core.output import Output


@hookimpl
def register_formatters(register):
    register("csv", render, description="Comma-separated values with a header row")


def render(output: Output, stream: TextIO, tty: bool) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    if output.record is not None:
        writer.writerow(["field", "value"])
        writer.writerows((label, "" if v is None else v) for label, v in output.record)
    elif output.columns is not None:
        writer.writerow(output.columns)
        writer.writerows(["" if v is None else v for v in row] for row in output.rows or ())
    elif output.text is not None:
        stream.write(output.text if output.text.endswith("\n") else output.text + "\n")
