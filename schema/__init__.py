"""Strawberry types, inputs, enums and the root Query/Mutation; no business logic."""

from schema.root import build_schema

__all__ = ["build_schema"]
