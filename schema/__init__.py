"""Strawberry types, inputs, enums and the root Query/Mutation; no business logic."""
