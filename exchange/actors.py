"""Who is acting: a user in one of their agencies, or the system itself (the worker)."""

from __future__ import annotations

from dataclasses import dataclass

from exchange.enums import Role
from exchange.errors import PermissionDeniedError


@dataclass(frozen=True)
class Actor:
    """A signed-in user acting for one agency, with the roles they hold there."""

    user_id: int | None
    username: str
    agency_id: int | None
    agency_code: str | None
    roles: frozenset[Role] = frozenset()
    remote_addr: str | None = None

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    def require(self, *roles: Role) -> None:
        """Refuse unless the actor holds one of `roles` in their agency."""
        if self.is_system or self.roles.intersection(roles):
            return
        names = ", ".join(ROLE_NAMES[role] for role in roles)
        raise PermissionDeniedError(f"thao tác này cần vai trò {names} của cơ quan")


SYSTEM = Actor(user_id=None, username="system", agency_id=None, agency_code=None)

ROLE_NAMES = {
    Role.OFFICIAL: "lãnh đạo",
    Role.CLERK: "văn thư",
    Role.SPECIALIST: "chuyên viên",
    Role.ADMIN: "quản trị",
}
