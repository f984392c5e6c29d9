"""Who is calling (:class:`Principal`) and the shapes of the users API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["admin", "operator", "grid_head", "squad", "integration", "department", "leader"]
# leader: a township leader or county supervisor whom 督办 reaches (scope in duban_leaders)
ROLES: tuple[str, ...] = ("admin", "operator", "grid_head", "squad", "integration", "department", "leader")


@dataclass(frozen=True)
class Principal:
    """The account behind a request's token.

    Scope: ``grid_codes`` (grid_head: community grid codes), ``squad_id`` (squad),
    ``integration`` / ``integration_id`` (integration: the hotline's name and id),
    ``department_code`` (department: the county department's code) with ``station_codes``
    (grids of its specialist layer) and ``township_codes`` (enforcement grids) when the
    account is limited to those areas.
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
    department_code: str | None = None
    station_codes: tuple[str, ...] = ()
    township_codes: tuple[str, ...] = ()

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
    department_code: str | None = Field(
        default=None, max_length=60, description="department: the county department's code"
    )
    station_codes: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="department (optional): only these stations, grids of layer specialist:<department>",
    )
    township_codes: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="department (optional): only these townships (enforcement grid codes)",
    )
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
    department_code: str | None = None
    station_codes: list[str] = Field(default_factory=list)
    township_codes: list[str] = Field(default_factory=list)
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
    department_code: str | None = None
    station_codes: list[str] = Field(default_factory=list)
    township_codes: list[str] = Field(default_factory=list)
    webhook_url: str | None
    display_name: str | None
    actor: str
    auth_enabled: bool
