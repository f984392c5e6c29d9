"""Who is calling (:class:`Principal`) and the shapes of the users API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["admin", "operator", "grid_head", "squad", "integration", "leader"]
# leader: a township leader or county supervisor whom 督办 reaches (scope in duban_leaders)
ROLES: tuple[str, ...] = ("admin", "operator", "grid_head", "squad", "integration", "leader")


@dataclass(frozen=True)
class Principal:
    """The account behind a request's token.

    Scope: ``grid_codes`` (grid_head: community grid codes), ``squad_id`` (squad),
    ``integration`` / ``integration_id`` (integration: the hotline's name and id).
    """

    user_id: int
    name: str
    role: str
    grid_codes: tuple[str, ...] = ()
    squad_id: int | None = None
    integration: str | None = None
    webhook_url: str | None = None
    integration_id: int | None = None
    display_name: str | None = None
    token_id: int | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this account, e.g. ``grid_head:li-vaduz-01``."""
        return f"{self.role}:{self.name}"


class UserIn(BaseModel):
    name: str = Field(
        min_length=1, max_length=64, pattern=r"^[^\s/]+$", description="login handle (no spaces or slashes)"
    )
    role: Role
    grid_codes: list[str] = Field(
        default_factory=list, max_length=500, description="grid_head: community grid codes"
    )
    squad_code: str | None = Field(default=None, description="squad: the squad's code")
    integration: str | None = Field(default=None, description="integration: its name")
    webhook_url: str | None = Field(
        default=None, max_length=2000, description="optional outbound forward (http/https)"
    )
    display_name: str | None = Field(default=None, max_length=200)
    token_label: str | None = Field(default=None, max_length=200, description="label of the first token")


class TokenIn(BaseModel):
    label: str | None = Field(default=None, max_length=200)


class TokenInfo(BaseModel):
    id: int
    token_prefix: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    grid_codes: list[str]
    squad_id: int | None
    squad_code: str | None
    integration: str | None
    webhook_url: str | None
    display_name: str | None
    created_at: datetime
    disabled: bool
    tokens: list[TokenInfo] = Field(default_factory=list)


class IssuedToken(BaseModel):
    """A token as issued: shown this once, never stored."""

    id: int
    user: str
    token: str
    token_prefix: str
    label: str | None


class UserCreated(BaseModel):
    user: UserOut
    token: IssuedToken


class Me(BaseModel):
    user_id: int
    name: str
    role: str
    grid_codes: list[str]
    squad_id: int | None
    integration: str | None
    webhook_url: str | None
    display_name: str | None
    actor: str
    auth_enabled: bool
