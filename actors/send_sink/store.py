"""What the development send-sink received: deliveries, recipient batches, feedback.

Kept in memory and, with a data folder, in an append-only JSONL journal replayed on start,
so a restarted sink still knows every delivery and idempotency key. Every change is written
to the journal first, then applied (no await in between: one event loop, no races).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

JOURNAL_NAME = "send-sink.jsonl"
FEEDBACK_KINDS = ("delivered", "bounced", "opened", "clicked")


class Conflict(Exception):
    """An idempotency key reused with a different body."""


def body_hash(value: Any) -> str:
    """A stable hash of a JSON value (key order does not matter)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Delivery:
    """One delivery and everything received for it."""

    id: str
    channel: str
    message: dict[str, Any]
    reference: str | None
    created_at: str
    status: str = "draft"  # draft | started
    started_at: str | None = None
    recipients: list[dict[str, Any]] = field(default_factory=list)
    batches: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (hash, accepted)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    feedback_ids: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        counts = Counter(item["type"] for item in self.feedback)
        return {
            "id": self.id,
            "channel": self.channel,
            "status": self.status,
            "reference": self.reference,
            "message": self.message,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "counts": {
                "recipients": len(self.recipients),
                "batches": len(self.batches),
                **{kind: counts.get(kind, 0) for kind in FEEDBACK_KINDS},
            },
        }


class SinkStore:
    """Deliveries by id, with idempotent creation and recipient batches."""

    def __init__(self, data_dir: Path | None) -> None:
        self.journal = data_dir / JOURNAL_NAME if data_dir is not None else None
        self.deliveries: dict[str, Delivery] = {}
        self.creations: dict[str, tuple[str, str]] = {}  # idempotency key -> (hash, delivery id)
        if self.journal is not None:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            self._replay()

    # --- operations (validated input) ---------------------------------------------------------

    def create(
        self, channel: str, message: dict[str, Any], reference: str | None, key: str | None
    ) -> tuple[Delivery, bool]:
        """Create a delivery; with a key seen before, return that delivery (duplicate=True)."""
        digest = body_hash({"channel": channel, "message": message, "reference": reference})
        if key is not None and key in self.creations:
            seen_hash, delivery_id = self.creations[key]
            if seen_hash != digest:
                raise Conflict(key)
            return self.deliveries[delivery_id], True
        record = {
            "op": "create",
            "id": "dlv_" + secrets.token_hex(8),
            "channel": channel,
            "message": message,
            "reference": reference,
            "created_at": now_iso(),
            "key": key,
            "hash": digest,
        }
        self._write(record)
        return self._apply_create(record), False

    def add_recipients(
        self, delivery: Delivery, key: str, recipients: list[dict[str, Any]]
    ) -> tuple[int, bool]:
        """Store a batch once per key: (accepted, duplicate). Raise Conflict on a changed body."""
        digest = body_hash(recipients)
        if key in delivery.batches:
            seen_hash, accepted = delivery.batches[key]
            if seen_hash != digest:
                raise Conflict(key)
            return accepted, True
        record = {
            "op": "recipients",
            "delivery_id": delivery.id,
            "key": key,
            "hash": digest,
            "recipients": recipients,
            "at": now_iso(),
        }
        self._write(record)
        self._apply_recipients(record)
        return len(recipients), False

    def start(self, delivery: Delivery) -> bool:
        """Start the delivery; False when it was started already."""
        if delivery.status == "started":
            return False
        record = {"op": "start", "delivery_id": delivery.id, "at": now_iso()}
        self._write(record)
        self._apply_start(record)
        return True

    def add_feedback(self, delivery: Delivery, items: list[dict[str, Any]]) -> int:
        """Keep feedback events not seen before (by id); return how many were new."""
        new = [item for item in items if item["id"] not in delivery.feedback_ids]
        if new:
            record = {"op": "feedback", "delivery_id": delivery.id, "items": new}
            self._write(record)
            self._apply_feedback(record)
        return len(new)

    def reset(self) -> None:
        """Forget everything (and truncate the journal)."""
        self.deliveries.clear()
        self.creations.clear()
        if self.journal is not None:
            self.journal.write_text("")

    def received(self, delivery_id: str | None = None) -> list[dict[str, Any]]:
        """Per delivery: what was received, with the number of times each contact_ref came."""
        result = []
        for delivery in self.deliveries.values():
            if delivery_id is not None and delivery.id != delivery_id:
                continue
            per_contact = Counter(str(r.get("contact_ref")) for r in delivery.recipients)
            result.append(
                delivery.to_json()
                | {
                    "batch_keys": sorted(delivery.batches),
                    "per_contact": dict(per_contact),
                    "duplicated_contacts": sorted(k for k, n in per_contact.items() if n > 1),
                }
            )
        return result

    # --- journal ------------------------------------------------------------------------------

    def _write(self, record: dict[str, Any]) -> None:
        if self.journal is not None:
            self._append(json.dumps(record, separators=(",", ":")) + "\n")

    def _append(self, text: str) -> None:
        assert self.journal is not None
        with self.journal.open("a", encoding="utf-8") as out:
            out.write(text)

    def _replay(self) -> None:
        assert self.journal is not None
        if not self.journal.exists():
            return
        apply = {
            "create": self._apply_create,
            "recipients": self._apply_recipients,
            "start": self._apply_start,
            "feedback": self._apply_feedback,
        }
        line = ""
        with self.journal.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a torn last line after a crash
                apply[record["op"]](record)
        if line and not line.endswith("\n"):
            self._append("\n")  # end the torn line so the next record starts on its own

    def _apply_create(self, record: dict[str, Any]) -> Delivery:
        delivery = Delivery(
            id=record["id"],
            channel=record["channel"],
            message=record["message"],
            reference=record["reference"],
            created_at=record["created_at"],
        )
        self.deliveries[delivery.id] = delivery
        if record.get("key") is not None:
            self.creations[record["key"]] = (record["hash"], delivery.id)
        return delivery

    def _apply_recipients(self, record: dict[str, Any]) -> None:
        delivery = self.deliveries[record["delivery_id"]]
        delivery.recipients.extend(record["recipients"])
        delivery.batches[record["key"]] = (record["hash"], len(record["recipients"]))

    def _apply_start(self, record: dict[str, Any]) -> None:
        delivery = self.deliveries[record["delivery_id"]]
        delivery.status, delivery.started_at = "started", record["at"]

    def _apply_feedback(self, record: dict[str, Any]) -> None:
        delivery = self.deliveries[record["delivery_id"]]
        delivery.feedback.extend(record["items"])
        delivery.feedback_ids.update(item["id"] for item in record["items"])
