"""The permission catalog and the built-in profiles (after the original product).

README's profile x operation table is checked against BUILTIN_PROFILES by a test.
"""

from enum import StrEnum


class Perm(StrEnum):
    """Every permission a profile can hold."""

    SEGMENT_READ = "segment.read"
    SEGMENT_WRITE = "segment.write"  # create, edit, clone, delete own segments
    SEGMENT_COUNT = "segment.count"  # counts, previews, explain
    SEGMENT_SQL = "segment.sql"  # see the compiled SQL
    RULE_WRITE = "rule.write"  # saved rules: favourites and presets
    PLAN_READ = "plan.read"
    PLAN_WRITE = "plan.write"  # create, edit, delete own plans
    PLAN_RUN = "plan.run"  # start, stop, run now, test send
    PLAN_REOPEN_ARCHIVED = "plan.reopen_archived"  # reopen or delete archived plans
    REPORT_READ = "report.read"
    REPORT_DOWNLOAD = "report.download"
    DASHBOARD_READ = "dashboard.read"
    CONTACT_READ = "contact.read"
    CONTACT_WRITE = "contact.write"  # upsert contacts, ingest events
    CONTACT_DELETE = "contact.delete"
    CONTACT_DOWNLOAD = "contact.download"  # contact-list downloads
    PERSONAL_DATA_READ = "personal_data.read"
    CATALOG_READ = "catalog.read"
    CATALOG_MANAGE = "catalog.manage"  # field settings
    DND_READ = "dnd.read"
    DND_MANAGE = "dnd.manage"
    MANAGE_OTHERS = "manage_others"  # modify/delete what others created
    DATABASE_MANAGE = "database.manage"
    USER_MANAGE = "user.manage"
    PROFILE_MANAGE = "profile.manage"
    APIKEY_MANAGE = "apikey.manage"
    AUDIT_READ = "audit.read"


_READ = {
    Perm.SEGMENT_READ,
    Perm.SEGMENT_COUNT,
    Perm.PLAN_READ,
    Perm.REPORT_READ,
    Perm.DASHBOARD_READ,
    Perm.CONTACT_READ,
    Perm.CATALOG_READ,
    Perm.DND_READ,
}
_USER = _READ | {Perm.SEGMENT_WRITE, Perm.RULE_WRITE, Perm.PLAN_WRITE, Perm.PLAN_RUN}
_POWERUSER = _USER | {
    Perm.MANAGE_OTHERS,
    Perm.PERSONAL_DATA_READ,
    Perm.CONTACT_WRITE,
}

BUILTIN_PROFILES: dict[str, frozenset[Perm]] = {
    "ADMIN": frozenset(Perm),
    "POWERUSER": frozenset(_POWERUSER),
    "USER": frozenset(_USER),
    "GUEST": frozenset(_READ),
}

BUILTIN_DESCRIPTIONS: dict[str, str] = {
    "ADMIN": "Everything, including users, profiles, API keys, field settings and DND policies.",
    "POWERUSER": "Marketer who may also change others' work, see personal data and load contacts.",
    "USER": "Marketer: builds own segments and plans, reads everything else.",
    "GUEST": "Read-only.",
}

PERM_DESCRIPTIONS: dict[Perm, str] = {
    Perm.SEGMENT_READ: "See segments and their definitions",
    Perm.SEGMENT_WRITE: "Create, edit, clone and delete segments",
    Perm.SEGMENT_COUNT: "Count, preview and explain segments",
    Perm.SEGMENT_SQL: "See the compiled SQL of a segment",
    Perm.RULE_WRITE: "Save rules as favourites and presets",
    Perm.PLAN_READ: "See plans and their runs",
    Perm.PLAN_WRITE: "Create, edit and delete plans",
    Perm.PLAN_RUN: "Start, stop, run now and test-send plans",
    Perm.PLAN_REOPEN_ARCHIVED: "Reopen or delete archived plans",
    Perm.REPORT_READ: "See run reports",
    Perm.REPORT_DOWNLOAD: "Download run reports",
    Perm.DASHBOARD_READ: "See segment dashboards",
    Perm.CONTACT_READ: "See contacts",
    Perm.CONTACT_WRITE: "Upsert contacts and ingest events",
    Perm.CONTACT_DELETE: "Delete contacts",
    Perm.CONTACT_DOWNLOAD: "Download contact lists",
    Perm.PERSONAL_DATA_READ: "See personal data (PII fields)",
    Perm.CATALOG_READ: "See the field and event catalog",
    Perm.CATALOG_MANAGE: "Change field settings",
    Perm.DND_READ: "See DND (contact-pressure) policies",
    Perm.DND_MANAGE: "Create, edit and delete DND policies",
    Perm.MANAGE_OTHERS: "Modify and delete segments, plans and rules created by others",
    Perm.DATABASE_MANAGE: "Create contact databases; see every database",
    Perm.USER_MANAGE: "Create, edit and deactivate users; set passwords; grant databases",
    Perm.PROFILE_MANAGE: "Create, edit and delete custom profiles",
    Perm.APIKEY_MANAGE: "Create, list and revoke API keys",
    Perm.AUDIT_READ: "Read the audit log",
}
