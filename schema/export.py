"""The schema as SDL: `python -m schema.export [PATH]` writes `schema.graphql` (checked in).

tests/schema/test_schema_drift.py fails when the checked-in file differs from the code.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from contactplan.settings import Settings
from schema.root import build_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"
REGENERATE = "python -m schema.export"


def schema_sdl() -> str:
    """The SDL of build_schema with default settings and introspection on."""
    return build_schema(replace(Settings(), introspection=True)).as_str().rstrip("\n") + "\n"


def write_schema(path: Path = SCHEMA_FILE) -> Path:
    """Write the SDL to `path` (default: schema.graphql at the project root)."""
    path.write_text(schema_sdl(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Entry point: optional output path as the only argument."""
    args = sys.argv[1:] if argv is None else argv
    path = write_schema(Path(args[0]) if args else SCHEMA_FILE)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
