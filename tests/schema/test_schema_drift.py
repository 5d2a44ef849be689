"""The checked-in schema.graphql is the SDL of the code's schema."""

from __future__ import annotations

import difflib
from pathlib import Path

from contactplan.cli import main as cli_main
from schema.export import REGENERATE, SCHEMA_FILE, main, schema_sdl


def test_checked_in_schema_matches_the_code() -> None:
    expected = schema_sdl()
    actual = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
    diff = "".join(
        list(
            difflib.unified_diff(
                actual.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                "schema.graphql (checked in)",
                "schema from the code",
            )
        )[:60]
    )
    assert actual == expected, f"schema.graphql is stale; regenerate with `{REGENERATE}`\n{diff}"


def test_export_writes_the_sdl(tmp_path: Path) -> None:
    target = tmp_path / "out.graphql"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == schema_sdl()
    assert "type Query" in schema_sdl() and "type Mutation" in schema_sdl()


def test_cli_schema_command(tmp_path: Path, capsys) -> None:
    target = tmp_path / "cli.graphql"
    assert cli_main(["schema", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == schema_sdl()
    assert cli_main(["schema"]) == 0
    assert capsys.readouterr().out.endswith(schema_sdl())
