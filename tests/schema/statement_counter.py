"""Count the SQL statements Tortoise sends, to prove a resolver has no N+1.

    with count_statements() as counter:
        await gql.execute(QUERY, token=...)
    assert counter.count == 4, counter.statements

Tortoise's database clients log every statement they send (ORM queries and raw
`execute_query*` calls, inside transactions too) on the `tortoise.db_client` logger at
DEBUG; the counter listens there. Statements sent on a raw asyncpg connection borrowed
from the pool (segmentation's count / preview / explain) are not seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

LOGGER = "tortoise.db_client"


class StatementCounter(logging.Handler):
    """A logging handler keeping the SQL text of every statement logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
        if record.msg == "%s: %s" and text:  # the clients' statement messages
            self.statements.append(text)

    @property
    def count(self) -> int:
        """How many statements were sent."""
        return len(self.statements)

    def matching(self, fragment: str) -> list[str]:
        """The statements containing `fragment` (e.g. a table name)."""
        return [s for s in self.statements if fragment in s]


@contextmanager
def count_statements() -> Iterator[StatementCounter]:
    """Count the statements sent inside the block (restores the logger afterwards)."""
    logger = logging.getLogger(LOGGER)
    counter = StatementCounter()
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
        logger.propagate = propagate
