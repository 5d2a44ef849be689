"""The audit trail: every change to segments, plans, policies, settings, users and keys."""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from models import AuditEntry
from permissions.principal import Principal

log = logging.getLogger(__name__)

# Never copied into an audit entry, whatever the caller passes.
SECRET_KEYS = frozenset({"password", "password_hash", "key_hash", "secret", "token"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if str(k) not in SECRET_KEYS}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value


async def record_audit(
    principal: Principal | None,
    action: str,
    obj_type: str,
    obj_id: object,
    *,
    database_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_id: str | None = None,
    actor: str | None = None,
) -> AuditEntry:
    """Write one audit entry (inside the caller's transaction, if any).

    `actor` names who acted when there is no principal (e.g. the CLI or a failed login).
    Secret-looking keys are dropped from `before`/`after`.
    """
    entry = await AuditEntry.create(
        user_id=principal.user_id if principal and principal.is_user else None,
        api_key_id=principal.api_key_id if principal else None,
        actor=(principal.name if principal else actor or "system")[:200],
        action=action[:64],
        object_type=obj_type[:64],
        object_id=None if obj_id is None else str(obj_id)[:64],
        database_id=database_id,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        request_id=request_id,
    )
    log.info("audit %s %s %s by %s request=%s", action, obj_type, obj_id, entry.actor, request_id)
    return entry
