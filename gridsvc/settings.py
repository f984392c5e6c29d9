"""Typed settings, read from the environment with the ``GRIDSVC_`` prefix."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """All of gridsvc's configuration.

    Every field can be set as ``GRIDSVC_<FIELD>`` (e.g. ``GRIDSVC_DATABASE_URL``).
    """

    model_config = SettingsConfigDict(env_prefix="GRIDSVC_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. When unset, gridsvc runs its own private PostGIS cluster.",
    )
    embedded_dir: Path = Field(
        default=PROJECT_ROOT / ".gridsvc",
        description="Where the private cluster keeps its data, password and log.",
    )
    embedded_port: int = Field(default=55432, description="TCP port of the private cluster.")
    embedded_os_user: str = Field(
        default="gridsvc",
        description="Unprivileged OS user that runs the private cluster when gridsvc runs as root.",
    )
    shared_geodata: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "geodata",
        description="Folder of the real OSM extracts, boundaries and standards.",
    )
    h3_resolution: int = Field(default=10, ge=5, le=13, description="H3 resolution of the overlay.")
    pool_min_size: int = 1
    pool_max_size: int = 10
    lookup_batch_limit: int = Field(default=10_000, description="Most points in one batch lookup.")

    @property
    def demo_pbf(self) -> Path:
        return self.shared_geodata / "osm" / "liechtenstein-latest.osm.pbf"

    @property
    def county_boundaries(self) -> Path:
        return self.shared_geodata / "boundaries" / "cn_target_counties_gcj02.geojson"


@lru_cache
def get_settings() -> Settings:
    return Settings()
