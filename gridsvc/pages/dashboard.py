"""``GET /dashboard``: the leaders' figures page (issue 11 item 3), a shell like /ops.

Its charts (gridsvc/static/dashboard/dashboard.js, ECharts vendored under static/vendor)
read ``GET /reports/summary`` (per period and per week), ``GET /reports/hotspots`` and link
``GET /reports/export.xlsx``; every figure is scoped by those routes, so the page itself
shows nothing but the caller's name and the list of jurisdictions for the filter.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from gridsvc.auth.deps import principal_or_none
from gridsvc.auth.policy import INTEGRATION, PAGE_READERS
from gridsvc.clock import SYSTEM, Clock
from gridsvc.database.replica import read_pool
from gridsvc.errors import APIError
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.pages import opsmap
from gridsvc.pages.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
# the dispatch centre and leaders (a township leader's figures are its own: the APIs scope them)
READERS = PAGE_READERS["/dashboard"]
# the table under the charts: the summary's figures (dictionary keys dash.fig.<name>)
COLUMNS = (
    "name",
    "received",
    "signed_in_time",
    "response_rate",
    "arrive_p50_min",
    "closed",
    "on_time_close_rate",
    "resolution_rate",
    "satisfaction_rate",
    "redo_rate",
    "returns",
    "extensions",
    "duban",
)


def _today(request: Request, zone: str) -> date:
    clock: Clock = getattr(request.app.state, "clock", SYSTEM)
    return clock.now().astimezone(ZoneInfo(zone)).date()


@router.get("/dashboard")
async def dashboard_page(request: Request) -> Response:
    who = await principal_or_none(request)
    if who is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    if who.role == INTEGRATION:
        raise APIError(403, "forbidden", "the hotline has no dashboard")
    if who.role not in READERS:
        return RedirectResponse("/inbox", status_code=303)
    pool = read_pool(request)  # the page's choices: read-only, a second stale is fine
    code = await opsmap.default_jurisdiction(pool)
    info = await opsmap.jurisdiction_info(pool, code) if code else None
    zone = info["timezone"] if info else "Asia/Shanghai"
    # the filter's choices: the jurisdictions figures are kept for (events are counted by the
    # jurisdiction of their grid layers; a township is a unit of by=township, not a filter)
    units: list[dict[str, Any]] = await jurisdictions.with_layers(pool)
    config = {
        "user": {"name": who.name, "display_name": who.display_name, "role": who.role},
        "jurisdiction": info["code"] if info else None,
        "jurisdiction_name": (info.get("name_zh") or info["name"]) if info else None,
        "timezone": zone,
        "today": _today(request, zone).isoformat(),
        "jurisdictions": units,
    }
    title = config["jurisdiction_name"] or ""
    return render(request, "dashboard.html", title=title, config=config, columns=COLUMNS)
