"""The parser and validation caches really hit: the limits' validation rules are built
once per schema (a rule class made per request would miss the cache every time)."""

from __future__ import annotations

from dataclasses import replace

from strawberry.extensions.validation_cache import DEFAULT_MAXSIZE, _get_validate_cache

from contactplan.settings import Settings
from schema import build_schema


async def test_validation_is_cached_across_requests() -> None:
    schema = build_schema(replace(Settings(), max_query_depth=3))
    cache = _get_validate_cache(DEFAULT_MAXSIZE)
    query = "{ __typename zz_cache_probe: __typename }"
    await schema.execute(query)
    before = cache.cache_info().hits
    for _ in range(3):
        result = await schema.execute(query)
        assert result.errors is None
    assert cache.cache_info().hits == before + 3


async def test_cached_validation_still_applies_the_limits() -> None:
    schema = build_schema(replace(Settings(), max_query_depth=1, max_aliases=1))
    for _ in range(2):  # the second answer comes from the cache
        deep = await schema.execute("{ me { user { username } } }")
        aliased = await schema.execute("{ a: __typename b: __typename }")
        assert "exceeds maximum operation depth" in deep.errors[0].message
        assert "aliases" in aliased.errors[0].message.lower()
