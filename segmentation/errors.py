"""The one error type of segmentation: a user mistake at a path of the definition."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentError:
    """A mistake in a definition: where (`root.and[1].contact.conditions[0].value`), what, code."""

    path: str
    message: str
    code: str


class InvalidSegment(ValueError):
    """Raised when a definition has errors; carries every error found."""

    def __init__(self, errors: list[SegmentError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
