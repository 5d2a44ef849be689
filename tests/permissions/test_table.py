"""README's profile table is generated from the code and must match it."""

from __future__ import annotations

from pathlib import Path

from permissions.names import BUILTIN_PROFILES, PERM_DESCRIPTIONS, Perm
from permissions.table import profile_table_markdown, readme_section, section_in, update_readme

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_profile_section_matches_the_code() -> None:
    section = section_in(README.read_text(encoding="utf-8"))
    assert section is not None, "README.md lacks the <!-- profiles:begin/end --> markers"
    assert section == readme_section(), "run: python -m permissions.table README.md"


def test_table_has_a_row_per_permission_and_a_column_per_profile() -> None:
    lines = profile_table_markdown().splitlines()
    assert lines[0].split("|")[3:-1] == [f" {p} " for p in BUILTIN_PROFILES]
    rows = {line.split("|")[1].strip(" `"): line for line in lines[2:]}
    assert set(rows) == {p.value for p in Perm}
    for perm in Perm:
        marks = [c.strip() for c in rows[perm.value].split("|")[3:-1]]
        assert marks == ["✓" if perm in BUILTIN_PROFILES[p] else "—" for p in BUILTIN_PROFILES]
    assert set(PERM_DESCRIPTIONS) == set(Perm)


def test_update_readme_replaces_only_the_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\n<!-- profiles:begin -->\nold\n<!-- profiles:end -->\n\n## After\n",
        encoding="utf-8",
    )
    assert update_readme(readme)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# x\n\n<!-- profiles:begin -->\nProfiles are")
    assert text.endswith("<!-- profiles:end -->\n\n## After\n")
    assert not update_readme(readme)


def test_update_readme_appends_a_section_when_missing(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n", encoding="utf-8")
    update_readme(readme)
    assert readme.read_text(encoding="utf-8") == (
        f"# x\n\n## Profiles and permissions\n\n{readme_section()}\n"
    )
