"""The Python port of hashint8extended answers what PostgreSQL answers."""

from __future__ import annotations

import random

from segmentation.compile import sample_bucket_sql, seed_number
from segmentation.pg_hash import hashint8extended_low32
from segmentation.run import connection


async def test_python_hash_equals_postgresql(orm: None) -> None:
    rng = random.Random(7)
    edge_ids = [0, 1, -1, 2**31, -(2**31), 2**32 + 3, 2**63 - 1, -(2**63)]
    ids = edge_ids + [rng.randint(-(2**63), 2**63 - 1) for _ in range(200)]
    ids += list(range(1, 200))
    seeds = [0, 1, 2**32 - 1, seed_number("ctl"), seed_number("split"), -5, 2**62]
    pairs = [(i, s) for s in seeds for i in ids]
    sql = (
        "SELECT " + sample_bucket_sql("v.id", "v.seed")
        + " FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY v(id, seed, n) ORDER BY n"
    )  # fmt: skip
    async with connection() as conn:
        rows = await conn.fetch(sql, [i for i, _ in pairs], [s for _, s in pairs])
    got = [r[0] for r in rows]
    assert got == [hashint8extended_low32(i, s) for i, s in pairs]
    assert len(set(got)) > len(got) * 0.99  # a hash, not a constant


def test_buckets_are_even() -> None:
    seed = seed_number("ctl")
    counts = [0] * 10
    for contact_id in range(1, 20_001):
        counts[hashint8extended_low32(contact_id, seed) % 10] += 1
    assert min(counts) > 1_800 and max(counts) < 2_200, counts
