"""Keyset paging: every row exactly once across pages, in order, with stable cursors."""

from __future__ import annotations

import pytest

from models import User
from permissions.errors import BadArgument
from resolvers.paging import SortKey, decode_cursor, encode_cursor, keyset_page


async def _walk(sort: list[SortKey], size: int) -> list[int]:
    seen: list[int] = []
    after = None
    while True:
        page = await keyset_page(
            User.all().select_related("profile"), sort, first=size, after=after
        )
        assert page.total == await User.all().count()
        assert page.has_previous == (after is not None)
        seen += [u.id for u in page.rows]
        if not page.has_next:
            return seen
        after = page.cursors[-1]


async def test_pages_cover_every_row_once_in_order(accounts) -> None:
    for i in range(7):
        await accounts.make_user(f"bulk{i}", "USER" if i % 2 else "GUEST")
    users = await User.all().select_related("profile")
    for sort in (
        [SortKey("username")],
        [SortKey("created_at", descending=True)],
        [SortKey("profile__name"), SortKey("username", descending=True)],
    ):
        expected = sorted(users, key=lambda u: u.id)
        for key in reversed(sort):
            expected.sort(key=lambda u, k=key: _path(u, k.field), reverse=key.descending)
        for size in (1, 3, 100):
            assert await _walk(sort, size) == [u.id for u in expected], (sort, size)


def _path(row: object, path: str) -> object:
    for part in path.split("__"):
        row = getattr(row, part)
    return row


def test_cursor_round_trip_and_garbage() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    values = ["a", 3, datetime(2026, 1, 2, tzinfo=UTC), Decimal("1.5"), None]
    assert decode_cursor(encode_cursor(values), 5) == values
    for garbage in ("", "nope", encode_cursor([1, 2])):
        with pytest.raises(BadArgument):
            decode_cursor(garbage, 5)


async def test_page_size_bounds(accounts) -> None:
    for bad in (0, 501):
        with pytest.raises(BadArgument):
            await keyset_page(User.all(), [], first=bad, after=None)
