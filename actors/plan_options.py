"""A plan's advanced options and consumers: the JSON stored on `plan`, validated into types.

Options (`plan.options`, every key optional)::

    {"list_generation": {"mode": "run" | "save" | "days_before", "days": 2},
     "contacts": {"mode": "all"} | {"mode": "exact", "count": 1000}
               | {"mode": "range", "min": 500, "max": 1000},
     "if_short": "send_anyway" | "top_up" | "error",
     "top_up_percent": 20,         # top_up: at most this % of the wanted number is added
     "control_percent": 10,        # deterministic control group, excluded from sending
     "max_rate": 500,              # recipients per second, null: as fast as the platform takes
     "batch_size": 1000,
     "max_error_rate": 0.2,        # a run whose failed share passes it pauses itself
     "exclusion_segment_id": 12,   # members of this segment (same database) are not sent
     "frequency_cap_days": 7}      # contacts sent anything in the last N days are not sent

Consumers (`plan.consumers`, a list, zero or more; several deliveries, e.g. an email and an
SMS, each with its own recipient rows: `recipient.delivery_no` k for the (k+1)-th delivery,
NULL for the first)::

    {"kind": "delivery", "channel": "email" | "sms" | "push", "template": "...",
     "sender": "...", "subject": "...", "labels": ["..."]}
    {"kind": "export"}                                    # a CSV export of the list
    {"kind": "webhook", "url": "https://...", "fields": {"key": "value"}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.enums import Channel

LIST_GENERATION_MODES = ("run", "save", "days_before")
CONTACT_MODES = ("all", "exact", "range")
IF_SHORT = ("send_anyway", "top_up", "error")
CONSUMER_KINDS = ("delivery", "export", "webhook")
DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 10_000
DEFAULT_MAX_ERROR_RATE = 0.2
MAX_FREQUENCY_CAP_DAYS = 366


@dataclass(frozen=True)
class OptionError:
    """One thing wrong with a plan's options or consumers: where, what, a stable code."""

    path: str
    message: str
    code: str


class InvalidPlan(ValueError):
    """Plan options or consumers with one or more errors (nothing was changed)."""

    def __init__(self, errors: list[OptionError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class PlanOptions:
    """Validated advanced options of a plan."""

    list_generation: str = "run"
    list_days_before: int = 0
    contacts_mode: str = "all"
    contacts_min: int | None = None  # below it, `if_short` applies
    contacts_max: int | None = None  # the list is cut to it (limit)
    if_short: str = "send_anyway"
    top_up_percent: float = 0.0
    control_percent: float = 0.0
    max_rate: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    exclusion_segment_id: int | None = None
    frequency_cap_days: int | None = None


@dataclass(frozen=True)
class Consumer:
    """One consumer of a run's list."""

    position: int
    kind: str
    channel: Channel | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def parse_options(data: Any, path: str = "options") -> PlanOptions:
    """Validate `plan.options`; raise `InvalidPlan` listing every error with its path."""
    errors: list[OptionError] = []

    def err(where: str, message: str, code: str = "invalid") -> None:
        errors.append(OptionError(f"{path}.{where}" if where else path, message, code))

    if data is None:
        data = {}
    if not isinstance(data, dict):
        err("", "must be an object")
        raise InvalidPlan(errors)
    known = {
        "list_generation", "contacts", "if_short", "top_up_percent", "control_percent",
        "max_rate", "batch_size", "max_error_rate", "exclusion_segment_id", "frequency_cap_days",
    }  # fmt: skip
    for key in sorted(set(data) - known):
        err(key, f"unknown key {key!r}", "unknown_key")

    generation = data.get("list_generation") or {"mode": "run"}
    mode, days = "run", 0
    if not isinstance(generation, dict) or generation.get("mode") not in LIST_GENERATION_MODES:
        err("list_generation.mode", f"must be one of {', '.join(LIST_GENERATION_MODES)}")
    else:
        mode = generation["mode"]
        if mode == "days_before":
            days = generation.get("days")
            if not _is_int(days) or not 1 <= days <= 365:
                err("list_generation.days", f"must be an integer from 1 to 365, got {days!r}")
                days = 0

    contacts = data.get("contacts") or {"mode": "all"}
    contacts_mode, low, high = "all", None, None
    if not isinstance(contacts, dict) or contacts.get("mode") not in CONTACT_MODES:
        err("contacts.mode", f"must be one of {', '.join(CONTACT_MODES)}")
    else:
        contacts_mode = contacts["mode"]
        if contacts_mode == "exact":
            count = contacts.get("count")
            if not _is_int(count) or count < 1:
                err("contacts.count", f"must be a positive integer, got {count!r}")
            else:
                low = high = count
        elif contacts_mode == "range":
            low, high = contacts.get("min"), contacts.get("max")
            if not _is_int(low) or low < 0:
                err("contacts.min", f"must be an integer >= 0, got {low!r}")
            if not _is_int(high) or high < 1:
                err("contacts.max", f"must be a positive integer, got {high!r}")
            if _is_int(low) and _is_int(high) and low > high:
                err("contacts.max", f"must be >= min ({low}), got {high}", "out_of_range")

    if_short = data.get("if_short", "send_anyway")
    if if_short not in IF_SHORT:
        err("if_short", f"must be one of {', '.join(IF_SHORT)}, got {if_short!r}")
    top_up = _percent(data.get("top_up_percent", 0), "top_up_percent", err)
    if if_short == "top_up" and not top_up:
        err("top_up_percent", "must be above 0 when if_short is top_up", "required")
    control = _percent(data.get("control_percent", 0), "control_percent", err)
    if control >= 100:
        err("control_percent", "must be below 100", "out_of_range")
    max_rate = data.get("max_rate")
    if max_rate is not None and (not _is_int(max_rate) or max_rate < 1):
        err("max_rate", f"must be a positive integer (recipients per second), got {max_rate!r}")
    batch_size = data.get("batch_size", DEFAULT_BATCH_SIZE)
    if not _is_int(batch_size) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        err("batch_size", f"must be an integer from 1 to {MAX_BATCH_SIZE}, got {batch_size!r}")
    error_rate = data.get("max_error_rate", DEFAULT_MAX_ERROR_RATE)
    if not isinstance(error_rate, int | float) or isinstance(error_rate, bool):
        err("max_error_rate", f"must be a number from 0 to 1, got {error_rate!r}")
    elif not 0 < error_rate <= 1:
        err("max_error_rate", f"must be above 0 and at most 1, got {error_rate}", "out_of_range")
    exclusion = data.get("exclusion_segment_id")
    if exclusion is not None and (not _is_int(exclusion) or exclusion < 1):
        err("exclusion_segment_id", f"must be a segment id, got {exclusion!r}")
    cap = data.get("frequency_cap_days")
    if cap is not None and (not _is_int(cap) or not 1 <= cap <= MAX_FREQUENCY_CAP_DAYS):
        err(
            "frequency_cap_days",
            f"must be an integer from 1 to {MAX_FREQUENCY_CAP_DAYS}, got {cap!r}",
            "out_of_range",
        )
    if errors:
        raise InvalidPlan(errors)
    return PlanOptions(
        list_generation=mode,
        list_days_before=days,
        contacts_mode=contacts_mode,
        contacts_min=low,
        contacts_max=high,
        if_short=if_short,
        top_up_percent=top_up,
        control_percent=control,
        max_rate=max_rate,
        batch_size=batch_size,
        max_error_rate=float(error_rate),
        exclusion_segment_id=exclusion,
        frequency_cap_days=cap,
    )


def parse_consumers(data: Any, path: str = "consumers") -> list[Consumer]:
    """Validate `plan.consumers`; any number of deliveries (each has its own recipient rows)."""
    errors: list[OptionError] = []
    if data is None:
        data = []
    if not isinstance(data, list):
        raise InvalidPlan([OptionError(path, "must be a list", "invalid")])
    consumers: list[Consumer] = []
    for i, item in enumerate(data):
        where = f"{path}[{i}]"
        if not isinstance(item, dict) or item.get("kind") not in CONSUMER_KINDS:
            errors.append(
                OptionError(
                    f"{where}.kind", f"must be one of {', '.join(CONSUMER_KINDS)}", "invalid"
                )
            )
            continue
        kind = item["kind"]
        settings = {k: v for k, v in item.items() if k not in ("kind", "channel")}
        channel = None
        if kind == "delivery":
            try:
                channel = Channel(item.get("channel"))
            except ValueError:
                errors.append(
                    OptionError(f"{where}.channel", "must be one of email, sms, push", "invalid")
                )
            if not isinstance(item.get("template"), str) or not item.get("template"):
                errors.append(
                    OptionError(f"{where}.template", "is required (message template)", "required")
                )
            if channel is Channel.EMAIL and not item.get("subject"):
                errors.append(
                    OptionError(f"{where}.subject", "is required for an email", "required")
                )
        if kind == "webhook":
            url = item.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                errors.append(OptionError(f"{where}.url", "must be an http(s) URL", "invalid"))
            fields = item.get("fields", {})
            if not isinstance(fields, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
            ):
                errors.append(
                    OptionError(f"{where}.fields", "must map string keys to strings", "invalid")
                )
        consumers.append(Consumer(i, kind, channel, settings))
    if errors:
        raise InvalidPlan(errors)
    return consumers


def delivery_consumer(consumers: list[Consumer]) -> Consumer | None:
    """The plan's first delivery consumer, if it has one (the one a test send uses)."""
    return next((c for c in consumers if c.kind == "delivery"), None)


def delivery_consumers(consumers: list[Consumer]) -> list[Consumer]:
    """The plan's delivery consumers in order: the (k+1)-th writes `recipient.delivery_no` k
    (the first: NULL, read as 0)."""
    return [c for c in consumers if c.kind == "delivery"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _percent(value: Any, where: str, err) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        err(where, f"must be a number from 0 to 100, got {value!r}", "out_of_range")
        return 0.0
    return float(value)
