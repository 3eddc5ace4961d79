"""Who asks, and what they may do: an API key names its caller; its role grants permissions; every operation of
the core names the one it needs."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from jobstore.adapters.errors import PermissionDenied, Unauthenticated


class Role(StrEnum):
    READER = "reader"
    WRITER = "writer"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"
    AUDIT = "audit"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.READER: frozenset({Permission.READ}),
    Role.WRITER: frozenset({Permission.READ, Permission.WRITE}),
    Role.AUDITOR: frozenset({Permission.READ, Permission.AUDIT}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: the key's name and role."""

    name: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]




def authorize(principal: Principal, permission: Permission, doing: str | None = None) -> None:
    """PERMISSION_DENIED unless the caller's role grants `permission`."""
    if not principal.may(permission):
        raise PermissionDenied(f"the API key {principal.name!r} has role {principal.role.value}, which may not "
                               f"{doing or permission.value}")


class Authenticator(Protocol):
    async def authenticate(self, key: str) -> Principal | None: ...


async def authenticate(keys: Authenticator, key: str | None, header: str) -> Principal:
    """The caller an API key names; UNAUTHENTICATED without a known, active key (sent in `header`)."""
    if not key:
        raise Unauthenticated(f"send an API key in the {header} header")
    principal = await keys.authenticate(key)
    if principal is None:
        raise Unauthenticated("the API key is unknown or revoked")
    return principal
