"""README's profile x permission table, rendered from BUILTIN_PROFILES.

`python -m permissions.table [README.md]` rewrites the section between the markers;
a test fails when README's table differs from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from permissions.names import BUILTIN_DESCRIPTIONS, BUILTIN_PROFILES, PERM_DESCRIPTIONS, Perm

BEGIN = "<!-- profiles:begin -->"
END = "<!-- profiles:end -->"

NOTES = """\
Profiles are named permission sets; ADMIN, POWERUSER, USER and GUEST are built in and
cannot be changed. Admins (`profile.manage`) create custom profiles from the same catalog.
Besides its profile, what a caller sees is limited by its database grants: a user or API
key sees only the contact databases it was granted (a profile with `database.manage` sees
all of them), and ids from other databases answer NOT_FOUND. Without `manage_others`, a
caller may change or delete only the segments, plans and saved rules it created; objects
say so in their `editable` field. Nobody can grant a profile or database it does not hold
itself. Every change is written to the audit log (`auditEntries`, needs `audit.read`).

People log in with the `login` mutation and send the token it returns as
`Authorization: Bearer <token>`; it expires after `TOKEN_TTL_SECONDS`, and `logout`, a
password change or deactivation ends every session of that user. `LOGIN_MAX_FAILURES`
failed logins lock a username (existing or not) for `LOGIN_LOCK_SECONDS`. Machines use API
keys (`createApiKey`, shown once, stored hashed), sent the same way: `Bearer cpk_...`.
Errors: UNAUTHENTICATED, FORBIDDEN and NOT_FOUND are top-level errors
(`extensions.code`); input mistakes come back in the mutation's `userErrors`.
"""


def profile_table_markdown() -> str:
    """A markdown table: one row per permission, one column per built-in profile."""
    profiles = list(BUILTIN_PROFILES)
    lines = [
        "| permission | what it allows | " + " | ".join(profiles) + " |",
        "| --- | --- | " + " | ".join(":-:" for _ in profiles) + " |",
    ]
    for perm in Perm:
        marks = " | ".join("✓" if perm in BUILTIN_PROFILES[p] else "—" for p in profiles)
        lines.append(f"| `{perm.value}` | {PERM_DESCRIPTIONS[perm]} | {marks} |")
    return "\n".join(lines) + "\n"


def profiles_markdown() -> str:
    """The built-in profiles with their descriptions."""
    return "".join(f"- **{name}**: {text}\n" for name, text in BUILTIN_DESCRIPTIONS.items())


def readme_section() -> str:
    """Everything between (and including) the README markers."""
    return f"{BEGIN}\n{NOTES}\n{profiles_markdown()}\n{profile_table_markdown()}{END}"


def section_in(text: str) -> str | None:
    """The marked section of a README text, or None if the markers are missing."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start : end + len(END)]


def update_readme(path: Path) -> bool:
    """Write the current section into README (appending it if absent). True if changed."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    current = section_in(text)
    if current is None:
        new = text.rstrip("\n") + ("\n\n" if text else "")
        new += f"## Profiles and permissions\n\n{readme_section()}\n"
    else:
        new = text.replace(current, readme_section())
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    print("updated" if update_readme(target) else "unchanged", target)
