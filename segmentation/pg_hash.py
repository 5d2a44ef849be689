"""PostgreSQL's `hashint8extended(bigint, seed)` in Python (its low 32 bits).

A random sample buckets contacts by this hash: in SQL it is one call of a built-in C
function (the two-round multiply-xorshift written out in SQL cost ~0.5 µs a row, five times
as much), and the reference evaluator needs the same number in Python. The code follows
PostgreSQL's `hashint8extended` (utils/adt/hashfunc.c) and `hash_uint32_extended`
(common/hashfn.c, Bob Jenkins' lookup3); PostgreSQL keeps these stable because hash
partitions are stored by them.
"""

from __future__ import annotations

_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _U32


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = ((a - c) & _U32) ^ _rot(c, 4)
    c = (c + b) & _U32
    b = ((b - a) & _U32) ^ _rot(a, 6)
    a = (a + c) & _U32
    c = ((c - b) & _U32) ^ _rot(b, 8)
    b = (b + a) & _U32
    a = ((a - c) & _U32) ^ _rot(c, 16)
    c = (c + b) & _U32
    b = ((b - a) & _U32) ^ _rot(a, 19)
    a = (a + c) & _U32
    c = ((c - b) & _U32) ^ _rot(b, 4)
    b = (b + a) & _U32
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c = ((c ^ b) - _rot(b, 14)) & _U32
    a = ((a ^ c) - _rot(c, 11)) & _U32
    b = ((b ^ a) - _rot(a, 25)) & _U32
    c = ((c ^ b) - _rot(b, 16)) & _U32
    a = ((a ^ c) - _rot(c, 4)) & _U32
    b = ((b ^ a) - _rot(a, 14)) & _U32
    return ((c ^ b) - _rot(b, 24)) & _U32


def hashint8extended_low32(value: int, seed: int) -> int:
    """`hashint8extended(value, seed) & 4294967295` as PostgreSQL computes it."""
    low, high = value & _U32, (value >> 32) & _U32
    k = low ^ (high if value >= 0 else ~high & _U32)
    a = b = c = (0x9E3779B9 + 4 + 3923095) & _U32
    seed &= _U64
    if seed:
        a = (a + (seed >> 32)) & _U32
        b = (b + (seed & _U32)) & _U32
        a, b, c = _mix(a, b, c)
    return _final((a + k) & _U32, b, c)
