"""Contacts and events: look-ups, a contact's events, partners' batch upsert and ingest."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types.nodes import SelectedField

from models import Contact as ContactModel
from models import Event as EventModel
from permissions.classes import principal_of, requires
from permissions.errors import Forbidden
from permissions.names import Perm
from permissions.rules import may
from resolvers import catalog as resolve_catalog
from resolvers import contacts as resolve
from resolvers import ingest
from schema.base import Info, UserError, user_errors
from schema.catalog import EventType
from schema.databases import Database
from schema.relay import (
    CountedConnection,
    GlobalID,
    Node,
    NodeID,
    global_id,
    int_ids,
    node_pk,
)

if TYPE_CHECKING:
    from schema.plans import PlanRun


def _require(info: Info, perm: Perm) -> None:
    if not may(principal_of(info), perm):
        raise Forbidden(f"Your profile lacks the permission {perm.value!r}.")


def _selects(info: Info, name: str) -> bool:
    """True if the current field's selection asks for `name` (directly or in fragments)."""

    def among(selections: list[Any]) -> bool:
        for selection in selections:
            if isinstance(selection, SelectedField):
                if selection.name == name:
                    return True
            elif among(selection.selections):  # fragment spread or inline fragment
                return True
        return False

    return any(among(f.selections) for f in info.selected_fields)


async def _attribute_pii(info: Info, database_pk: int) -> dict[str, bool]:
    return await info.context.loader(
        "personal_attribute_keys", resolve.personal_attribute_keys
    ).load(database_pk)


@strawberry.type(
    description="A person in one contact database. Personal data (email, phone, names, "
    "push token, birth date, personal attributes) needs personal_data.read: without it "
    "those fields are null with a FORBIDDEN error, the rest still arrives."
)
class Contact(Node):
    id: NodeID[int]
    external_id: str = strawberry.field(
        description="The partner's id of the contact, unique in its database."
    )
    gender: str | None = strawberry.field(description="Gender (catalog enum: F, M, X).")
    city: str | None = strawberry.field(description="City.")
    region: str | None = strawberry.field(description="Region.")
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    language: str | None = strawberry.field(description="Preferred language (e.g. it, en-GB).")
    consent_email: bool = strawberry.field(description="Agreed to receive e-mail.")
    consent_sms: bool = strawberry.field(description="Agreed to receive SMS.")
    consent_push: bool = strawberry.field(description="Agreed to receive push notifications.")
    created_at: datetime = strawberry.field(description="When the contact was first stored.")
    updated_at: datetime = strawberry.field(description="When the contact last changed.")
    row: strawberry.Private[ContactModel]

    @strawberry.field(
        description="E-mail address (personal data).", extensions=requires(Perm.PERSONAL_DATA_READ)
    )
    def email(self) -> str | None:
        return self.row.email

    @strawberry.field(
        description="Phone number (personal data).", extensions=requires(Perm.PERSONAL_DATA_READ)
    )
    def phone(self) -> str | None:
        return self.row.phone

    @strawberry.field(
        description="Push notification token (personal data).",
        extensions=requires(Perm.PERSONAL_DATA_READ),
    )
    def push_token(self) -> str | None:
        return self.row.push_token

    @strawberry.field(
        description="First name (personal data).", extensions=requires(Perm.PERSONAL_DATA_READ)
    )
    def first_name(self) -> str | None:
        return self.row.first_name

    @strawberry.field(
        description="Last name (personal data).", extensions=requires(Perm.PERSONAL_DATA_READ)
    )
    def last_name(self) -> str | None:
        return self.row.last_name

    @strawberry.field(
        description="Birth date (personal data).", extensions=requires(Perm.PERSONAL_DATA_READ)
    )
    def birth_date(self) -> date | None:
        return self.row.birth_date

    @strawberry.field(
        description="The contact's attribute fields that are not personal data, as an "
        "object of catalog field key -> value."
    )
    async def attributes(self, info: Info) -> JSON:
        pii = await _attribute_pii(info, self.database_pk)
        return {k: v for k, v in (self.row.attributes or {}).items() if pii.get(k) is False}

    @strawberry.field(
        description="The contact's attribute fields flagged personal data in the catalog "
        "(and any key the catalog does not know), as an object key -> value.",
        extensions=requires(Perm.PERSONAL_DATA_READ),
    )
    async def personal_attributes(self, info: Info) -> JSON | None:
        pii = await _attribute_pii(info, self.database_pk)
        return {k: v for k, v in (self.row.attributes or {}).items() if pii.get(k) is not False}

    @property
    def database_pk(self) -> int:
        return self.row.database_id  # type: ignore[attr-defined]

    @strawberry.field(description="Global id of the contact's database.")
    def database_id(self) -> GlobalID:
        return global_id("Database", self.database_pk)

    @strawberry.field(description="The contact's database.", extensions=requires(None))
    async def database(self, info: Info) -> Database | None:
        row = await info.context.loaders.database.load(self.database_pk)
        return None if row is None else Database.from_model(row)

    @strawberry.field(
        description="The contact's events, newest first. Requires contact.read.",
        extensions=requires(Perm.CONTACT_READ),
    )
    async def events(
        self,
        info: Info,
        types: Annotated[
            list[str] | None,
            strawberry.argument(description="Only events of these event types (keys)."),
        ] = None,
        since: Annotated[
            datetime | None, strawberry.argument(description="Only events at or after this.")
        ] = None,
        until: Annotated[
            datetime | None, strawberry.argument(description="Only events before this.")
        ] = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size, 1-500 (default 50).")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor of the last event seen.")
        ] = None,
    ) -> EventConnection | None:
        page = await resolve.contact_events(
            self.row,
            types=types,
            since=since,
            until=until,
            first=first,
            after=after,
            count_total=_selects(info, "totalCount"),
        )
        return EventConnection.from_page(page, Event.from_model)

    @strawberry.field(
        description="The plan runs whose lists contained the contact (sent, excluded or "
        "control), newest first. Requires plan.read.",
        extensions=requires(Perm.PLAN_READ),
    )
    async def runs(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="How many runs, 1-500 (default 50).")
        ] = None,
    ) -> list[Annotated[PlanRun, strawberry.lazy("schema.plans")]] | None:
        from schema.plans import PlanRun as PlanRunType  # lazy: schema.plans is a big module

        key = resolve.RunsKey(self.id, self.database_pk, resolve.runs_limit(first))
        rows = await info.context.loader("contact_runs", resolve.runs_of_contacts).load(key)
        return [PlanRunType.from_model(r) for r in rows]

    @classmethod
    def from_model(cls, row: ContactModel) -> Contact:
        """The GraphQL form of a contact row."""
        return cls(
            id=row.id,
            external_id=row.external_id,
            gender=row.gender,
            city=row.city,
            region=row.region,
            country=row.country,
            language=row.language,
            consent_email=row.consent_email,
            consent_sms=row.consent_sms,
            consent_push=row.consent_push,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Contact | None]:
        _require(info, Perm.CONTACT_READ)
        ids = int_ids(node_ids)
        rows = await resolve.contacts_visible(principal_of(info), [i for i in ids if i is not None])
        return [cls.from_model(rows[i]) if i in rows else None for i in ids]


@strawberry.type(description="Something a contact did or received, at a time.")
class Event(Node):
    id: NodeID[int]
    event_id: str | None = strawberry.field(
        description="The partner's event id (EventInput.eventId), if it came from ingestEvents."
    )
    occurred_at: datetime = strawberry.field(description="When it happened.")
    value: Decimal | None = strawberry.field(
        description="Its numeric value (see EventType.valueLabel: order amount, price...)."
    )
    properties: JSON = strawberry.field(
        description="Its properties, an object of event-type property key -> value."
    )
    row: strawberry.Private[EventModel]

    @strawberry.field(description="Global id of the event's database.")
    def database_id(self) -> GlobalID:
        return global_id("Database", self.row.database_id)  # type: ignore[attr-defined]

    @strawberry.field(description="What kind of event it is.", extensions=requires(None))
    async def event_type(self, info: Info) -> EventType | None:
        row = await info.context.loader(
            "event_types_by_id", resolve_catalog.event_types_by_id
        ).load(self.row.event_type_id)  # type: ignore[attr-defined]
        return None if row is None else EventType.from_model(row)

    @strawberry.field(
        description="The contact it belongs to. Requires contact.read.",
        extensions=requires(Perm.CONTACT_READ),
    )
    async def contact(self, info: Info) -> Contact | None:
        row = await info.context.loader("contacts_by_id", resolve.contacts_by_id).load(
            self.row.contact_id  # type: ignore[attr-defined]
        )
        return None if row is None else Contact.from_model(row)

    @classmethod
    def from_model(cls, row: EventModel) -> Event:
        """The GraphQL form of an event row."""
        return cls(
            id=row.id,
            event_id=row.external_id,
            occurred_at=row.occurred_at,
            value=row.value,
            properties=row.properties or {},
            row=row,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Event | None]:
        _require(info, Perm.CONTACT_READ)
        ids = int_ids(node_ids)
        rows = await resolve.events_visible(principal_of(info), [i for i in ids if i is not None])
        return [cls.from_model(rows[i]) if i in rows else None for i in ids]


@strawberry.type(description="A contact's events, page by page, newest first.")
class EventConnection(CountedConnection[Event]):
    pass


@strawberry.input(
    description="A contact to create or update, identified by its external id. Omitted "
    "fields keep their stored value; an explicit null clears it."
)
class ContactInput:
    external_id: str = strawberry.field(
        description="The partner's id of the contact, 1-128 characters, unique per database."
    )
    email: str | None = strawberry.field(
        default=strawberry.UNSET, description="E-mail address, at most 320 characters."
    )
    phone: str | None = strawberry.field(
        default=strawberry.UNSET, description="Phone number: digits, optional leading +."
    )
    push_token: str | None = strawberry.field(
        default=strawberry.UNSET, description="Push notification token."
    )
    first_name: str | None = strawberry.field(
        default=strawberry.UNSET, description="First name, at most 100 characters."
    )
    last_name: str | None = strawberry.field(
        default=strawberry.UNSET, description="Last name, at most 100 characters."
    )
    gender: str | None = strawberry.field(
        default=strawberry.UNSET, description="One of the catalog's gender values (F, M, X)."
    )
    birth_date: date | None = strawberry.field(
        default=strawberry.UNSET, description="Birth date, YYYY-MM-DD."
    )
    city: str | None = strawberry.field(default=strawberry.UNSET, description="City.")
    region: str | None = strawberry.field(default=strawberry.UNSET, description="Region.")
    country: str | None = strawberry.field(
        default=strawberry.UNSET, description="Two-letter ISO country code."
    )
    language: str | None = strawberry.field(
        default=strawberry.UNSET, description="Preferred language, at most 8 characters."
    )
    consent_email: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Agreed to receive e-mail (false if never set)."
    )
    consent_sms: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Agreed to receive SMS (false if never set)."
    )
    consent_push: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Agreed to receive push (false if never set)."
    )
    attributes: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Attribute fields of the catalog (storage ATTRIBUTE), an object of field "
        "key -> value typed as the field says; merged into the stored ones, null removes a key.",
    )


@strawberry.input(description="An event to record, identified by the partner's event id.")
class EventInput:
    event_id: str = strawberry.field(
        description="The partner's id of the event, 1-128 characters, unique per database: "
        "sending it again records nothing new."
    )
    contact_external_id: str = strawberry.field(
        description="External id of the contact (it must exist: upsertContacts first)."
    )
    type: str = strawberry.field(description="Event type key from the catalog (eventTypes).")
    occurred_at: datetime = strawberry.field(
        description="When it happened, ISO 8601 with a UTC offset."
    )
    value: Decimal | None = strawberry.field(
        default=None, description="Numeric value (order amount...), two decimals kept."
    )
    properties: JSON | None = strawberry.field(
        default=None,
        description="Properties of the event type, an object of property key -> value.",
    )


@strawberry.type(description="Result of upsertContacts.")
class UpsertContactsPayload:
    contacts: list[Contact] = strawberry.field(
        description="The contacts as stored, in input order; empty if there were errors."
    )
    created_count: int = strawberry.field(description="How many contacts were new.")
    updated_count: int = strawberry.field(description="How many existing contacts changed.")
    unchanged_count: int = strawberry.field(
        description="How many were already stored exactly so (a re-sent batch)."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Every mistake, path [contacts, index, field...]; if any, nothing was written."
    )


@strawberry.type(description="Result of ingestEvents.")
class IngestEventsPayload:
    ingested_count: int = strawberry.field(description="How many events were recorded now.")
    duplicate_count: int = strawberry.field(
        description="How many event ids were already recorded (skipped)."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Every mistake, path [events, index, field...]; if any, nothing was written."
    )


@strawberry.type(description="Result of deleteContact.")
class DeleteContactPayload:
    deleted_contact_id: GlobalID | None = strawberry.field(
        description="Global id of the deleted contact."
    )
    user_errors: list[UserError] = strawberry.field(description="Input mistakes; empty on success.")


@functools.cache
def _input_names(input_type: type) -> tuple[tuple[str, str], ...]:
    """(python name, GraphQL name) of an input type's fields."""
    converter = StrawberryConfig().name_converter
    fields = input_type.__strawberry_definition__.fields  # type: ignore[attr-defined]
    return tuple((f.python_name, converter.get_graphql_name(f)) for f in fields)


def _given(input: object) -> dict[str, Any]:
    """The input fields the caller set, by GraphQL name."""
    values = vars(input)
    return {
        name: values[attr]
        for attr, name in _input_names(type(input))
        if values[attr] is not strawberry.UNSET
    }


@strawberry.type(description="Contact root queries.")
class ContactsQuery:
    @strawberry.field(
        description="A contact by global id; NOT_FOUND if it is in a database the caller "
        "has no grant on. Requires contact.read.",
        extensions=requires(Perm.CONTACT_READ),
    )
    async def contact(
        self,
        info: Info,
        id: Annotated[GlobalID, strawberry.argument(description="Contact global id.")],
    ) -> Contact | None:
        return Contact.from_model(
            await resolve.get_contact(principal_of(info), node_pk(id, "Contact"))
        )

    @strawberry.field(
        description="A contact by the partner's external id. Requires contact.read.",
        extensions=requires(Perm.CONTACT_READ),
    )
    async def contact_by_external_id(
        self,
        info: Info,
        database_id: Annotated[GlobalID, strawberry.argument(description="Database global id.")],
        external_id: Annotated[str, strawberry.argument(description="The external id.")],
    ) -> Contact | None:
        row = await resolve.get_contact_by_external_id(
            principal_of(info), node_pk(database_id, "Database"), external_id
        )
        return Contact.from_model(row)


@strawberry.type(description="Contact root mutations.")
class ContactsMutation:
    @strawberry.mutation(
        description=f"Create or update up to {ingest.MAX_BATCH} contacts by external id. "
        "Every item is checked against the catalog first: if any is wrong nothing is "
        "written. Re-sending a batch changes nothing. Requires contact.write.",
        extensions=requires(Perm.CONTACT_WRITE),
    )
    async def upsert_contacts(
        self,
        info: Info,
        database_id: Annotated[GlobalID, strawberry.argument(description="Database global id.")],
        contacts: Annotated[list[ContactInput], strawberry.argument(description="The contacts.")],
    ) -> UpsertContactsPayload | None:
        outcome = await ingest.upsert_contacts(
            info.context,
            principal_of(info),
            node_pk(database_id, "Database"),
            [_given(c) for c in contacts],
            load_contacts=_selects(info, "contacts"),
        )
        result = outcome.value
        return UpsertContactsPayload(
            contacts=[Contact.from_model(c) for c in result.contacts] if result else [],
            created_count=result.created if result else 0,
            updated_count=result.updated if result else 0,
            unchanged_count=result.unchanged if result else 0,
            user_errors=user_errors(outcome.errors),
        )

    @strawberry.mutation(
        description=f"Record up to {ingest.MAX_BATCH} events of existing contacts, idempotent "
        "by event id. Every item is checked against the catalog first: if any is wrong "
        "nothing is written. Requires contact.write.",
        extensions=requires(Perm.CONTACT_WRITE),
    )
    async def ingest_events(
        self,
        info: Info,
        database_id: Annotated[GlobalID, strawberry.argument(description="Database global id.")],
        events: Annotated[list[EventInput], strawberry.argument(description="The events.")],
    ) -> IngestEventsPayload | None:
        outcome = await ingest.ingest_events(
            info.context,
            principal_of(info),
            node_pk(database_id, "Database"),
            [_given(e) for e in events],
        )
        result = outcome.value
        return IngestEventsPayload(
            ingested_count=result.ingested if result else 0,
            duplicate_count=result.duplicates if result else 0,
            user_errors=user_errors(outcome.errors),
        )

    @strawberry.mutation(
        description="Delete a contact and its events (run reports keep their recipients). "
        "Audited. Requires contact.delete.",
        extensions=requires(Perm.CONTACT_DELETE),
    )
    async def delete_contact(
        self,
        info: Info,
        id: Annotated[GlobalID, strawberry.argument(description="Contact global id.")],
    ) -> DeleteContactPayload | None:
        outcome = await resolve.delete_contact(
            info.context, principal_of(info), node_pk(id, "Contact")
        )
        return DeleteContactPayload(
            deleted_contact_id=None
            if outcome.value is None
            else global_id("Contact", outcome.value),
            user_errors=user_errors(outcome.errors),
        )
