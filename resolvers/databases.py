"""Contact databases the caller may see, and creating new ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models import ContactDatabase
from models.standard_catalog import create_contact_database
from permissions.audit import record_audit
from permissions.errors import InputError, InvalidInput, NotFound
from permissions.principal import Principal
from permissions.rules import can_see_database, database_q
from resolvers.context import RequestContext
from resolvers.outcome import transaction, with_outcome
from resolvers.paging import Page

M = TypeVar("M")

MAX_NAME = 200
NAME_TAKEN = InputError(("name",), "A database with this name exists.", "DUPLICATE")


async def list_databases(principal: Principal) -> list[ContactDatabase]:
    """The databases the principal may see, by name."""
    return list(await ContactDatabase.filter(database_q(principal, "id")).order_by("name"))


async def get_database(principal: Principal, database_id: int) -> ContactDatabase:
    """A database the principal may see; NOT_FOUND otherwise (even if it exists)."""
    database = (
        await ContactDatabase.get_or_none(id=database_id)
        if can_see_database(principal, database_id)
        else None
    )
    if database is None:
        raise NotFound("Database", database_id)
    return database


async def database_page(
    principal: Principal, database_id: int, fetch: Callable[[], Awaitable[Page[M]]]
) -> Page[M]:
    """A page of one database's list, NOT_FOUND like `get_database` when the database is
    absent or not visible. Rows of the database prove it exists: its own row is read only
    for an empty page (one statement less for every list that has rows)."""
    if not can_see_database(principal, database_id):
        raise NotFound("Database", database_id)
    page = await fetch()
    if not page.rows and not page.total:
        await get_database(principal, database_id)
    return page


def _timezone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: name too long
        return False
    return True


@with_outcome
async def create_database(
    ctx: RequestContext, principal: Principal, name: str, timezone: str, description: str
) -> ContactDatabase:
    """A new contact database with the standard catalog."""
    name = name.strip()
    errors = []
    if not name or len(name) > MAX_NAME:
        errors.append(InputError(("name",), f"Name must have 1-{MAX_NAME} characters.", "INVALID"))
    elif await ContactDatabase.filter(name=name).exists():
        errors.append(NAME_TAKEN)
    if not _timezone_ok(timezone):
        errors.append(
            InputError(("timezone",), f"Unknown time zone {timezone!r}.", "INVALID_TIMEZONE")
        )
    if errors:
        raise InvalidInput(errors)
    async with transaction(on_conflict=NAME_TAKEN):
        database = await create_contact_database(name, timezone=timezone, description=description)
        await record_audit(
            principal,
            "create",
            "database",
            database.id,
            database_id=database.id,
            after={"name": name, "timezone": timezone, "description": description},
            request_id=ctx.request_id,
        )
    return database
