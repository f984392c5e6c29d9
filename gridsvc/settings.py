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
    embedded_port: int | None = Field(
        default=None,
        description="TCP port of the private cluster (default: the first free one from 55432, "
        "chosen when the cluster is created and kept in its folder).")
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

    # roads / squads / ETA
    road_speeds_file: Path = Field(
        default=PROJECT_ROOT / "geodata" / "road_speeds.toml",
        description="TOML table of speeds per road class (km/h), maxspeed and urban rules.",
    )
    road_cache_dir: Path = Field(
        default=PROJECT_ROOT / ".gridsvc" / "roads",
        description="Where the compact (CSR) road graph cache is kept; rebuilt when missing.",
    )
    road_clip_buffer_m: float = Field(
        default=1000.0, ge=0, description="Roads kept this far (metres) outside the clip area.")
    squad_position_stale_s: float = Field(
        default=600.0, gt=0,
        description="AVL positions older than this (seconds) are not trusted for ETAs.")
    squad_position_future_tolerance_s: float = Field(
        default=120.0, ge=0,
        description="Clock skew (seconds) allowed for positions stamped in the future.")
    eta_offroad_speed_kmh: float = Field(
        default=5.0, gt=0, description="Speed (km/h) of the leg between a point and its road.")
    eta_far_from_road_m: float = Field(
        default=500.0, gt=0, description="Off-road legs longer than this (metres) are flagged.")
    eta_tree_cache_size: int = Field(
        default=256, ge=4, description="Shortest-path trees (one per road node) kept in memory.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
