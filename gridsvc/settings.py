"""Typed settings, read from the environment with the ``GRIDSVC_`` prefix."""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    database_replica_url: str | None = Field(
        default=None,
        description="A streaming replica (hot standby) of the database. Reads that may be a "
        "second stale (grid layers, the work queue list and export, tiles, coverage, geocode, "
        "reports) go to it; writes and read-your-write views stay on the primary. Unset: "
        "everything reads the primary.",
    )
    database_pgbouncer: bool = Field(
        default=False,
        description="The database URLs (primary and replica) point at PgBouncer in transaction "
        "pooling: asyncpg's prepared statement cache is turned off. LISTEN connections go to "
        "GRIDSVC_DATABASE_LISTEN_URL instead.",
    )
    database_listen_url: str | None = Field(
        default=None,
        description="Direct PostgreSQL URL (not through a transaction-pooling PgBouncer) for the "
        "connections that keep a session: each process's LISTEN connection and the job worker's "
        "pool (pgqueuer LISTENs too). Unset: GRIDSVC_DATABASE_URL.",
    )
    embedded_dir: Path = Field(
        default=PROJECT_ROOT / ".gridsvc",
        description="Where the private cluster keeps its data, password and log.",
    )
    embedded_port: int | None = Field(
        default=None,
        description="TCP port of the private cluster (default: the first free one from 55432, "
        "chosen when the cluster is created and kept in its folder).",
    )
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
    def demo_ninghua_osm(self) -> Path:
        """The demo's second county: the Ninghua county seat (Fujian), OSM XML."""
        return self.shared_geodata / "osm" / "cn_sanming_ninghua.osm"

    @property
    def county_boundaries(self) -> Path:
        return self.shared_geodata / "boundaries" / "cn_target_counties_gcj02.geojson"

    @property
    def division_codes_dir(self) -> Path:
        """统计用区划代码 (township and village names and codes) indexed by the geocoder."""
        return self.shared_geodata / "admin_codes"

    # offline geocoder
    geocode_min_confidence: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="A work order with an address and no point is placed at intake when the "
        "geocoder's best candidate is at least this sure (else it stays unlocated).",
    )

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
        default=1000.0, ge=0, description="Roads kept this far (metres) outside the clip area."
    )
    squad_position_stale_s: float = Field(
        default=600.0, gt=0, description="AVL positions older than this (seconds) are not trusted for ETAs."
    )
    squad_position_future_tolerance_s: float = Field(
        default=120.0, ge=0, description="Clock skew (seconds) allowed for positions stamped in the future."
    )
    patrol_shift_start: time = Field(
        default=time(8, 30), description="Patrol shift start (local time of the jurisdiction), e.g. 08:30."
    )
    patrol_shift_end: time = Field(
        default=time(17, 30),
        description="Patrol shift end: no planned day runs past it (back at the station).",
    )
    patrol_dwell_min: float = Field(
        default=10.0,
        ge=0,
        description="Minutes a squad stays in a community grid per visit: planned per visit, and "
        "the time inside the grid (consecutive AVL pings) that marks a visit done.",
    )
    patrol_solver_timeout_s: float = Field(
        default=5.0, gt=0, description="Time limit (seconds) of the routing solver per squad and week."
    )
    inspection_merge_days: int = Field(
        default=7,
        ge=0,
        le=90,
        description="综合查一次: departments' inspections of one target within this many days of "
        "the first are merged into one joint visit.",
    )
    negative_list_warning: int = Field(
        default=3, ge=1, description="Counted violations that put a target on the negative list (warning)."
    )
    negative_list_penalty: int = Field(
        default=5, ge=1, description="Counted violations that yield a penalty recommendation."
    )
    eta_offroad_speed_kmh: float = Field(
        default=5.0, gt=0, description="Speed (km/h) of the leg between a point and its road."
    )
    eta_far_from_road_m: float = Field(
        default=500.0, gt=0, description="Off-road legs longer than this (metres) are flagged."
    )
    eta_tree_cache_size: int = Field(
        default=256, ge=4, description="Shortest-path trees (one per road node) kept in memory."
    )
    eta_method: Literal["auto", "trees", "cch"] = Field(
        default="auto",
        description="How squads' ETAs are prepared: 'trees' (a shortest-path tree per road node a "
        "squad leaves by: fastest per event, a graph search per move), 'cch' (a customizable "
        "contraction hierarchy: a move is nearly free, an event costs a sweep), or 'auto' (the CCH "
        "from GRIDSVC_ETA_CCH_MIN_NODES nodes on).",
    )
    eta_cch_min_nodes: int = Field(
        default=200_000, ge=0, description="With eta_method 'auto', graphs this large use the CCH."
    )
    eta_cch_distance_top: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="With the CCH, how many fastest squads per scene get road metres.",
    )

    # events / webhooks / SLA
    webhook_max_body_bytes: int = Field(default=64 * 1024, description="Largest webhook body.")
    webhook_clock_skew_s: int = Field(
        default=300, description="Webhook timestamps further than this (seconds) from now are refused."
    )
    duplicate_radius_m: float = Field(
        default=150.0, description="Open events of a related matter this close (metres) are 并单 candidates."
    )
    duplicate_window_h: float = Field(default=72.0, description="... and received within this many hours.")
    duplicate_auto_similarity: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="并单 at intake without an operator: only for matters set auto_merge, only a same-matter "
        "candidate whose text similarity (pg_trgm, 0..1) reaches this.",
    )
    duplicate_candidates_max: int = Field(default=10, ge=1, le=100, description="Most 并单 candidates shown.")
    sla_route_minutes: float = Field(default=10, description="Clock minutes to route (分拨).")
    sla_dispatch_minutes: float = Field(default=10, description="Clock minutes to dispatch (派遣).")
    sla_sign_for_minutes: float = Field(default=30, description="Clock minutes to sign for (签收).")
    sla_arrive_minutes: float = Field(default=30, description="Clock minutes to arrive (到场).")
    sla_handle_default_working_days: float = Field(
        default=1, description="Handling limit (working days) for matters without their own."
    )
    sla_verify_working_hours: float = Field(default=8, description="Working hours to verify (核查).")
    sla_close_working_hours: float = Field(default=8, description="Working hours to close (结案).")
    sla_check_interval_s: float = Field(default=30, description="How often overdue events are sought.")
    report_rollups: bool = Field(
        default=True,
        description="Run the reports.rollup job in the job worker (false: only `gridsvc report "
        "rollup` builds rollups; every other day of a summary is computed from the events).",
    )
    report_rollup_interval_s: float = Field(
        default=300,
        description="How often the reports.rollup job rolls up finished days and rebuilds the "
        "days that changes touched (GET /reports/summary computes the rest from the events).",
    )
    duban_levels: str = Field(
        default="1:unit,2:township,3:county",
        pattern=r"^\s*\d+(\.\d+)?\s*:\s*(unit|township|county)\s*(,\s*\d+(\.\d+)?\s*:\s*(unit|township|county)\s*)*$",
        description="督办 levels where no matter/stage set is configured: 'factor:audience' "
        "by level, factor = multiple of the stage's time limit (1: at the deadline); audience "
        "unit (the responsible unit), township (its leader), county (county supervisors).",
    )
    revisit_auto_redo: bool = Field(
        default=True,
        description="A 不满意 回访 reopens a handled or closed case at once as 重办 (an operator may "
        "decline it); false: the operator decides (POST /events/{id}/redo).",
    )
    outbox_max_attempts: int = Field(default=12, description="Deliveries tried before dead-lettering.")
    outbox_backoff_max_s: float = Field(default=300, description="Longest wait between retries.")
    background_workers: bool = Field(
        default=True,
        description="Run a job worker (callbacks, notices, SLA checks) inside "
        "the app process (else run `gridsvc jobs work`).",
    )

    # dispatch recommendation and routing (issue 8 items 4 and 8)
    dispatch_max_open_cases: int = Field(
        default=15,
        ge=1,
        description="A squad with this many open cases (dispatched, signed for, on scene) is "
        "full: the recommendation passes it over for the next squad and says why.",
    )
    routing_no_owner_fallback: Literal["township_squad", "triage"] = Field(
        default="township_squad",
        description="属地兜底: where a matter goes that is not delegated to the township and has "
        "no owning department: the township squad of the enforcement grid, or the "
        "centre's triage queue.",
    )

    # auth
    auth_enabled: bool = Field(
        default=True,
        description="Every route needs a token of a permitted role (see gridsvc/auth/policy.py). "
        "false: everything open, the actor taken from X-Actor; for local experiments only.",
    )
    metrics_public: bool = Field(
        default=True, description="/metrics without a token (false: admin or operator token)."
    )
    login_cookie_max_age_s: int = Field(
        default=30 * 24 * 3600,
        gt=0,
        description="Lifetime of the login cookie; revoking the token ends it at once.",
    )

    # observability
    log_level: str = Field(default="INFO", description="Level of the JSON log lines on stdout.")
    log_json: bool = Field(
        default=True, description="One JSON object per log line (false: plain text lines)."
    )

    # live pages (/ops, /inbox), photos
    live_heartbeat_s: float = Field(
        default=15.0, gt=0, description="Seconds between heartbeats on the live SSE stream."
    )
    attachments_dir: Path = Field(
        default=PROJECT_ROOT / ".gridsvc" / "attachments",
        description="Where uploaded photos are stored (one file per upload).",
    )
    export_max_rows: int = Field(
        default=100_000, gt=0, le=1_000_000, description="Most events one queue export holds; more: 422."
    )
    attachment_max_bytes: int = Field(
        default=5 * 1024 * 1024, gt=0, description="Largest photo accepted (bytes); more: 413."
    )
    ops_tile_url: str | None = Field(
        default=None,
        description="Base-map tile URL template for /ops (a county's own tile "
        "server, e.g. http://tiles.local/{z}/{x}/{y}.png); none by default: no internet.",
    )

    # offline base map (/tiles/{z}/{x}/{y}.mvt)
    tile_cache_mb: int = Field(
        default=64, ge=0, description="In-process cache of built vector tiles (MB per process; 0: off)."
    )
    tile_max_age_s: int = Field(
        default=300,
        ge=0,
        description="Cache-Control max-age of a tile; after it the browser revalidates (ETag, 304).",
    )

    gzip_minimum_bytes: int = Field(
        default=1024,
        ge=0,
        description="Answers at least this large are gzipped for clients that accept it "
        "(smaller ones are not worth the CPU).",
    )

    # web hardening (issue 13: D6 JSON limits, D8 cross-site requests)
    json_max_depth: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="Deepest nesting of arrays/objects in a JSON body; deeper: 400.",
    )
    json_max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        gt=0,
        description="Largest JSON request body (bytes), checked before it is read; more: 413.",
    )
    trusted_origins: str = Field(
        default="",
        description="Comma-separated origins (e.g. https://ops.example.gov.cn) whose pages may "
        "post with the login cookie besides the server's own (e.g. behind a proxy that "
        "rewrites Host).",
    )

    # HTTP serving: idle and slow clients (D10, see gridsvc/serving.py)
    http_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A client must finish a request's headers this many "
        "seconds after connecting (or after its previous response); else it is disconnected.",
    )
    http_keep_alive_s: float = Field(
        default=5.0, gt=0, description="Idle keep-alive connections are closed after this."
    )
    http_max_connections: int | None = Field(
        default=None,
        gt=0,
        description="Client connections kept open per process (default: "
        "the open-file limit minus a reserve); over it the oldest idle ones are closed.",
    )

    # the console (gridsvc up / serve): a summary a minute on stdout, full logs in a file
    log_console: bool = Field(
        default=False,
        description="stdout gets warnings, errors and one summary line a "
        "minute; every JSON log line (access lines too) goes to log_dir/gridsvc.log.",
    )
    log_dir: Path = Field(
        default=PROJECT_ROOT / ".gridsvc" / "logs",
        description="Where the JSON log file is written when log_console is on.",
    )
    console_summary: bool = Field(
        default=True, description="Write the summary line (off in extra workers: one is enough)."
    )
    console_summary_s: float = Field(default=60.0, gt=0, description="Seconds between console summary lines.")
    console_poll_s: float = Field(
        default=1.0, gt=0, description="How often the console summary looks at the clock."
    )

    # hostile positions (issue 13, D1): where a squad's station or AVL ping may be
    squad_max_road_distance_m: float = Field(
        default=2000.0,
        gt=0,
        description="A station or position farther than this (metres) from every road is "
        "refused (422); one already stored leaves its squad 'unreachable' in ETAs.",
    )
    squad_jurisdiction_margin_m: float = Field(
        default=5000.0,
        ge=0,
        description="A station or position this far (metres) outside the jurisdiction is "
        "still accepted (border roads, neighbouring townships); farther: 422.",
    )
    eta_scene_max_road_distance_m: float = Field(
        default=50_000.0,
        gt=0,
        description="A scene farther than this (metres) from every road is off the road "
        "network: /eta answers 422 scene_off_network, dispatch ranks without ETAs.",
    )

    # listener: the one LISTEN connection per process (gridsvc/listener.py)
    listener_health_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="How often the LISTEN connection is checked (seconds); "
        "a closed socket is noticed at once, a silently dropped one within this + 3 s.",
    )
    listener_backoff_max_s: float = Field(
        default=1.0,
        gt=0,
        description="Longest wait between reconnect attempts (seconds; "
        "starts at 0.1 s and doubles), so live updates resume this soon after the database.",
    )

    # background jobs (pgqueuer): callbacks, notices, SLA checks
    callback_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="HTTP timeout (seconds) of one try of a 12345 callback "
        "or recipient notice; a slow receiver only delays its own messages.",
    )
    jobs_poll_s: float = Field(
        default=5.0,
        gt=0,
        description="The job worker looks for work at least this often "
        "(seconds) besides its LISTEN wake-ups.",
    )
    jobs_pool_size: int = Field(
        default=4,
        ge=2,
        description="Database connections of a job worker (its own pool; one of them LISTENs for new jobs).",
    )
    jobs_max_tasks: int = Field(
        default=50,
        ge=20,
        description="Jobs one worker runs at once (tries waiting on "
        "receivers included; they hold no database connection).",
    )
    jobs_sweep_s: float = Field(
        default=60.0,
        gt=0,
        description="How often (seconds) idle destinations with due "
        "messages are restarted (a safety net for lost jobs).",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
