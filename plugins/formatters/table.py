"""The default formatter: box-drawn tables on a terminal, plain aligned columns when piped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from tektii_core import hookimpl
from tektii_core.output import Output, cell

GREEN, RESET = "\033[32m", "\033[0m"


@hookimpl
def register_formatters(register):
    register("table", render, description="Human-readable tables (boxes and colour on a terminal)")


def render(output: Output, stream: TextIO, tty: bool) -> None:
    if output.headline:
        headline = output.headline
        if tty and headline.startswith("✓"):
            headline = f"{GREEN}✓{RESET}{headline[1:]}"
        stream.write(headline + "\n\n")
    if output.record is not None:
        rows = [(label, cell(value)) for label, value in output.record]
        stream.write(draw(["Field", "Value"], rows, boxed=tty))
    elif output.columns is not None:
        rows = [[cell(v) for v in row] for row in output.rows or ()]
        if rows:
            stream.write(draw(list(output.columns), rows, boxed=tty))
        else:
            stream.write("No items.\n")
    if output.text is not None:
        stream.write(output.text if output.text.endswith("\n") else output.text + "\n")
    for i, (title, section) in enumerate(output.sections):
        stream.write(("\n" if i else "") + title + ":\n")
        render(section, stream, tty)
    for line in output.footer:
        stream.write(line + "\n")


def draw(header: list[str], rows: Sequence[Sequence[str]], *, boxed: bool) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(values: Sequence[str], sep: str) -> str:
        return sep.join(f" {v.ljust(w)} " for v, w in zip(values, widths))

    if not boxed:
        return "".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n" for r in [header, *rows])

    def rule(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right

    out = [rule("┌", "┬", "┐"), f"│{line(header, '│')}│", rule("├", "┼", "┤")]
    out += [f"│{line(r, '│')}│" for r in rows]
    out.append(rule("└", "┴", "┘"))
    return "\n".join(out) + "\n"
