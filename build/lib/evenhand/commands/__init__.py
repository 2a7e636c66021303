"""More `evenhand` commands, one module each. Every module here is imported by
:mod:`evenhand.cli` and registers its commands on ``evenhand.cli.app``:

    from evenhand.cli import app

    @app.command()
    def report(...) -> None:
        \"\"\"What it does.

        Example:  evenhand report national --out out/report
        \"\"\"
"""
