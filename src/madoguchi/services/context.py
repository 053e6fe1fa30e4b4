"""Who is acting: the logged-in staff member, terminal and rights, handed to every service."""

from __future__ import annotations

from dataclasses import dataclass, field

from madoguchi.errors import PermissionDenied
from madoguchi.store.db import SessionInfo
from madoguchi.store.security import PERMISSION_LABELS


@dataclass(frozen=True)
class Actor:
    login: str
    display_name: str
    terminal: str = ""
    counter_no: str = ""
    groups: frozenset[str] = field(default_factory=frozenset)
    permissions: frozenset[str] = field(default_factory=frozenset)
    demo: bool = False
    training: bool = False

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if not self.can(permission):
            label = PERMISSION_LABELS.get(permission, permission)
            raise PermissionDenied(f"この操作には「{label}」の権限が必要です。管理者に依頼してください。")

    @property
    def info(self) -> SessionInfo:
        return SessionInfo(self.login, self.terminal, self.counter_no)
