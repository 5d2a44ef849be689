"""Enumerations shared by models, segmentation and the GraphQL schema."""

from enum import StrEnum


class DataType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"
    STRING_LIST = "string_list"


class FieldStorage(StrEnum):
    COLUMN = "column"  # a typed column of the contact table
    ATTRIBUTE = "attribute"  # a key of contact.attributes (JSONB)


class FieldKind(StrEnum):
    DEMOGRAPHIC = "demographic"
    BEHAVIORAL = "behavioral"


class EventCategory(StrEnum):
    MESSAGE = "message"  # digital messages: sent, delivered, opened, clicked, bounced
    PURCHASE = "purchase"  # orders and order lines
    ECOMMERCE = "ecommerce"  # cart, wishlist, product views, reviews
    WEB = "web"  # browsing
    OTHER = "other"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


class PlanState(StrEnum):
    DRAFT = "draft"
    READY = "ready"
    ACTIVE = "active"  # a recurrence master that is started
    PAUSED = "paused"
    ARCHIVED = "archived"  # ran (one shot) or ended (recurrence)
    ERROR = "error"


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    TEST = "test"


class RunState(StrEnum):
    PENDING = "pending"
    EVALUATING = "evaluating"
    DELIVERING = "delivering"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"


class RecipientStatus(StrEnum):
    EXCLUDED = "excluded"  # see exclusion_reason
    CONTROL = "control"  # control group: kept for the report, never sent
    PENDING = "pending"  # waiting for its batch
    SENT = "sent"
    FAILED = "failed"
