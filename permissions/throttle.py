"""Failed-login throttling per username, existing or not (so it reveals nothing)."""

from __future__ import annotations

from tortoise import connections

from models import LoginThrottle


def throttle_key(username: str) -> str:
    """The throttle row of a username (case-insensitive, bounded length)."""
    return "login:" + username.strip().lower()[:190]


async def is_locked(username: str) -> bool:
    """True while the username is locked after too many failures."""
    rows = await connections.get("default").execute_query_dict(
        "SELECT 1 FROM login_throttle WHERE key = $1 AND locked_until > now()",
        [throttle_key(username)],
    )
    return bool(rows)


async def record_failure(username: str, *, max_failures: int, lock_seconds: int) -> bool:
    """Count one failed login; lock the username when it reaches `max_failures`.

    Returns True if the username is now locked. After a lock expires, counting starts again.
    """
    # every SET expression reads the old row, so `restart` is evaluated on the old values
    restart = "(t.locked_until IS NOT NULL AND t.locked_until <= now())"
    failures = f"(CASE WHEN {restart} THEN 1 ELSE t.failures + 1 END)"
    rows = await connections.get("default").execute_query_dict(
        f"""
        INSERT INTO login_throttle AS t (key, failures, locked_until, updated_at)
        VALUES ($1, 1, CASE WHEN 1 >= $2 THEN now() + make_interval(secs => $3) END, now())
        ON CONFLICT (key) DO UPDATE SET
            failures = {failures},
            locked_until = CASE WHEN {failures} >= $2
                                THEN now() + make_interval(secs => $3) END,
            updated_at = now()
        RETURNING locked_until IS NOT NULL AS locked
        """,
        [throttle_key(username), max_failures, float(lock_seconds)],
    )
    return bool(rows and rows[0]["locked"])


async def clear_failures(username: str) -> None:
    """Forget failures after a successful login."""
    await LoginThrottle.filter(key=throttle_key(username)).delete()
