"""Tortoise models of contactplan; migrations live in models/migrations."""

from models.accounts import ApiKey, LoginThrottle, Profile, User
from models.audit import AuditEntry
from models.catalog import ContactDatabase, EventType, Field
from models.contacts import Contact, Event
from models.enums import (
    Channel,
    DataType,
    EventCategory,
    FieldKind,
    FieldStorage,
    PlanState,
    RecipientStatus,
    RunState,
    RunTrigger,
)
from models.plans import DeliveryBatch, DndPolicy, Plan, PlanRun, Recipient, RunConsumer
from models.segments import SavedRule, Segment, SegmentCountSnapshot

MODEL_MODULES = [
    "models.accounts",
    "models.audit",
    "models.catalog",
    "models.contacts",
    "models.segments",
    "models.plans",
]

__all__ = [
    "MODEL_MODULES",
    "ApiKey",
    "AuditEntry",
    "Channel",
    "Contact",
    "ContactDatabase",
    "DataType",
    "DeliveryBatch",
    "DndPolicy",
    "Event",
    "EventCategory",
    "EventType",
    "Field",
    "FieldKind",
    "FieldStorage",
    "LoginThrottle",
    "Plan",
    "PlanRun",
    "PlanState",
    "Profile",
    "Recipient",
    "RecipientStatus",
    "RunConsumer",
    "RunState",
    "RunTrigger",
    "SavedRule",
    "Segment",
    "SegmentCountSnapshot",
    "User",
]
