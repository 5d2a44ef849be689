"""Condition tree -> validated tree -> one parameterized PostgreSQL statement."""
