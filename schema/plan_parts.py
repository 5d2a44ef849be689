"""The parts of a plan as GraphQL types and inputs: schedule, advanced options, consumers.

They are JSON in the engine (`actors/schedule.py`, `actors/plan_options.py`); each input's
`to_json()` gives the engine's form and each type's `from_json()` reads the stored one.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated, Any

import strawberry

from actors.plan_options import parse_consumers, parse_options
from resolvers.plans import PreviewResult
from schema.base import UserError, user_errors


@strawberry.enum(name="Channel", description="A delivery channel.")
class ChannelType(Enum):
    EMAIL = strawberry.enum_value("email", description="An email.")
    SMS = strawberry.enum_value("sms", description="A text message.")
    PUSH = strawberry.enum_value("push", description="A push notification to an app.")


@strawberry.enum(description="How a plan repeats.")
class ScheduleKind(Enum):
    ONCE = strawberry.enum_value("once", description="One shot at a date and time.")
    DAILY = strawberry.enum_value("daily", description="Every N days.")
    WEEKLY = strawberry.enum_value("weekly", description="Every N weeks on chosen weekdays.")
    MONTHLY = strawberry.enum_value(
        "monthly", description="On chosen dates of chosen months (missing dates are skipped)."
    )


@strawberry.enum(description="When a recurrence stops.")
class ScheduleEndKind(Enum):
    NEVER = strawberry.enum_value("never", description="Never: at most one year of runs.")
    AFTER = strawberry.enum_value("after", description="After `count` runs (at most 365).")
    ON = strawberry.enum_value("on", description="On `date`, inclusive (at most one year).")


@strawberry.enum(description="A day of the week.")
class Weekday(Enum):
    MON = strawberry.enum_value("mon", description="Monday.")
    TUE = strawberry.enum_value("tue", description="Tuesday.")
    WED = strawberry.enum_value("wed", description="Wednesday.")
    THU = strawberry.enum_value("thu", description="Thursday.")
    FRI = strawberry.enum_value("fri", description="Friday.")
    SAT = strawberry.enum_value("sat", description="Saturday.")
    SUN = strawberry.enum_value("sun", description="Sunday.")


@strawberry.enum(description="When a run's contact list is generated.")
class ListGenerationMode(Enum):
    AT_RUN = strawberry.enum_value("run", description="When the run starts.")
    AT_SAVE = strawberry.enum_value("save", description="When the plan is saved.")
    DAYS_BEFORE = strawberry.enum_value("days_before", description="N days before the run.")


@strawberry.enum(description="How many contacts a run sends to.")
class ContactsMode(Enum):
    ALL = strawberry.enum_value("all", description="Every contact of the segment.")
    EXACT = strawberry.enum_value("exact", description="Exactly `count` contacts.")
    RANGE = strawberry.enum_value("range", description="From `min` to `max` contacts.")


@strawberry.enum(description="What a run does when its contacts number is not reached.")
class NotReachedBehaviour(Enum):
    SEND_ANYWAY = strawberry.enum_value("send_anyway", description="Send to those there are.")
    TOP_UP = strawberry.enum_value(
        "top_up",
        description="Add random contacts from the rest of the database (up to topUpPercent).",
    )
    ERROR = strawberry.enum_value("error", description="Send nothing; the plan goes to ERROR.")


@strawberry.type(description="When a recurrence stops.")
class ScheduleEnd:
    kind: ScheduleEndKind = strawberry.field(description="Never, after N runs, or on a date.")
    count: int | None = strawberry.field(description="AFTER: the number of runs.")
    date: dt.date | None = strawberry.field(description="ON: the last day (inclusive).")


@strawberry.type(description="When a plan runs, in local wall-clock time of its time zone.")
class Schedule:
    kind: ScheduleKind = strawberry.field(description="One shot or how it repeats.")
    start: dt.date = strawberry.field(description="The first day.")
    time: str = strawberry.field(description="Local time of day, HH:MM.")
    timezone: str = strawberry.field(description="IANA time zone of `start` and `time`.")
    every: int | None = strawberry.field(description="DAILY / WEEKLY: every N days or weeks.")
    weekdays: list[Weekday] | None = strawberry.field(description="WEEKLY: the weekdays.")
    months: list[int] | None = strawberry.field(description="MONTHLY: the months (1-12).")
    days: list[int] | None = strawberry.field(
        description="MONTHLY: the days of the month (1-31); a missing date is skipped."
    )
    end: ScheduleEnd | None = strawberry.field(description="Recurrences: when they stop.")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schedule:
        """The GraphQL form of a stored (normalised) schedule."""
        end = data.get("end")
        return cls(
            kind=ScheduleKind(data["kind"]),
            start=dt.date.fromisoformat(data["start"]),
            time=data["time"],
            timezone=data["timezone"],
            every=data.get("every"),
            weekdays=[Weekday(d) for d in data["weekdays"]] if "weekdays" in data else None,
            months=data.get("months"),
            days=data.get("days"),
            end=ScheduleEnd(
                kind=ScheduleEndKind(end["kind"]),
                count=end.get("count"),
                date=dt.date.fromisoformat(end["date"]) if end.get("date") else None,
            )
            if end
            else None,
        )


@strawberry.type(description="Upcoming runs of a schedule.")
class SchedulePreview:
    next: list[dt.datetime] = strawberry.field(description="The next (at most ten) run times.")
    total: int = strawberry.field(description="How many runs the schedule has in all.")


@strawberry.type(description="Result of schedulePreview: the preview, or why it is refused.")
class SchedulePreviewResult:
    preview: SchedulePreview | None = strawberry.field(description="Null if the schedule is bad.")
    user_errors: list[UserError] = strawberry.field(
        description="What is wrong with the schedule (e.g. TOO_LONG, TOO_MANY_RUNS)."
    )

    @classmethod
    def from_result(cls, result: PreviewResult) -> SchedulePreviewResult:
        """The GraphQL form of a resolver's preview."""
        preview = (
            SchedulePreview(next=result.next, total=result.total) if not result.errors else None
        )
        return cls(preview=preview, user_errors=user_errors(result.errors))


@strawberry.type(description="When a run's list is generated.")
class ListGeneration:
    mode: ListGenerationMode = strawberry.field(description="At run, at save, or days before.")
    days_before: int | None = strawberry.field(description="DAYS_BEFORE: how many days.")


@strawberry.type(description="How many contacts a run sends to.")
class ContactsNumber:
    mode: ContactsMode = strawberry.field(description="All, exact or a range.")
    count: int | None = strawberry.field(description="EXACT: the number.")
    min: int | None = strawberry.field(description="RANGE: at least (below: ifNotReached).")
    max: int | None = strawberry.field(description="RANGE: at most (the list is cut).")


@strawberry.type(description="A plan's advanced options (defaults filled in).")
class PlanOptions:
    list_generation: ListGeneration = strawberry.field(description="When the list is made.")
    contacts: ContactsNumber = strawberry.field(description="How many contacts.")
    if_not_reached: NotReachedBehaviour = strawberry.field(
        description="What happens when the contacts number is not reached."
    )
    top_up_percent: float = strawberry.field(
        description="TOP_UP: at most this % of the wanted number is added."
    )
    control_group_percent: float = strawberry.field(
        description="% of the list kept as a control group (never sent, kept for the report)."
    )
    max_send_rate: int | None = strawberry.field(
        description="At most this many recipients per second; null: as fast as possible."
    )
    batch_size: int = strawberry.field(description="Recipients per delivery batch.")
    max_error_rate: float = strawberry.field(
        description="A run whose failed share passes this (0-1] pauses itself."
    )

    @classmethod
    def from_json(cls, data: Any) -> PlanOptions:
        """The GraphQL form of stored options."""
        o = parse_options(data)
        exact = o.contacts_mode == "exact"
        ranged = o.contacts_mode == "range"
        return cls(
            list_generation=ListGeneration(
                mode=ListGenerationMode(o.list_generation),
                days_before=o.list_days_before if o.list_generation == "days_before" else None,
            ),
            contacts=ContactsNumber(
                mode=ContactsMode(o.contacts_mode),
                count=o.contacts_min if exact else None,
                min=o.contacts_min if ranged else None,
                max=o.contacts_max if ranged else None,
            ),
            if_not_reached=NotReachedBehaviour(o.if_short),
            top_up_percent=o.top_up_percent,
            control_group_percent=o.control_percent,
            max_send_rate=o.max_rate,
            batch_size=o.batch_size,
            max_error_rate=o.max_error_rate,
        )


@strawberry.type(description="A key and its value.")
class KeyValue:
    key: str = strawberry.field(description="The key.")
    value: str = strawberry.field(description="The value.")


@strawberry.type(description="An email, SMS or push delivery on the delivery platform.")
class DeliveryConsumer:
    position: int = strawberry.field(description="Index among the plan's consumers.")
    channel: ChannelType = strawberry.field(description="Email, SMS or push.")
    template: str = strawberry.field(description="The message model / template reference.")
    sender: str | None = strawberry.field(description="Sender (address, alias or app).")
    subject: str | None = strawberry.field(description="Subject (email).")
    labels: list[str] = strawberry.field(description="Labels passed to the platform.")


@strawberry.type(description="A CSV export of each run's list.")
class ExportConsumer:
    position: int = strawberry.field(description="Index among the plan's consumers.")
    label: str | None = strawberry.field(description="A name for the export.")


@strawberry.type(description="A webhook to an automation, called once per run.")
class WebhookConsumer:
    position: int = strawberry.field(description="Index among the plan's consumers.")
    url: str = strawberry.field(description="The http(s) URL called.")
    fields: list[KeyValue] = strawberry.field(description="Custom key/value fields sent.")


PlanConsumer = Annotated[
    DeliveryConsumer | ExportConsumer | WebhookConsumer,
    strawberry.union("PlanConsumer", description="What a run does with its list."),
]


def consumers_of(data: Any) -> list[DeliveryConsumer | ExportConsumer | WebhookConsumer]:
    result: list[DeliveryConsumer | ExportConsumer | WebhookConsumer] = []
    for c in parse_consumers(data):
        s = c.settings
        if c.kind == "delivery":
            result.append(
                DeliveryConsumer(
                    position=c.position,
                    channel=ChannelType(c.channel.value) if c.channel else ChannelType.EMAIL,
                    template=s.get("template", ""),
                    sender=s.get("sender"),
                    subject=s.get("subject"),
                    labels=list(s.get("labels") or []),
                )
            )
        elif c.kind == "export":
            result.append(ExportConsumer(position=c.position, label=s.get("label")))
        else:
            fields = [KeyValue(key=k, value=v) for k, v in (s.get("fields") or {}).items()]
            result.append(WebhookConsumer(position=c.position, url=s.get("url", ""), fields=fields))
    return result


@strawberry.input(description="When a recurrence stops.")
class ScheduleEndInput:
    kind: ScheduleEndKind = strawberry.field(description="Never, after N runs, or on a date.")
    count: int | None = strawberry.field(default=None, description="AFTER: number of runs.")
    date: dt.date | None = strawberry.field(default=None, description="ON: last day.")

    def to_json(self) -> dict[str, Any]:
        """The engine's form."""
        data: dict[str, Any] = {"kind": self.kind.value}
        if self.count is not None:
            data["count"] = self.count
        if self.date is not None:
            data["date"] = self.date.isoformat()
        return data


@strawberry.input(description="When a plan runs. Times are local to `timezone`.")
class ScheduleInput:
    kind: ScheduleKind = strawberry.field(description="One shot or how it repeats.")
    start: dt.date = strawberry.field(description="The first day.")
    time: str = strawberry.field(description="Local time of day, HH:MM.")
    timezone: str | None = strawberry.field(
        default=None, description="IANA time zone; default: the database's."
    )
    every: int | None = strawberry.field(
        default=None, description="DAILY / WEEKLY: every N days or weeks (default 1)."
    )
    weekdays: list[Weekday] | None = strawberry.field(
        default=None, description="WEEKLY: the weekdays (default: the start's)."
    )
    months: list[int] | None = strawberry.field(
        default=None, description="MONTHLY: months 1-12 (default: all)."
    )
    days: list[int] | None = strawberry.field(
        default=None, description="MONTHLY: days 1-31 (default: the start's day)."
    )
    end: ScheduleEndInput | None = strawberry.field(
        default=None, description="Recurrences: when they stop (default: never, one year)."
    )

    def to_json(self) -> dict[str, Any]:
        """The engine's form."""
        data: dict[str, Any] = {
            "kind": self.kind.value,
            "start": self.start.isoformat(),
            "time": self.time,
        }
        if self.timezone is not None:
            data["timezone"] = self.timezone
        if self.every is not None:
            data["every"] = self.every
        if self.weekdays is not None:
            data["weekdays"] = [d.value for d in self.weekdays]
        if self.months is not None:
            data["months"] = list(self.months)
        if self.days is not None:
            data["days"] = list(self.days)
        if self.end is not None:
            data["end"] = self.end.to_json()
        return data


@strawberry.input(description="When a run's list is generated.")
class ListGenerationInput:
    mode: ListGenerationMode = strawberry.field(description="At run, at save, or days before.")
    days_before: int | None = strawberry.field(default=None, description="DAYS_BEFORE: 1-365.")


@strawberry.input(description="How many contacts a run sends to.")
class ContactsNumberInput:
    mode: ContactsMode = strawberry.field(description="All, exact or a range.")
    count: int | None = strawberry.field(default=None, description="EXACT: the number.")
    min: int | None = strawberry.field(default=None, description="RANGE: at least.")
    max: int | None = strawberry.field(default=None, description="RANGE: at most.")


@strawberry.input(description="Advanced options; omitted ones take their defaults.")
class PlanOptionsInput:
    list_generation: ListGenerationInput | None = strawberry.field(
        default=None, description="When the list is made (default: at run)."
    )
    contacts: ContactsNumberInput | None = strawberry.field(
        default=None, description="How many contacts (default: all)."
    )
    if_not_reached: NotReachedBehaviour | None = strawberry.field(
        default=None, description="When the contacts number is not reached (default: send)."
    )
    top_up_percent: float | None = strawberry.field(
        default=None, description="TOP_UP: at most this % of the wanted number is added."
    )
    control_group_percent: float | None = strawberry.field(
        default=None, description="Control group % (0-100, default 0)."
    )
    max_send_rate: int | None = strawberry.field(
        default=None, description="Recipients per second at most (default: unlimited)."
    )
    batch_size: int | None = strawberry.field(
        default=None, description="Recipients per batch (1-10000, default 1000)."
    )
    max_error_rate: float | None = strawberry.field(
        default=None, description="Failed share that pauses a run (0-1], default 0.2."
    )

    def to_json(self) -> dict[str, Any]:
        """The engine's form."""
        data: dict[str, Any] = {}
        if self.list_generation is not None:
            generation: dict[str, Any] = {"mode": self.list_generation.mode.value}
            if self.list_generation.days_before is not None:
                generation["days"] = self.list_generation.days_before
            data["list_generation"] = generation
        if self.contacts is not None:
            contacts: dict[str, Any] = {"mode": self.contacts.mode.value}
            for key in ("count", "min", "max"):
                if getattr(self.contacts, key) is not None:
                    contacts[key] = getattr(self.contacts, key)
            data["contacts"] = contacts
        simple = {
            "if_short": self.if_not_reached.value if self.if_not_reached else None,
            "top_up_percent": self.top_up_percent,
            "control_percent": self.control_group_percent,
            "max_rate": self.max_send_rate,
            "batch_size": self.batch_size,
            "max_error_rate": self.max_error_rate,
        }
        return data | {k: v for k, v in simple.items() if v is not None}


@strawberry.input(description="A key and its value.")
class KeyValueInput:
    key: str = strawberry.field(description="The key.")
    value: str = strawberry.field(description="The value.")


@strawberry.input(description="An email, SMS or push delivery.")
class DeliveryConsumerInput:
    channel: ChannelType = strawberry.field(description="Email, SMS or push.")
    template: str = strawberry.field(description="Message model / template reference.")
    sender: str | None = strawberry.field(default=None, description="Sender.")
    subject: str | None = strawberry.field(default=None, description="Subject (email: required).")
    labels: list[str] | None = strawberry.field(default=None, description="Labels.")


@strawberry.input(description="A CSV export of each run's list.")
class ExportConsumerInput:
    label: str | None = strawberry.field(default=None, description="A name for the export.")


@strawberry.input(description="A webhook to an automation.")
class WebhookConsumerInput:
    url: str = strawberry.field(description="http(s) URL.")
    fields: list[KeyValueInput] | None = strawberry.field(
        default=None, description="Custom key/value fields sent with each call."
    )


@strawberry.input(one_of=True, description="One consumer: exactly one of its fields.")
class PlanConsumerInput:
    delivery: DeliveryConsumerInput | None = strawberry.field(
        default=strawberry.UNSET, description="A delivery on the platform."
    )
    export: ExportConsumerInput | None = strawberry.field(
        default=strawberry.UNSET, description="A CSV export."
    )
    webhook: WebhookConsumerInput | None = strawberry.field(
        default=strawberry.UNSET, description="A webhook."
    )

    def kind(self) -> str:
        """delivery, export or webhook."""
        return next(k for k in ("delivery", "export", "webhook") if getattr(self, k))

    def to_json(self) -> dict[str, Any]:
        """The engine's form."""
        if self.delivery:
            d = self.delivery
            data: dict[str, Any] = {"kind": "delivery", "channel": d.channel.value}
            data["template"] = d.template
            for key in ("sender", "subject", "labels"):
                if getattr(d, key) is not None:
                    data[key] = getattr(d, key)
            return data
        if self.export:
            label = self.export.label
            return {"kind": "export"} | ({"label": label} if label is not None else {})
        hook = self.webhook
        assert hook is not None
        return {
            "kind": "webhook",
            "url": hook.url,
            "fields": {f.key: f.value for f in hook.fields or []},
        }
