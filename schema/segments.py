"""Segments: the `Segment` type, its root fields and mutations (work in resolvers.segments)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from models import Segment as SegmentRow
from permissions.classes import principal_of, requires
from permissions.errors import InputError
from permissions.names import Perm
from permissions.rules import can_edit, may
from resolvers import segments as resolve
from resolvers.context import RequestContext
from resolvers.outcome import Outcome
from schema import selection
from schema.accounts import User
from schema.base import After, DatabaseIdArg, First, Info, UserError, user_errors
from schema.databases import Database
from schema.definition import DefinitionInput, SegmentDefinition, typed_or_json
from schema.fast_fields import DECLINE, plain_getter
from schema.relay import CountedConnection, GlobalID, Node, NodeID, int_ids, node_pk, selects

if TYPE_CHECKING:
    from schema.contacts import Contact
    from schema.plans import Plan

ContactType = Annotated["Contact", strawberry.lazy("schema.contacts")]
PlanType = Annotated["Plan", strawberry.lazy("schema.plans")]


def _loader(ctx: RequestContext, name: str, factory: Any) -> Any:
    """This request's loader `name`, built for the caller by `factory(principal)`."""
    return ctx.loader(name, factory(ctx.principal))


@strawberry.type(description="A segment's size on one day (taken by counts as of now).")
class SegmentSize:
    day: dt.date = strawberry.field(description="The day (UTC).")
    count: int = strawberry.field(description="Members counted that day (the day's last count).")
    taken_at: dt.datetime = strawberry.field(description="When that count ran.")


@strawberry.type(description="One node of a segment's tree and whether it holds for a contact.")
class NodeTruth:
    path: str = strawberry.field(
        description="The node's path (as in DefinitionNode.path and validation errors); a "
        "contact condition's path ends in .conditions[n]."
    )
    kind: str = strawberry.field(description="The node kind (and, or, contact, event, ...).")
    value: bool = strawberry.field(description="True if the node holds for the contact.")


@strawberry.type(description="Why a contact is or is not in a segment, node by node.")
class SegmentExplanation:
    member: bool = strawberry.field(description="True if the contact is a member.")
    nodes: list[NodeTruth] = strawberry.field(description="Every node's truth, by path.")
    contact_row: strawberry.Private[Any]

    @strawberry.field(description="The contact explained.")
    def contact(self) -> ContactType:
        from schema.contacts import Contact

        return Contact.from_model(self.contact_row)


@strawberry.type(description="The compiled PostgreSQL statement of a segment (admin).")
class CompiledSql:
    statement: str = strawberry.field(
        description="One statement selecting the members' contact_id; values are $n parameters."
    )
    parameters: JSON = strawberry.field(description="The bind values, $1 first (dates as text).")


@strawberry.type(description="A page of a segment's member contacts.")
class SegmentMemberConnection(relay.Connection[ContactType]):
    pass


@strawberry.type(name="Segment", description="A named condition tree over one contact database.")
class Segment(Node):
    id: NodeID[int]
    row: strawberry.Private[SegmentRow]
    counting: strawberry.Private[asyncio.Task[int] | None] = None  # this response's count
    # False when the response is known not to ask `count` of it (a list that does not):
    # lastCount and countedAt are then plain values (schema/fast_fields.py); None: unknown.
    count_asked: strawberry.Private[bool | None] = None
    known_author: strawberry.Private[Any] = DECLINE  # the author a list loaded for it

    @classmethod
    def from_model(
        cls, row: SegmentRow, *, count_asked: bool | None = None, known_author: Any = DECLINE
    ) -> Segment:
        """The GraphQL form of a Segment row (a list passes what it already knows)."""
        return cls(id=row.id, row=row, count_asked=count_asked, known_author=known_author)

    @classmethod
    async def load(cls, info: Info, pk: int) -> Segment | None:
        """A visible live segment by number through this request's loader, or None."""
        row = await _loader(info.context, "segment", resolve.segments_loader).load(pk)
        return cls.from_model(row) if row else None

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Segment | None]:
        loader = _loader(info.context, "segment", resolve.segments_loader)
        rows = await loader.load_many([-1 if i is None else i for i in int_ids(node_ids)])
        return [cls.from_model(r) if r else None for r in rows]

    @strawberry.field(description="Name (not unique).")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Free text.")
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="Folder it is filed in (empty: none).")
    def folder(self) -> str:
        return self.row.folder

    @strawberry.field(description="Tags.")
    def tags(self) -> list[str]:
        return list(self.row.tags or [])

    @strawberry.field(description="Increases on every change; give it back to updateSegment.")
    def version(self) -> int:
        return self.row.version

    @strawberry.field(description="The definition as typed objects.")
    def definition(self) -> SegmentDefinition:
        return SegmentDefinition.from_json(self.row.definition)

    @strawberry.field(
        description="The definition in the JSON format of segmentation/README.md. Segment "
        'references are stored as plain segment numbers, {"segment": {"id": 12}}, where 12 is '
        "the number inside the Segment global id; as input (definitionJson arguments) `id` "
        "takes either that number or the Segment global id, so this value can be sent back "
        "unchanged."
    )
    def definition_json(self) -> JSON:
        return self.row.definition

    def _count_now(self, info: Info) -> asyncio.Task[int]:
        """The count as of now, run once per object and response (shared by count,
        lastCount and countedAt)."""
        if self.counting is None:
            self.counting = asyncio.ensure_future(
                resolve.count_segment(info.context, self.row, None)
            )
        return self.counting

    def _counted_here(self, info: Info) -> bool:
        """True if this response also asks `count` (as of now) of this segment."""
        key = ("segment.count", selection.parent_keys(info))
        memo = info.context.memo
        if key not in memo:
            memo[key] = may(info.context.principal, Perm.SEGMENT_COUNT) and any(
                args.get("as_of") is None and args.get("asOf") is None
                for args in selection.sibling_arguments(info, "count")
            )
        return memo[key]

    async def _after_count(self, info: Info, attribute: str) -> Any:
        with contextlib.suppress(Exception):  # the count field itself reports its error
            await self._count_now(info)
        return getattr(self.row, attribute)

    @strawberry.field(
        description="Members at the last count as of now (null: never counted; a new "
        "definition clears it). When the same response also asks `count` without asOf, "
        "this is that count, whatever the field order."
    )
    @plain_getter(lambda self: DECLINE if self.count_asked is not False else self.row.last_count)
    def last_count(self, info: Info) -> int | None:
        if self._counted_here(info):
            return self._after_count(info, "last_count")  # type: ignore[return-value]
        return self.row.last_count

    @strawberry.field(
        description="When lastCount was taken (null: never counted); with `count` in the same "
        "response, the time of that count."
    )
    @plain_getter(lambda self: DECLINE if self.count_asked is not False else self.row.counted_at)
    def counted_at(self, info: Info) -> dt.datetime | None:
        if self._counted_here(info):
            return self._after_count(info, "counted_at")  # type: ignore[return-value]
        return self.row.counted_at

    @strawberry.field(description="When it was created.")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed.")
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at

    @strawberry.field(description="When it was deleted (seen through plans that still use it).")
    def deleted_at(self) -> dt.datetime | None:
        return self.row.deleted_at

    @strawberry.field(description="True if the caller may change or delete it.")
    def editable(self, info: Info) -> bool:
        return can_edit(info.context.principal, self.row)

    @strawberry.field(description="Its contact database.")
    async def database(self, info: Info) -> Database | None:
        row = await info.context.loaders.database.load(self.row.database_id)  # type: ignore[attr-defined]
        return Database.from_model(row) if row else None

    @strawberry.field(description="Who created it.")
    @plain_getter(lambda self: self.known_author)
    async def author(self, info: Info) -> User | None:
        return await User.load(info, self.row.author_id)  # type: ignore[attr-defined]

    @strawberry.field(
        description="How many contacts are members now (or as of `asOf`). A count as of now "
        "is kept as lastCount / countedAt and in sizeHistory.",
        extensions=requires(Perm.SEGMENT_COUNT),
    )
    async def count(
        self,
        info: Info,
        as_of: Annotated[
            dt.datetime | None,
            strawberry.argument(description="Evaluate relative dates against this time."),
        ] = None,
    ) -> int | None:
        if as_of is None:
            return await self._count_now(info)
        return await resolve.count_segment(info.context, self.row, as_of)

    @strawberry.field(
        description="A page of member contacts, in contact order.",
        extensions=requires(Perm.SEGMENT_COUNT),
    )
    async def preview(
        self,
        info: Info,
        first: First = None,
        after: After = None,
    ) -> SegmentMemberConnection | None:
        from schema.contacts import Contact

        page = await resolve.preview_segment(info.context, self.row, first, after)
        edges = [
            relay.Edge(cursor=cursor, node=Contact.from_model(row))
            for row, cursor in zip(page.contacts, page.cursors, strict=True)
        ]
        return SegmentMemberConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
        )

    @strawberry.field(
        description="Why a contact of this database is or is not a member, node by node. "
        "NOT_FOUND for a contact of another database.",
        extensions=requires(Perm.SEGMENT_COUNT),
    )
    async def explain(
        self,
        info: Info,
        contact_id: Annotated[GlobalID, strawberry.argument(description="A Contact id.")],
        as_of: Annotated[
            dt.datetime | None,
            strawberry.argument(description="Evaluate relative dates against this time."),
        ] = None,
    ) -> SegmentExplanation | None:
        explanation, contact = await resolve.explain_segment(
            info.context, self.row, node_pk(contact_id, "Contact"), as_of
        )
        return SegmentExplanation(
            member=explanation.member,
            nodes=[NodeTruth(path=n.path, kind=n.kind, value=n.value) for n in explanation.nodes],
            contact_row=contact,
        )

    @strawberry.field(description="Live segments this one references (combined segments).")
    async def uses(self, info: Info) -> list[Segment]:
        loader = _loader(info.context, "segment", resolve.segments_loader)
        rows = await loader.load_many(resolve.referenced_ids(self.row.definition))
        return [Segment.from_model(r) for r in rows if r is not None]

    @strawberry.field(description="Live segments that reference this one.")
    async def used_by(self, info: Info) -> list[Segment]:
        ids = await _loader(info.context, "segment_used_by", resolve.used_by_loader).load(
            self.row.id
        )
        rows = await _loader(info.context, "segment", resolve.segments_loader).load_many(ids)
        return [Segment.from_model(r) for r in rows if r is not None]

    @strawberry.field(
        description="Plans on this segment (not deleted), by name.",
        extensions=requires(Perm.PLAN_READ),
    )
    async def associated_plans(self, info: Info) -> list[PlanType] | None:
        from schema.plans import Plan

        rows = await _loader(info.context, "segment_plans", resolve.plans_loader).load(self.row.id)
        return [Plan.from_model(r) for r in rows]

    @strawberry.field(
        description="The compiled PostgreSQL statement (needs segment.sql).",
        extensions=requires(Perm.SEGMENT_SQL),
    )
    async def sql(
        self,
        info: Info,
        as_of: Annotated[
            dt.datetime | None,
            strawberry.argument(description="Resolve relative dates against this time."),
        ] = None,
    ) -> CompiledSql | None:
        compiled = await resolve.compile_stored(info.context, self.row, as_of)
        return CompiledSql(
            statement=compiled.sql, parameters=resolve.sql_parameters(compiled.params)
        )

    @strawberry.field(description="Its size per day (counts as of now), oldest first.")
    async def size_history(self, info: Info) -> list[SegmentSize]:
        rows = await info.context.loader("segment_snapshots", resolve.snapshots_by_segment).load(
            self.row.id
        )
        return [SegmentSize(day=r.day, count=r.count, taken_at=r.taken_at) for r in rows]


@strawberry.type(description="Segments, page by page.")
class SegmentConnection(CountedConnection[Segment]):
    pass


@strawberry.enum(description="What segments are sorted by (then by id).")
class SegmentOrderField(Enum):
    NAME = strawberry.enum_value("name", description="By name.")
    CREATED_AT = strawberry.enum_value("created_at", description="By creation time.")
    AUTHOR = strawberry.enum_value("author", description="By the author's username.")
    COUNT = strawberry.enum_value("count", description="By lastCount (never counted: as -1).")


@strawberry.enum(description="Sort direction.")
class SortDirection(Enum):
    ASC = strawberry.enum_value("asc", description="Ascending (ties by id ascending).")
    DESC = strawberry.enum_value("desc", description="Descending (ties by id ascending).")


@strawberry.input(description="Which segments to list; all given conditions must hold.")
class SegmentFilter:
    name_contains: str | None = strawberry.field(
        default=None, description="Name contains this text (not case-sensitive)."
    )
    author_id: GlobalID | None = strawberry.field(default=None, description="Created by this User.")
    created_after: dt.datetime | None = strawberry.field(
        default=None, description="Created at or after this time."
    )
    created_before: dt.datetime | None = strawberry.field(
        default=None, description="Created before this time."
    )


def _user_pk(value: GlobalID | None) -> int | None:
    return None if value is None else node_pk(value, "User")


@strawberry.type(description="A segment's count of a definition that is not saved yet.")
class DefinitionCount:
    count: int | None = strawberry.field(description="Members now; null when userErrors.")
    user_errors: list[UserError] = strawberry.field(
        description="Mistakes in the definition, with the node path after the input field."
    )


DEFINITION_JSON_DESCRIPTION = (
    "The definition in the JSON format of segmentation/README.md (or give definition, not "
    "both); a segment reference's id is a segment number or a Segment global id, e.g. "
    '{"root": {"segment": {"id": 12}}}.'
)
DefinitionArg = Annotated[
    DefinitionInput | None,
    strawberry.argument(description="The definition as typed input (or give definitionJson)."),
]
DefinitionJsonArg = Annotated[
    JSON | None,
    strawberry.argument(description=DEFINITION_JSON_DESCRIPTION),
]


@strawberry.type(description="Segment root queries.")
class SegmentsQuery:
    @strawberry.field(
        description="A database's segments, page by page, filtered and sorted.",
        extensions=requires(Perm.SEGMENT_READ),
    )
    async def segments(
        self,
        info: Info,
        database_id: DatabaseIdArg,
        first: First = None,
        after: After = None,
        filter: Annotated[
            SegmentFilter | None, strawberry.argument(description="Conditions.")
        ] = None,
        order_by: Annotated[
            SegmentOrderField, strawberry.argument(description="Sort key.")
        ] = SegmentOrderField.NAME,
        direction: Annotated[
            SortDirection, strawberry.argument(description="Sort direction.")
        ] = SortDirection.ASC,
    ) -> SegmentConnection | None:
        where = filter or SegmentFilter()
        page = await resolve.list_segments(
            principal_of(info),
            node_pk(database_id, "Database"),
            where=resolve.SegmentFilter(
                name_contains=where.name_contains,
                author_id=_user_pk(where.author_id),
                created_after=where.created_after,
                created_before=where.created_before,
            ),
            order=order_by.value,
            descending=direction == SortDirection.DESC,
            first=first,
            after=after,
        )
        # What the page's items will be asked, answered here once for all of them.
        authors: dict[int, Any] = {}
        if selects(info, "edges", "node", "author"):
            authors = await User.load_many(info, (row.author_id for row in page.rows))  # type: ignore[attr-defined]
        count_asked = None if selects(info, "edges", "node", "count") else False
        return SegmentConnection.from_page(
            page,
            lambda row: Segment.from_model(
                row, count_asked=count_asked, known_author=authors.get(row.author_id, DECLINE)
            ),
        )

    @strawberry.field(
        description="One segment; NOT_FOUND if deleted or in a database the caller has no "
        "grant on.",
        extensions=requires(Perm.SEGMENT_READ),
    )
    async def segment(
        self,
        info: Info,
        id: Annotated[GlobalID, strawberry.argument(description="A Segment id.")],
    ) -> Segment | None:
        return Segment.from_model(
            await resolve.get_segment(principal_of(info), node_pk(id, "Segment"))
        )

    @strawberry.field(
        description="Live count of a definition that is not saved yet (while editing).",
        extensions=requires(Perm.SEGMENT_COUNT),
    )
    async def count_definition(
        self,
        info: Info,
        database_id: DatabaseIdArg,
        definition: DefinitionArg = None,
        definition_json: DefinitionJsonArg = None,
        as_of: Annotated[
            dt.datetime | None,
            strawberry.argument(description="Evaluate relative dates against this time."),
        ] = None,
        segment_id: Annotated[
            GlobalID | None,
            strawberry.argument(
                description="The Segment being edited, if any: a reference back to it is a cycle."
            ),
        ] = None,
    ) -> DefinitionCount | None:
        data, field, errors = typed_or_json(
            definition, definition_json, "definition", "definitionJson"
        )
        if data is None:
            errors.append(InputError(("definition",), "A definition is required.", "REQUIRED"))
        if errors:
            return DefinitionCount(count=None, user_errors=user_errors(errors))
        outcome = await resolve.count_unsaved(
            info.context,
            principal_of(info),
            node_pk(database_id, "Database"),
            data,
            field,
            as_of,
            node_pk(segment_id, "Segment") if segment_id is not None else None,
        )
        return DefinitionCount(count=outcome.value, user_errors=user_errors(outcome.errors))


@strawberry.input(description="A new segment.")
class CreateSegmentInput:
    database_id: GlobalID = strawberry.field(description="The Database it applies to.")
    name: str = strawberry.field(description="Name, 1-200 characters.")
    description: str = strawberry.field(default="", description="Free text.")
    folder: str = strawberry.field(default="", description="Folder (empty: none).")
    tags: list[str] = strawberry.field(default_factory=list, description="Tags (at most 20).")
    definition: DefinitionInput | None = strawberry.field(
        default=None, description="The definition as typed input (or give definitionJson)."
    )
    definition_json: JSON | None = strawberry.field(
        default=None, description=DEFINITION_JSON_DESCRIPTION
    )


@strawberry.input(description="Changes to a segment; omitted fields stay as they are.")
class UpdateSegmentInput:
    id: GlobalID = strawberry.field(description="The Segment.")
    version: int = strawberry.field(
        description="The version the changes are based on; a stale one is a CONFLICT."
    )
    name: str | None = strawberry.field(default=None, description="New name.")
    description: str | None = strawberry.field(default=None, description="New description.")
    folder: str | None = strawberry.field(default=None, description="New folder.")
    tags: list[str] | None = strawberry.field(default=None, description="New tags.")
    definition: DefinitionInput | None = strawberry.field(
        default=None, description="New definition as typed input."
    )
    definition_json: JSON | None = strawberry.field(
        default=None, description=f"New definition. {DEFINITION_JSON_DESCRIPTION}"
    )


@strawberry.type(description="Result of a segment mutation.")
class SegmentPayload:
    segment: Segment | None = strawberry.field(
        description="The segment as saved; on CONFLICT, the current one."
    )
    user_errors: list[UserError] = strawberry.field(description="Input mistakes; empty on success.")


@strawberry.type(description="Result of deleteSegment.")
class DeleteSegmentPayload:
    deleted_id: GlobalID | None = strawberry.field(description="The deleted segment's id.")
    user_errors: list[UserError] = strawberry.field(description="Why it was not deleted.")


def _payload(outcome: Outcome[SegmentRow]) -> SegmentPayload:
    return SegmentPayload(
        segment=Segment.from_model(outcome.value) if outcome.value else None,
        user_errors=user_errors(outcome.errors),
    )


def _fields(data: CreateSegmentInput | UpdateSegmentInput) -> tuple[resolve.SegmentFields, list]:
    definition, field, errors = typed_or_json(
        data.definition, data.definition_json, "definition", "definitionJson"
    )
    fields = resolve.SegmentFields(
        name=data.name,
        description=data.description,
        folder=data.folder,
        tags=data.tags,
        definition=definition,
        definition_field=field,
    )
    return fields, errors


@strawberry.type(description="Segment root mutations.")
class SegmentsMutation:
    @strawberry.mutation(
        description="Create a segment (author: the caller).",
        extensions=requires(Perm.SEGMENT_WRITE),
    )
    async def create_segment(
        self,
        info: Info,
        input: Annotated[CreateSegmentInput, strawberry.argument(description="The segment.")],
    ) -> SegmentPayload | None:
        fields, errors = _fields(input)
        if errors:
            return SegmentPayload(segment=None, user_errors=user_errors(errors))
        outcome = await resolve.create_segment(
            info.context, principal_of(info), node_pk(input.database_id, "Database"), fields
        )
        return _payload(outcome)

    @strawberry.mutation(
        description="Change a segment you may edit. A stale `version` returns userError "
        "CONFLICT with the current segment; a new definition clears lastCount.",
        extensions=requires(Perm.SEGMENT_WRITE),
    )
    async def update_segment(
        self,
        info: Info,
        input: Annotated[UpdateSegmentInput, strawberry.argument(description="The changes.")],
    ) -> SegmentPayload | None:
        fields, errors = _fields(input)
        pk = node_pk(input.id, "Segment")
        if errors:
            return SegmentPayload(segment=None, user_errors=user_errors(errors))
        return _payload(
            await resolve.update_segment(
                info.context, principal_of(info), pk, input.version, fields
            )
        )

    @strawberry.mutation(
        description='Copy a segment you can see ("Copy of <name>" unless named); you are the '
        "copy's author.",
        extensions=requires(Perm.SEGMENT_WRITE),
    )
    async def clone_segment(
        self,
        info: Info,
        id: Annotated[GlobalID, strawberry.argument(description="The Segment to copy.")],
        name: Annotated[str | None, strawberry.argument(description="Name of the copy.")] = None,
    ) -> SegmentPayload | None:
        return _payload(
            await resolve.clone_segment(
                info.context, principal_of(info), node_pk(id, "Segment"), name
            )
        )

    @strawberry.mutation(
        description="Delete a segment you may edit. Its plans keep working; refused (IN_USE) "
        "while other segments reference it.",
        extensions=requires(Perm.SEGMENT_WRITE),
    )
    async def delete_segment(
        self,
        info: Info,
        id: Annotated[GlobalID, strawberry.argument(description="The Segment.")],
    ) -> DeleteSegmentPayload | None:
        outcome = await resolve.delete_segment(
            info.context, principal_of(info), node_pk(id, "Segment")
        )
        return DeleteSegmentPayload(
            deleted_id=GlobalID("Segment", str(outcome.value)) if outcome.value else None,
            user_errors=user_errors(outcome.errors),
        )
