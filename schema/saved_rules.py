"""Saved rules (presets and favourites): the `SavedRule` type, its root fields and mutations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from models import SavedRule as SavedRuleRow
from permissions.classes import principal_of, requires
from permissions.names import Perm
from permissions.rules import can_edit
from resolvers import saved_rules as resolve
from resolvers.outcome import Outcome
from schema.accounts import User
from schema.base import After, DatabaseIdArg, First, Info, UserError, user_errors
from schema.databases import Database
from schema.definition import DefinitionNode, DefinitionNodeInput, typed_or_json
from schema.relay import CountedConnection, GlobalID, Node, NodeID, int_ids, node_pk


@strawberry.enum(description="PRESET: shared with everyone in the database; FAVOURITE: yours only.")
class SavedRuleKind(Enum):
    PRESET = strawberry.enum_value(
        "preset", description="Shared with everyone who sees the database."
    )
    FAVOURITE = strawberry.enum_value("favourite", description="Seen only by its author.")


@strawberry.type(name="SavedRule", description="A rule kept for reuse in segment definitions.")
class SavedRule(Node):
    id: NodeID[int]
    row: strawberry.Private[SavedRuleRow]

    @classmethod
    def from_model(cls, row: SavedRuleRow) -> SavedRule:
        """The GraphQL form of a SavedRule row."""
        return cls(id=row.id, row=row)

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[SavedRule | None]:
        loader = info.context.loader("saved_rule", resolve.rules_loader(principal_of(info)))
        rows = await loader.load_many([-1 if i is None else i for i in int_ids(node_ids)])
        return [cls.from_model(r) if r else None for r in rows]

    @strawberry.field(description="Name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Preset (shared) or favourite (yours).")
    def kind(self) -> SavedRuleKind:
        return SavedRuleKind(self.row.kind)

    @strawberry.field(description="The rule as a typed tree node (paths start at the rule).")
    def rule(self) -> DefinitionNode:
        return DefinitionNode.from_json(self.row.definition, "")

    @strawberry.field(description="The rule as one node of the JSON definition format.")
    def rule_json(self) -> JSON:
        return self.row.definition

    @strawberry.field(description="Increases on every change; give it back to updateSavedRule.")
    def version(self) -> int:
        return self.row.version

    @strawberry.field(description="When it was saved.")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed.")
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at

    @strawberry.field(description="True if the caller may change or delete it.")
    def editable(self, info: Info) -> bool:
        return can_edit(info.context.principal, self.row)

    @strawberry.field(description="Its contact database.")
    async def database(self, info: Info) -> Database | None:
        row = await info.context.loaders.database.load(self.row.database_id)  # type: ignore[attr-defined]
        return Database.from_model(row) if row else None

    @strawberry.field(description="Who saved it.")
    async def author(self, info: Info) -> User | None:
        return await User.load(info, self.row.author_id)  # type: ignore[attr-defined]


@strawberry.type(description="Saved rules, page by page.")
class SavedRuleConnection(CountedConnection[SavedRule]):
    pass


@strawberry.type(description="Saved rule root queries.")
class SavedRulesQuery:
    @strawberry.field(
        description="A database's presets and your favourites, by name.",
        extensions=requires(Perm.SEGMENT_READ),
    )
    async def saved_rules(
        self,
        info: Info,
        database_id: DatabaseIdArg,
        kind: Annotated[
            SavedRuleKind | None, strawberry.argument(description="Only this kind.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> SavedRuleConnection | None:
        page = await resolve.list_rules(
            principal_of(info),
            node_pk(database_id, "Database"),
            kind.value if kind else None,
            first,
            after,
        )
        return SavedRuleConnection.from_page(page, SavedRule.from_model)


@strawberry.input(description="A rule to save.")
class CreateSavedRuleInput:
    database_id: GlobalID = strawberry.field(description="The Database it belongs to.")
    name: str = strawberry.field(description="Name, 1-200 characters.")
    kind: SavedRuleKind = strawberry.field(
        default=SavedRuleKind.FAVOURITE, description="Preset (shared) or favourite (yours)."
    )
    rule: DefinitionNodeInput | None = strawberry.field(
        default=None, description="The rule as a typed node (or give ruleJson)."
    )
    rule_json: JSON | None = strawberry.field(
        default=None, description="The rule as one node of the JSON format (or give rule)."
    )


@strawberry.input(description="Changes to a saved rule; omitted fields stay as they are.")
class UpdateSavedRuleInput:
    id: GlobalID = strawberry.field(description="The SavedRule.")
    version: int = strawberry.field(description="The version the changes are based on.")
    name: str | None = strawberry.field(default=None, description="New name.")
    kind: SavedRuleKind | None = strawberry.field(default=None, description="New kind.")
    rule: DefinitionNodeInput | None = strawberry.field(default=None, description="New rule.")
    rule_json: JSON | None = strawberry.field(default=None, description="New rule as JSON.")


@strawberry.type(description="Result of a saved rule mutation.")
class SavedRulePayload:
    saved_rule: SavedRule | None = strawberry.field(
        description="The rule as saved; on CONFLICT, the current one."
    )
    user_errors: list[UserError] = strawberry.field(description="Input mistakes; empty on success.")


@strawberry.type(description="Result of deleteSavedRule.")
class DeleteSavedRulePayload:
    deleted_id: GlobalID | None = strawberry.field(description="The deleted rule's id.")
    user_errors: list[UserError] = strawberry.field(description="Why it was not deleted.")


def _payload(outcome: Outcome[SavedRuleRow]) -> SavedRulePayload:
    return SavedRulePayload(
        saved_rule=SavedRule.from_model(outcome.value) if outcome.value else None,
        user_errors=user_errors(outcome.errors),
    )


@strawberry.type(description="Saved rule root mutations.")
class SavedRulesMutation:
    @strawberry.mutation(
        description="Save a rule as a preset or one of your favourites.",
        extensions=requires(Perm.RULE_WRITE),
    )
    async def create_saved_rule(
        self,
        info: Info,
        input: Annotated[CreateSavedRuleInput, strawberry.argument(description="The rule.")],
    ) -> SavedRulePayload | None:
        rule, field, errors = typed_or_json(input.rule, input.rule_json, "rule", "ruleJson")
        if errors:
            return SavedRulePayload(saved_rule=None, user_errors=user_errors(errors))
        outcome = await resolve.create_rule(
            info.context,
            principal_of(info),
            node_pk(input.database_id, "Database"),
            input.name,
            input.kind.value,
            rule,
            field,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description="Change a saved rule you may edit; a stale version is CONFLICT.",
        extensions=requires(Perm.RULE_WRITE),
    )
    async def update_saved_rule(
        self,
        info: Info,
        input: Annotated[UpdateSavedRuleInput, strawberry.argument(description="The changes.")],
    ) -> SavedRulePayload | None:
        rule, field, errors = typed_or_json(input.rule, input.rule_json, "rule", "ruleJson")
        pk = node_pk(input.id, "SavedRule")
        if errors:
            return SavedRulePayload(saved_rule=None, user_errors=user_errors(errors))
        outcome = await resolve.update_rule(
            info.context,
            principal_of(info),
            pk,
            input.version,
            input.name,
            input.kind.value if input.kind else None,
            rule,
            field,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description="Delete a saved rule you may edit.",
        extensions=requires(Perm.RULE_WRITE),
    )
    async def delete_saved_rule(
        self,
        info: Info,
        id: Annotated[GlobalID, strawberry.argument(description="The SavedRule.")],
    ) -> DeleteSavedRulePayload | None:
        outcome = await resolve.delete_rule(
            info.context, principal_of(info), node_pk(id, "SavedRule")
        )
        return DeleteSavedRulePayload(
            deleted_id=GlobalID("SavedRule", str(outcome.value)) if outcome.value else None,
            user_errors=user_errors(outcome.errors),
        )
