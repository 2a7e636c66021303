"""Generate docs/cli.md, the command reference, from the CLI itself.

    python -m evenhand.cli_docs > docs/cli.md

A test fails when the committed file is stale.
"""

from __future__ import annotations

from typing import Any

import typer.main

from evenhand.cli import app


def cli_reference() -> str:
    group: Any = typer.main.get_command(app)  # a (vendored) click group
    context = group.context_class
    parts = [
        "# Command reference",
        "",
        "Generated from the code by `python -m evenhand.cli_docs`; do not edit by hand.",
        "",
    ]
    root = context(group, info_name="evenhand", terminal_width=100, max_content_width=100)
    parts += ["```", group.get_help(root).rstrip(), "```", ""]
    for name in sorted(group.list_commands(root)):
        cmd = group.get_command(root, name)
        if cmd is None or cmd.hidden:
            continue
        ctx = context(cmd, info_name=name, parent=root, terminal_width=100, max_content_width=100)
        parts += [f"## evenhand {name}", "", "```", cmd.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":  # pragma: no cover
    print(cli_reference(), end="")
