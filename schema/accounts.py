"""Accounts: users, profiles, API keys, login, and `me`. Types and root fields only."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from models import ApiKey as ApiKeyRow
from models import Profile as ProfileRow
from models import User as UserRow
from permissions.classes import principal_of, requires
from permissions.names import PERM_DESCRIPTIONS, Perm
from permissions.rules import can_see_database, may
from resolvers import apikeys as resolve_keys
from resolvers import auth as resolve_auth
from resolvers import profiles as resolve_profiles
from resolvers import users as resolve_users
from schema.base import After, First, Info, UserError, user_errors
from schema.databases import Database
from schema.relay import (
    CountedConnection,
    GlobalID,
    Node,
    NodeID,
    global_id,
    int_ids,
    node_pk,
    selects,
)

Permission = strawberry.enum(
    Perm, name="Permission", description="A permission from the catalog a profile can hold."
)
for _value in Permission.__strawberry_definition__.values:  # type: ignore[attr-defined]
    _value.description = PERM_DESCRIPTIONS[Perm(_value.value)]


@strawberry.enum(description="What kind of caller `me` is.")
class PrincipalKind(Enum):
    USER = strawberry.enum_value("user", description="A person logged in with a token.")
    API_KEY = strawberry.enum_value("api_key", description="A machine using an API key.")


async def _visible_databases(info: Info, ids: list[int]) -> list[Database]:
    """Databases by id, keeping only those the caller may see."""
    principal = principal_of(info)
    visible = [i for i in ids if can_see_database(principal, i)]
    rows = await info.context.loaders.database.load_many(visible)
    return [Database.from_model(r) for r in rows if r is not None]


@strawberry.type(description="A permission and what it allows.")
class PermissionInfo:
    permission: Permission = strawberry.field(description="The permission.")
    description: str = strawberry.field(description="What it allows.")


@strawberry.type(description="A named set of permissions; built-in profiles cannot be changed.")
class Profile(Node):
    id: NodeID[int]
    name: str = strawberry.field(description="Unique name.")
    description: str = strawberry.field(description="Free text.")
    builtin: bool = strawberry.field(description="True for ADMIN, POWERUSER, USER and GUEST.")
    permissions: list[Permission] = strawberry.field(description="The permissions it holds.")

    @classmethod
    def from_model(cls, row: ProfileRow) -> Profile:
        """The GraphQL form of a Profile row."""
        known = {p.value for p in Perm}
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            builtin=row.builtin,
            permissions=[Perm(p) for p in sorted(row.permissions or []) if p in known],
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Profile | None]:
        """Profiles by id; like `profiles`, readable by every authenticated caller."""
        principal_of(info)
        ids = int_ids(node_ids)
        rows = await info.context.loaders.profile.load_many([i for i in ids if i is not None])
        found = {r.id: cls.from_model(r) for r in rows if r is not None}
        return [found.get(i) if i is not None else None for i in ids]


@strawberry.type(description="A person who logs in with username and password.")
class User(Node):
    id: NodeID[int]
    username: str = strawberry.field(description="Login name, unique.")
    display_name: str = strawberry.field(description="Name shown to people.")
    is_active: bool = strawberry.field(description="False once deactivated: cannot log in.")
    created_at: datetime = strawberry.field(description="When the user was created.")
    profile_id: strawberry.Private[int]
    email_address: strawberry.Private[str | None]
    login_at: strawberry.Private[datetime | None]
    is_caller: strawberry.Private[bool] = False  # login: the caller is this user

    @classmethod
    def from_model(cls, row: UserRow, *, is_caller: bool = False) -> User:
        """The GraphQL form of a User row (`is_caller`: the request's user, e.g. at login)."""
        return cls(
            id=row.id,
            username=row.username,
            display_name=row.display_name,
            is_active=row.is_active,
            created_at=row.created_at,
            profile_id=row.profile_id,  # type: ignore[attr-defined]
            email_address=row.email,
            login_at=row.last_login_at,
            is_caller=is_caller,
        )

    @classmethod
    async def load(cls, info: Info, pk: int) -> User | None:
        """A user by id through this request's loader (authors, creators), or None."""
        row = await info.context.loaders.user.load(pk)
        return cls.from_model(row) if row else None

    @classmethod
    async def load_many(cls, info: Info, ids: Iterable[int | None]) -> dict[int, User | None]:
        """Users by id in one batch through this request's loader (a list's authors)."""
        wanted = sorted({i for i in ids if i is not None})
        rows = await info.context.loaders.user.load_many(wanted)
        return {i: cls.from_model(r) if r else None for i, r in zip(wanted, rows, strict=True)}

    def _personal(self, info: Info) -> bool:
        """Staff personal data is shown to the user itself and to holders of user.manage."""
        principal = info.context.principal
        if self.is_caller:
            return True
        if principal is None:
            return False
        own = principal.is_user and principal.user_id == self.id
        return own or may(principal, Perm.USER_MANAGE)

    @strawberry.field(
        description="E-mail address, if known. Personal data: null unless the caller is this "
        "user or holds user.manage."
    )
    def email(self, info: Info) -> str | None:
        return self.email_address if self._personal(info) else None

    @strawberry.field(
        description="Last successful login. Null if never, or unless the caller is this user "
        "or holds user.manage."
    )
    def last_login_at(self, info: Info) -> datetime | None:
        return self.login_at if self._personal(info) else None

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[User | None]:
        """Users by id for callers with user.manage; anyone else finds only itself."""
        principal = principal_of(info)
        manager = may(principal, Perm.USER_MANAGE)
        ids = [
            i if manager or (principal.is_user and i == principal.user_id) else None
            for i in int_ids(node_ids)
        ]
        rows = await info.context.loaders.user.load_many([i for i in ids if i is not None])
        found = {r.id: cls.from_model(r) for r in rows if r is not None}
        return [found.get(i) if i is not None else None for i in ids]

    @strawberry.field(description="The user's profile.")
    async def profile(self, info: Info) -> Profile:
        return Profile.from_model(await info.context.loaders.profile.load(self.profile_id))

    @strawberry.field(
        description="Databases the user is granted (only those the caller may see). "
        "Users with database.manage see every database regardless."
    )
    async def databases(self, info: Info) -> list[Database]:
        ids = await info.context.loaders.user_database_ids.load(self.id)
        return await _visible_databases(info, ids)


@strawberry.type(description="A machine credential. Its secret is shown only when created.")
class ApiKey(Node):
    id: NodeID[int]
    name: str = strawberry.field(description="What the key is for.")
    prefix: str = strawberry.field(description="Public part of the key (`cpk_<prefix>_...`).")
    created_at: datetime = strawberry.field(description="When it was created.")
    last_used_at: datetime | None = strawberry.field(
        description="Last use (updated at most once a minute)."
    )
    revoked_at: datetime | None = strawberry.field(description="When it was revoked, if it was.")
    profile_id: strawberry.Private[int]
    created_by_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, row: ApiKeyRow) -> ApiKey:
        """The GraphQL form of an ApiKey row."""
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            profile_id=row.profile_id,  # type: ignore[attr-defined]
            created_by_id=row.created_by_id,  # type: ignore[attr-defined]
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[ApiKey | None]:
        """Keys by id for callers with apikey.manage; a key calling finds only itself."""
        principal = principal_of(info)
        manager = may(principal, Perm.APIKEY_MANAGE)
        ids = [
            i if manager or (i is not None and i == principal.api_key_id) else None
            for i in int_ids(node_ids)
        ]
        loader = info.context.loader("api_key", resolve_keys.api_keys_by_id)
        rows = await loader.load_many([i for i in ids if i is not None])
        found = {r.id: cls.from_model(r) for r in rows if r is not None}
        return [found.get(i) if i is not None else None for i in ids]

    @strawberry.field(description="True until revoked.")
    def is_active(self) -> bool:
        return self.revoked_at is None

    @strawberry.field(description="The key's profile.")
    async def profile(self, info: Info) -> Profile:
        return Profile.from_model(await info.context.loaders.profile.load(self.profile_id))

    @strawberry.field(description="Databases the key may use (only those the caller may see).")
    async def databases(self, info: Info) -> list[Database]:
        ids = await info.context.loaders.api_key_database_ids.load(self.id)
        return await _visible_databases(info, ids)

    @strawberry.field(description="The user who created the key; the key writes as this user.")
    async def created_by(self, info: Info) -> User:
        row = await info.context.loaders.user.load(self.created_by_id)
        assert row is not None  # created_by is a RESTRICT foreign key
        return User.from_model(row)


def _capabilities_type() -> type:
    """A type with one Boolean per catalog permission (segment.write -> segmentWrite)."""
    annotations: dict[str, object] = {}
    namespace: dict[str, object] = {"__annotations__": annotations}
    for perm in Perm:
        annotations[perm.name.lower()] = bool
        namespace[perm.name.lower()] = strawberry.field(
            description=f"{PERM_DESCRIPTIONS[perm]} (permission `{perm.value}`)."
        )
    return strawberry.type(
        type("Capabilities", (), namespace),
        description="What the caller's profile allows: one flag per permission of the "
        "catalog, named like the `Permission` enum in camelCase (SEGMENT_WRITE -> "
        "`segmentWrite`). Ask for the flags a screen needs, e.g. `me { capabilities "
        "{ segmentWrite planRun } }`, and hide what is false. The flags are per profile: "
        "database grants and ownership still apply per object (see `editable` on objects).",
    )


Capabilities = _capabilities_type()


def capabilities_of(permissions: frozenset[Perm]) -> object:
    """The Capabilities of a caller holding `permissions`."""
    return Capabilities(**{perm.name.lower(): perm in permissions for perm in Perm})


@strawberry.type(description="The caller: who it is and what it may do, so a UI can hide the rest.")
class Viewer:
    kind: PrincipalKind = strawberry.field(description="A logged-in user or an API key.")
    name: str = strawberry.field(description="Username, or the API key's name and creator.")
    user: User | None = strawberry.field(description="The logged-in user (null for API keys).")
    api_key: ApiKey | None = strawberry.field(description="The API key (null for users).")
    profile: Profile = strawberry.field(description="The caller's profile.")
    capabilities: Capabilities = strawberry.field(  # type: ignore[valid-type]
        description="What the caller may do, one Boolean per permission "
        "(`me { capabilities { segmentWrite } }`): the easiest way for a UI to hide "
        "buttons and screens."
    )
    permissions: list[Permission] = strawberry.field(
        description="Everything the profile holds, as a list (the same as the true flags of "
        "`capabilities`)."
    )
    databases: list[Database] = strawberry.field(description="The databases the caller sees.")
    all_databases: bool = strawberry.field(
        description="True if the caller sees every database, present and future."
    )
    operations: list[str] = strawberry.field(
        description="Root queries and mutations the caller's profile allows (by field name). "
        "Ownership and database grants still apply per object: see `editable` on objects."
    )


@strawberry.type(description="Result of login.")
class LoginPayload:
    token: str | None = strawberry.field(
        description="Bearer token for `Authorization: Bearer <token>`; null on failure."
    )
    expires_at: datetime | None = strawberry.field(description="When the token expires.")
    user: User | None = strawberry.field(description="The user logged in.")
    user_errors: list[UserError] = strawberry.field(
        description="Why login failed. The message is the same whether the user exists or not."
    )


@strawberry.type(description="Result of logout.")
class LogoutPayload:
    ok: bool = strawberry.field(description="True if every token of the user was invalidated.")
    user_errors: list[UserError] = strawberry.field(description="Why logout was refused.")


@strawberry.type(description="Result of changePassword.")
class ChangePasswordPayload:
    token: str | None = strawberry.field(
        description="A new token (every earlier token stopped working)."
    )
    expires_at: datetime | None = strawberry.field(description="When the new token expires.")
    user_errors: list[UserError] = strawberry.field(description="Input mistakes.")


@strawberry.type(description="Result of a user mutation.")
class UserPayload:
    user: User | None = strawberry.field(description="The user after the change.")
    user_errors: list[UserError] = strawberry.field(description="Input mistakes; empty on success.")


@strawberry.type(description="Result of a profile mutation.")
class ProfilePayload:
    profile: Profile | None = strawberry.field(description="The profile after the change.")
    user_errors: list[UserError] = strawberry.field(description="Input mistakes; empty on success.")


@strawberry.type(description="Result of deleteProfile.")
class DeleteProfilePayload:
    deleted_id: GlobalID | None = strawberry.field(description="Global id of the deleted profile.")
    user_errors: list[UserError] = strawberry.field(description="Why it was not deleted.")


@strawberry.type(description="Result of createApiKey.")
class CreateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The new key.")
    secret: str | None = strawberry.field(
        description="The full key, `cpk_<prefix>_<secret>`. Shown only now: store it safely."
    )
    user_errors: list[UserError] = strawberry.field(description="Input mistakes; empty on success.")


@strawberry.type(description="Result of revokeApiKey.")
class ApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The key after the change.")
    user_errors: list[UserError] = strawberry.field(description="Input mistakes; empty on success.")


@strawberry.input(description="A new user.")
class CreateUserInput:
    username: str = strawberry.field(description="1-150 letters, digits and _ . @ + -")
    password: str = strawberry.field(description="At least 10 characters.")
    profile: str = strawberry.field(default="USER", description="Profile name.")
    database_ids: list[GlobalID] = strawberry.field(
        default_factory=list, description="Global ids of the databases the user may see."
    )
    display_name: str = strawberry.field(default="", description="Name shown to people.")
    email: str | None = strawberry.field(default=None, description="E-mail address.")


@strawberry.input(description="Changes to a user; omitted fields stay as they are.")
class UpdateUserInput:
    display_name: str | None = strawberry.field(default=None, description="Name shown to people.")
    email: str | None = strawberry.field(default=None, description="E-mail; empty string clears.")
    profile: str | None = strawberry.field(default=None, description="New profile name.")
    is_active: bool | None = strawberry.field(
        default=None, description="False deactivates (ends sessions); true reactivates."
    )


@strawberry.input(description="A new custom profile.")
class CreateProfileInput:
    name: str = strawberry.field(description="Unique name; not a built-in one.")
    description: str = strawberry.field(default="", description="Free text.")
    permissions: list[Permission] = strawberry.field(
        default_factory=list, description="Permissions from the catalog."
    )


@strawberry.input(description="Changes to a custom profile; omitted fields stay as they are.")
class UpdateProfileInput:
    name: str | None = strawberry.field(default=None, description="New unique name.")
    description: str | None = strawberry.field(default=None, description="Free text.")
    permissions: list[Permission] | None = strawberry.field(
        default=None, description="The complete new set of permissions."
    )


@strawberry.input(description="A new API key.")
class CreateApiKeyInput:
    name: str = strawberry.field(description="What the key is for.")
    profile: str = strawberry.field(description="Profile name; its permissions apply to the key.")
    database_ids: list[GlobalID] = strawberry.field(
        default_factory=list, description="Global ids of the databases the key may use."
    )


_INPUT = strawberry.argument(description="What to create or change.")
UserId = Annotated[GlobalID, strawberry.argument(description="The user's global id.")]
ProfileId = Annotated[GlobalID, strawberry.argument(description="The profile's global id.")]
ApiKeyId = Annotated[GlobalID, strawberry.argument(description="The API key's global id.")]
DatabaseIds = Annotated[list[GlobalID], strawberry.argument(description="Global ids of databases.")]


@strawberry.type(description="Users by username, page by page.")
class UserConnection(CountedConnection[User]):
    pass


@strawberry.type(description="Profiles, built-ins first, page by page.")
class ProfileConnection(CountedConnection[Profile]):
    pass


@strawberry.type(description="API keys, newest first, page by page.")
class ApiKeyConnection(CountedConnection[ApiKey]):
    pass


def _database_pks(ids: Iterable[GlobalID]) -> list[int]:
    return [node_pk(i, "Database") for i in ids]


def _user(row: UserRow | None) -> User | None:
    return User.from_model(row) if row is not None else None


async def _change_grants(
    info: Info, user_id: GlobalID, database_ids: list[GlobalID], *, grant: bool
) -> UserPayload:
    outcome = await resolve_users.change_grants(
        info.context,
        principal_of(info),
        node_pk(user_id, "User"),
        _database_pks(database_ids),
        grant=grant,
    )
    return UserPayload(user=_user(outcome.value), user_errors=user_errors(outcome.errors))


@strawberry.type(description="Account root queries.")
class AccountsQuery:
    @strawberry.field(
        description="The caller, its profile, permissions, databases and allowed operations.",
        extensions=requires(None),
    )
    async def me(self, info: Info) -> Viewer | None:
        principal = principal_of(info)
        found = await resolve_auth.viewer(info.context, principal)
        operations = getattr(info.schema, "operations", {})
        return Viewer(
            kind=PrincipalKind(principal.kind),
            name=principal.name,
            user=_user(found.user),
            api_key=ApiKey.from_model(found.api_key) if found.api_key else None,
            profile=Profile.from_model(found.profile),
            capabilities=capabilities_of(principal.permissions),
            permissions=sorted(principal.permissions, key=lambda p: p.value),
            databases=[Database.from_model(d) for d in found.databases],
            all_databases=principal.all_databases,
            operations=sorted(
                name for name, perm in operations.items() if perm is None or may(principal, perm)
            ),
        )

    @strawberry.field(
        description="Every permission of the catalog with what it allows.",
        extensions=requires(None),
    )
    def permission_catalog(self) -> list[PermissionInfo] | None:
        return [PermissionInfo(permission=p, description=PERM_DESCRIPTIONS[p]) for p in Perm]

    @strawberry.field(
        description="Users by username (a connection: page with `after` = "
        "`pageInfo.endCursor`). Requires user.manage.",
        extensions=requires(Perm.USER_MANAGE),
    )
    async def users(
        self,
        info: Info,
        search: Annotated[
            str | None,
            strawberry.argument(description="Part of a username, display name or e-mail."),
        ] = None,
        include_inactive: Annotated[
            bool, strawberry.argument(description="Also list deactivated users.")
        ] = False,
        first: First = None,
        after: After = None,
    ) -> UserConnection | None:
        page = await resolve_users.list_users(
            search, include_inactive, first, after, selects(info, "totalCount")
        )
        return UserConnection.from_page(page, User.from_model)

    @strawberry.field(
        description="One user. Requires user.manage.", extensions=requires(Perm.USER_MANAGE)
    )
    async def user(self, id: UserId) -> User | None:
        return User.from_model(await resolve_users.get_user(node_pk(id, "User")))

    @strawberry.field(
        description="Profiles, built-ins first, then by name (a connection).",
        extensions=requires(None),
    )
    async def profiles(
        self, info: Info, first: First = None, after: After = None
    ) -> ProfileConnection | None:
        page = await resolve_profiles.list_profiles(first, after, selects(info, "totalCount"))
        return ProfileConnection.from_page(page, Profile.from_model)

    @strawberry.field(description="One profile.", extensions=requires(None))
    async def profile(self, id: ProfileId) -> Profile | None:
        return Profile.from_model(await resolve_profiles.get_profile(node_pk(id, "Profile")))

    @strawberry.field(
        description="API keys, newest first (a connection). Requires apikey.manage.",
        extensions=requires(Perm.APIKEY_MANAGE),
    )
    async def api_keys(
        self,
        info: Info,
        include_revoked: Annotated[
            bool, strawberry.argument(description="Also list revoked keys.")
        ] = False,
        first: First = None,
        after: After = None,
    ) -> ApiKeyConnection | None:
        page = await resolve_keys.list_api_keys(
            include_revoked, first, after, selects(info, "totalCount")
        )
        return ApiKeyConnection.from_page(page, ApiKey.from_model)


@strawberry.type(description="Account root mutations.")
class AccountsMutation:
    @strawberry.mutation(
        description="Log in with username and password; returns a bearer token. Failed "
        "attempts are throttled per username."
    )
    async def login(
        self,
        info: Info,
        username: Annotated[str, strawberry.argument(description="Login name.")],
        password: Annotated[str, strawberry.argument(description="Password.")],
    ) -> LoginPayload:
        result = await resolve_auth.login(info.context, username, password)
        return LoginPayload(
            token=result.token,
            expires_at=result.expires_at,
            user=User.from_model(result.user, is_caller=True) if result.user else None,
            user_errors=user_errors([result.error] if result.error else []),
        )

    @strawberry.mutation(
        description="Invalidate every token of the calling user.", extensions=requires(None)
    )
    async def logout(self, info: Info) -> LogoutPayload | None:
        outcome = await resolve_auth.logout(info.context, principal_of(info))
        return LogoutPayload(ok=bool(outcome.value), user_errors=user_errors(outcome.errors))

    @strawberry.mutation(
        description="Change the caller's own password; other tokens stop working.",
        extensions=requires(None),
    )
    async def change_password(
        self,
        info: Info,
        current_password: Annotated[
            str, strawberry.argument(description="The password in use now.")
        ],
        new_password: Annotated[str, strawberry.argument(description="At least 10 characters.")],
    ) -> ChangePasswordPayload | None:
        outcome = await resolve_auth.change_password(
            info.context, principal_of(info), current_password, new_password
        )
        issued = outcome.value
        return ChangePasswordPayload(
            token=issued.token if issued else None,
            expires_at=issued.expires_at if issued else None,
            user_errors=user_errors(outcome.errors),
        )

    @strawberry.mutation(
        description="Create a user. Requires user.manage.", extensions=requires(Perm.USER_MANAGE)
    )
    async def create_user(
        self, info: Info, input: Annotated[CreateUserInput, _INPUT]
    ) -> UserPayload | None:
        outcome = await resolve_users.create_user(
            info.context,
            principal_of(info),
            username=input.username,
            password=input.password,
            profile=input.profile,
            database_ids=_database_pks(input.database_ids),
            display_name=input.display_name,
            email=input.email,
        )
        return UserPayload(user=_user(outcome.value), user_errors=user_errors(outcome.errors))

    @strawberry.mutation(
        description="Change a user. Requires user.manage.", extensions=requires(Perm.USER_MANAGE)
    )
    async def update_user(
        self, info: Info, id: UserId, input: Annotated[UpdateUserInput, _INPUT]
    ) -> UserPayload | None:
        outcome = await resolve_users.update_user(
            info.context,
            principal_of(info),
            node_pk(id, "User"),
            display_name=input.display_name,
            email=input.email,
            profile=input.profile,
            is_active=input.is_active,
        )
        return UserPayload(user=_user(outcome.value), user_errors=user_errors(outcome.errors))

    @strawberry.mutation(
        description="Deactivate a user: no more logins, tokens stop working. Requires user.manage.",
        extensions=requires(Perm.USER_MANAGE),
    )
    async def deactivate_user(self, info: Info, id: UserId) -> UserPayload | None:
        outcome = await resolve_users.update_user(
            info.context, principal_of(info), node_pk(id, "User"), is_active=False
        )
        return UserPayload(user=_user(outcome.value), user_errors=user_errors(outcome.errors))

    @strawberry.mutation(
        description="Set a user's password; their tokens stop working. Requires user.manage.",
        extensions=requires(Perm.USER_MANAGE),
    )
    async def set_user_password(
        self,
        info: Info,
        id: UserId,
        password: Annotated[str, strawberry.argument(description="At least 10 characters.")],
    ) -> UserPayload | None:
        outcome = await resolve_users.set_user_password(
            info.context, principal_of(info), node_pk(id, "User"), password
        )
        return UserPayload(user=_user(outcome.value), user_errors=user_errors(outcome.errors))

    @strawberry.mutation(
        description="Grant a user access to databases. Requires user.manage.",
        extensions=requires(Perm.USER_MANAGE),
    )
    async def grant_databases(
        self, info: Info, user_id: UserId, database_ids: DatabaseIds
    ) -> UserPayload | None:
        return await _change_grants(info, user_id, database_ids, grant=True)

    @strawberry.mutation(
        description="Take away a user's access to databases. Requires user.manage.",
        extensions=requires(Perm.USER_MANAGE),
    )
    async def revoke_databases(
        self, info: Info, user_id: UserId, database_ids: DatabaseIds
    ) -> UserPayload | None:
        return await _change_grants(info, user_id, database_ids, grant=False)

    @strawberry.mutation(
        description="Create a custom profile. Requires profile.manage.",
        extensions=requires(Perm.PROFILE_MANAGE),
    )
    async def create_profile(
        self, info: Info, input: Annotated[CreateProfileInput, _INPUT]
    ) -> ProfilePayload | None:
        outcome = await resolve_profiles.create_profile(
            info.context, principal_of(info), input.name, input.description, input.permissions
        )
        profile = Profile.from_model(outcome.value) if outcome.value else None
        return ProfilePayload(profile=profile, user_errors=user_errors(outcome.errors))

    @strawberry.mutation(
        description="Change a custom profile (built-ins cannot be changed). "
        "Requires profile.manage.",
        extensions=requires(Perm.PROFILE_MANAGE),
    )
    async def update_profile(
        self, info: Info, id: ProfileId, input: Annotated[UpdateProfileInput, _INPUT]
    ) -> ProfilePayload | None:
        outcome = await resolve_profiles.update_profile(
            info.context,
            principal_of(info),
            node_pk(id, "Profile"),
            name=input.name,
            description=input.description,
            permissions=input.permissions,
        )
        profile = Profile.from_model(outcome.value) if outcome.value else None
        return ProfilePayload(profile=profile, user_errors=user_errors(outcome.errors))

    @strawberry.mutation(
        description="Delete a custom profile nobody uses. Requires profile.manage.",
        extensions=requires(Perm.PROFILE_MANAGE),
    )
    async def delete_profile(self, info: Info, id: ProfileId) -> DeleteProfilePayload | None:
        outcome = await resolve_profiles.delete_profile(
            info.context, principal_of(info), node_pk(id, "Profile")
        )
        deleted = global_id("Profile", outcome.value) if outcome.value is not None else None
        return DeleteProfilePayload(deleted_id=deleted, user_errors=user_errors(outcome.errors))

    @strawberry.mutation(
        description="Create an API key; the secret is in the payload and never shown again. "
        "Requires apikey.manage.",
        extensions=requires(Perm.APIKEY_MANAGE),
    )
    async def create_api_key(
        self, info: Info, input: Annotated[CreateApiKeyInput, _INPUT]
    ) -> CreateApiKeyPayload | None:
        outcome = await resolve_keys.create_api_key(
            info.context,
            principal_of(info),
            input.name,
            input.profile,
            _database_pks(input.database_ids),
        )
        created = outcome.value
        return CreateApiKeyPayload(
            api_key=ApiKey.from_model(created.api_key) if created else None,
            secret=created.secret if created else None,
            user_errors=user_errors(outcome.errors),
        )

    @strawberry.mutation(
        description="Revoke an API key at once. Requires apikey.manage.",
        extensions=requires(Perm.APIKEY_MANAGE),
    )
    async def revoke_api_key(self, info: Info, id: ApiKeyId) -> ApiKeyPayload | None:
        outcome = await resolve_keys.revoke_api_key(
            info.context, principal_of(info), node_pk(id, "ApiKey")
        )
        key = ApiKey.from_model(outcome.value) if outcome.value else None
        return ApiKeyPayload(api_key=key, user_errors=user_errors(outcome.errors))
