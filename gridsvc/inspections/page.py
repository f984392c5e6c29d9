"""``GET /inspection-lists``: the negative list and the 首违不罚 records on screen, a shell
like /dashboard (gridsvc/static/inspections/lists.js reads ``GET /negative-list`` and
``GET /lenient-cases`` and links their CSV / Excel exports)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from gridsvc.auth.deps import principal_or_none
from gridsvc.auth.policy import PAGE_READERS
from gridsvc.pages import opsmap
from gridsvc.pages.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
# who may read the lists (the same roles as GET /negative-list)
READERS = PAGE_READERS["/inspection-lists"]


@router.get("/inspection-lists")
async def lists_page(request: Request) -> Response:
    who = await principal_or_none(request)
    if who is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    if who.role not in READERS:
        return RedirectResponse("/inbox", status_code=303)
    pool = request.app.state.pool
    code = await opsmap.default_jurisdiction(pool)
    info = await opsmap.jurisdiction_info(pool, code) if code else None
    config = {
        "user": {"name": who.name, "display_name": who.display_name, "role": who.role},
        "timezone": info["timezone"] if info else "Asia/Shanghai",  # times shown in the county's zone
    }
    return render(request, "inspection_lists.html", config=config)
