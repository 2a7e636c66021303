"""Docs generated from the code must match the code."""

from __future__ import annotations

from pathlib import Path

from evenhand.metadata.docs import data_dictionary

ROOT = Path(__file__).resolve().parents[2]


def test_data_dictionary_is_current() -> None:
    committed = (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert committed == data_dictionary(), "docs/data-dictionary.md is stale: run python -m evenhand.metadata.docs > docs/data-dictionary.md"


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.index("scripts/setup")
    test = readme.index("scripts/test")
    assert setup < test < readme.index("## ")  # both before the first section
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/setup" in ci and "scripts/test" in ci


def test_cli_reference_is_current() -> None:
    from evenhand.cli_docs import cli_reference

    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == cli_reference(), "docs/cli.md is stale: run python -m evenhand.cli_docs > docs/cli.md"


def test_every_command_has_an_example() -> None:
    import typer.main

    from evenhand.cli import app

    group = typer.main.get_command(app)
    ctx = group.context_class(group)
    names = group.list_commands(ctx)
    assert {"build", "info", "history", "audit"} <= set(names)
    for name in names:
        cmd = group.get_command(ctx, name)
        assert cmd is not None and "Example:" in (cmd.help or ""), f"evenhand {name} --help has no example"
