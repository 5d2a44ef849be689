"""Strawberry permission classes: tiny wrappers over the plain rules in permissions.rules.

Use `extensions=[PermissionExtension(permissions=[Requires(Perm.X)])]` on a field
(`permission_classes=` cannot take arguments). Guarded fields must be nullable.
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from permissions.errors import Forbidden, Unauthenticated
from permissions.names import Perm
from permissions.principal import Principal
from permissions.rules import may


def principal_of(info: Info) -> Principal:
    """The request's principal; raises Unauthenticated (with the reason) if there is none."""
    context = info.context
    principal = getattr(context, "principal", None)
    if principal is None:
        raise Unauthenticated(getattr(context, "auth_error", None) or "Authentication required.")
    return principal


class IsAuthenticated(BasePermission):
    """Any logged-in user or API key."""

    message = "Authentication required."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal_of(info)
        return True


class Requires(BasePermission):
    """The caller's profile must hold `perm`."""

    def __init__(self, perm: Perm) -> None:
        self.perm = perm
        self.message = f"Your profile lacks the permission {perm.value!r}."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return may(principal_of(info), self.perm)

    def on_unauthorized(self) -> None:
        raise Forbidden(self.message or "")


def requires(perm: Perm | None, *, fail_silently: bool = False) -> list[PermissionExtension]:
    """Field extensions guarding a field: authenticated, and holding `perm` if given.

    With `fail_silently`, a caller lacking `perm` reads null (or an empty list) instead
    of getting FORBIDDEN, e.g. for personal data inside a list of contacts.
    """
    permission = IsAuthenticated() if perm is None else Requires(perm)
    return [
        PermissionExtension(
            permissions=[permission], use_directives=False, fail_silently=fail_silently
        )
    ]


def required_permission(extensions: list[Any]) -> tuple[bool, Perm | None]:
    """(needs authentication, needed permission) declared by a field's extensions."""
    for extension in extensions:
        if isinstance(extension, PermissionExtension):
            for permission in extension.permissions:
                if isinstance(permission, Requires):
                    return True, permission.perm
                if isinstance(permission, IsAuthenticated):
                    return True, None
    return False, None
