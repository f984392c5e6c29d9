"""``GET /ops`` (the operator's live map), ``GET /inbox`` (the field inbox), ``/static/...``.

The pages are shells: everything they show comes from the authenticated JSON routes and the
SSE stream, with the ``gridsvc_token`` cookie that ``/login`` sets. Without a valid cookie a
page redirects to ``/login``; a grid head, squad or department sent to /ops lands in /inbox.
"""

from __future__ import annotations

import html
import json
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from gridsvc.auth.deps import principal_or_none
from gridsvc.auth.models import Principal
from gridsvc.errors import APIError
from gridsvc.pages import opsmap

router = APIRouter(tags=["pages"], include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"
DESK_ROLES = {"admin", "operator"}
FIELD_ROLES = {"grid_head", "squad", "department"}
LANG_SELECT = (
    '<select id="lang" aria-label="language"><option value="zh-CN">中文</option>'
    '<option value="en">English</option></select>'
)

FACETS = ("state", "stage", "sla", "township", "grid", "matter_class", "responsible", "source", "located")
COLUMNS = ("state", "time_left", "matter", "address", "where", "responsible", "source", "work_order")
# The work queue beside the map (gridsvc/static/ops/queue.js fills it); texts from the i18n
# dictionaries, the Chinese ones written here so that the first paint is already Chinese.
QUEUE = f"""<section id="queue" aria-labelledby="q-title">
  <div class="q-head">
    <h2 id="q-title" data-i18n="queue.title">工单队列</h2>
    <span id="q-total"></span>
    <a id="q-csv" class="btn" download data-i18n="queue.export_csv">导出 CSV</a>
    <a id="q-xlsx" class="btn" download data-i18n="queue.export_xlsx">导出 Excel</a>
  </div>
  <div class="q-bar">
    <input type="search" id="q-search" data-testid="event-search" autocomplete="off"
      data-i18n-placeholder="queue.search" placeholder="搜索标题、描述、地址、工单号或来电尾号">
    <select id="q-sort"><option value="due_at" data-i18n="queue.sort.due_at">按截止时间</option>
      <option value="received_at" data-i18n="queue.sort.received_at">按接收时间（新的在前）</option></select>
  </div>
  <div class="q-filters">{"".join(f'<select data-facet="{f}"></select>' for f in FACETS)}
    <button type="button" id="q-clear" data-i18n="queue.clear">清除筛选</button></div>
  <div class="q-list"><table data-testid="event-queue" tabindex="0"><thead><tr>
    {"".join(f'<th data-i18n="queue.col.{c}"></th>' for c in COLUMNS)}</tr></thead><tbody></tbody></table>
    <p class="q-empty" hidden data-i18n="queue.empty">没有符合条件的事件</p></div>
  <div class="q-pager"><button type="button" id="q-prev" data-i18n="queue.prev">上一页</button>
    <span id="q-page"></span><button type="button" id="q-next" data-i18n="queue.next">下一页</button></div>
</section>"""


# The inbox's own tools (gridsvc/static/inbox/field.js): a squad's status, 巡查上报.
FIELD_TOOLS = """<section id="status" hidden>
  <p><span data-i18n="status.title">中队状态</span>：<b data-testid="squad-status"></b></p>
  <div class="buttons">
    <button type="button" data-status="available" data-testid="status-available"
      data-i18n="squad.available">在岗</button>
    <button type="button" data-status="busy" data-testid="status-busy"
      data-i18n="squad.busy">忙碌</button>
    <button type="button" data-status="off_duty" data-testid="status-off_duty"
      data-i18n="squad.off_duty">休息</button>
    <button type="button" data-status="offline" data-testid="status-offline"
      data-i18n="squad.offline">离线</button>
  </div>
  <input name="reason" maxlength="500" data-testid="status-reason"
    data-i18n-placeholder="status.reason" placeholder="原因">
</section>
<div class="tools"><button type="button" id="patrol-open" class="primary"
  data-testid="patrol-open" data-i18n="patrol.open">巡查上报</button></div>
<form id="patrol" hidden data-testid="patrol-form">
  <h2 data-i18n="patrol.title">巡查上报</h2>
  <label><span data-i18n="patrol.matter">事项</span>
    <input name="q" type="search" autocomplete="off" data-testid="patrol-matter-q"
      data-i18n-placeholder="patrol.search" placeholder="搜索事项名称或编码"></label>
  <p class="chosen" data-testid="patrol-matter" hidden></p>
  <ul class="matches"></ul>
  <label><span data-i18n="patrol.note">情况说明</span>
    <textarea name="note" rows="3" maxlength="5000" data-testid="patrol-note"></textarea></label>
  <label class="file"><span data-i18n="patrol.photo">现场照片</span>
    <span class="pick" data-i18n="patrol.take_photo">拍照或选择照片</span>
    <input type="file" name="photo" accept="image/jpeg,image/png,image/webp"
      capture="environment" data-testid="patrol-photo">
    <span class="file-name" data-testid="patrol-photo-name"></span></label>
  <p class="pos" data-testid="patrol-position"></p>
  <div class="buttons">
    <button type="submit" class="primary" data-testid="patrol-submit"
      data-i18n="patrol.submit">提交上报</button>
    <button type="button" class="ghost" data-act="relocate" data-i18n="patrol.relocate">重新定位</button>
    <button type="button" class="ghost" data-act="cancel" data-i18n="panel.cancel">取消</button>
  </div>
</form>"""
FIELD_REPORTS = """<section id="reports" data-testid="my-reports">
  <h2 data-i18n="patrol.mine">我的上报</h2>
  <p class="none" data-i18n="patrol.none">暂无上报</p>
  <ul></ul>
</section>"""


def _login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def _config(request: Request, who: Principal, info: dict[str, Any] | None) -> str:
    settings = request.app.state.settings
    data = {
        "user": {
            "user_id": who.user_id,
            "name": who.name,
            "display_name": who.display_name,
            "role": who.role,
            "grid_codes": list(who.grid_codes),
            "squad_id": who.squad_id,
            "department_code": who.department_code,
        },
        "jurisdiction": info["code"] if info else None,
        "jurisdiction_name": (info.get("name_zh") or info["name"]) if info else None,
        "timezone": info["timezone"] if info else "Asia/Shanghai",
        "heartbeat_s": settings.live_heartbeat_s,
        "attachment_max_bytes": settings.attachment_max_bytes,
        # where the inbox's map opens before it knows any assignment (west, south, east, north)
        "bounds": list(info["boundary"].bounds) if info and info.get("boundary") is not None else None,
    }
    # inside <script>: no "</script>" nor "<!--" may appear, so no "<" at all (nor ">", "&")
    return (
        json.dumps(data, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


async def _jurisdiction(request: Request) -> dict[str, Any] | None:
    pool = request.app.state.pool
    code = request.query_params.get("j") or await opsmap.default_jurisdiction(pool)
    if code is None:
        return None
    info = await opsmap.jurisdiction_info(pool, code)
    if info is None:
        raise APIError(404, "not_found", f"jurisdiction {code!r} does not exist")
    return info


@router.get("/ops", response_class=HTMLResponse)
async def ops_page(request: Request) -> Response:
    who = await principal_or_none(request)
    if who is None:
        return _login(request)
    if who.role not in DESK_ROLES:
        return RedirectResponse("/inbox", status_code=303)
    info = await _jurisdiction(request)
    pool, settings = request.app.state.pool, request.app.state.settings
    cache: dict[tuple[Any, ...], tuple[str, str, str]] = request.app.state.__dict__.setdefault(
        "ops_map_cache", {}
    )
    key = (info["code"] if info else None, await opsmap.layers_version(pool), settings.ops_tile_url)
    if key not in cache:
        cache.clear()
        if info is None:
            cache[key] = ("", "<div class='folium-map' id='nomap'></div>", "")
        else:
            cache[key] = await opsmap.build_map(pool, jurisdiction=info, tile_url=settings.ops_tile_url)
    head, body, script = cache[key]
    title = html.escape(info.get("name_zh") or info["name"]) if info else ""
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>指挥中心 · {title}</title>
{head}
<link rel="stylesheet" href="/static/ops/ops.css">
<link rel="stylesheet" href="/static/ops/queue.css">
<link rel="stylesheet" href="/static/ops/boards.css">
</head><body class="ops">
<header id="topbar">
  <h1><span data-i18n="ops.title">指挥中心</span> · <span id="jname">{title}</span></h1>
  <ul id="counters">
    <li data-counter="open"><b>–</b><span data-i18n="counter.open">在办</span></li>
    <li data-counter="overdue" class="warn"><b>–</b><span data-i18n="counter.overdue">超时</span></li>
    <li data-counter="triage"><b>–</b><span data-i18n="counter.triage">待分拨</span></li>
    <li data-counter="whistles_awaiting_ack" data-testid="counter-whistles"><b>–</b>
      <span data-i18n="counter.whistles">吹哨待报到</span></li>
    <li data-counter="duban_unreplied" class="warn" data-testid="counter-duban"><b>–</b>
      <span data-i18n="counter.duban">督办待回复</span></li>
    <li data-counter="closed_today"><b>–</b><span data-i18n="counter.closed_today">今日结案</span></li>
  </ul>
  <span id="clock"></span>
  <span id="conn" class="down" data-i18n="conn.connecting">连接中</span>
  {LANG_SELECT}
</header>
{QUEUE}
<main id="mapwrap">{body}</main>
<aside id="panel" hidden></aside>
<section id="boards" hidden data-testid="boards">
  <header>
    <button type="button" data-tab="duban" data-testid="tab-duban" data-i18n="boards.duban">督办</button>
    <button type="button" data-tab="whistles" data-testid="tab-whistles"
      data-i18n="boards.whistles">吹哨报到</button>
    <button type="button" class="x" data-act="close-boards" data-i18n="boards.close">关闭</button>
  </header>
  <div class="body"></div>
</section>
<script id="gridsvc-config" type="application/json">{_config(request, who, info)}</script>
{script}
<script src="/static/i18n/i18n.js"></script>
<script src="/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"></script>
<script src="/static/basemap/basemap.js"></script>
<script src="/static/ops/live.js"></script>
<script src="/static/ops/panel.js"></script>
<script src="/static/ops/squads.js"></script>
<script src="/static/ops/ops.js"></script>
<script src="/static/ops/queue.js"></script>
<script src="/static/ops/boards.js"></script>
</body></html>"""
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(request: Request) -> Response:
    who = await principal_or_none(request)
    if who is None:
        return _login(request)
    if who.role == "integration":
        raise APIError(403, "forbidden", "the hotline has no inbox")
    info = await _jurisdiction(request)
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<link rel="icon" href="data:,">
<title>我的任务</title>
<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">
<link rel="stylesheet" href="/static/inbox/inbox.css">
</head><body class="inbox">
<header id="bar">
  <h1 data-i18n="inbox.title">我的任务</h1>
  <span id="who">{html.escape(who.display_name or who.name)}</span>
  <span id="conn" class="down" data-i18n="conn.connecting">连接中</span>
  {LANG_SELECT}
</header>
<p id="toast" role="status" hidden></p>
<section id="inboxmap" data-testid="inbox-map"></section>
<section id="duban" data-testid="inbox-duban" hidden></section>
{FIELD_TOOLS}
<main id="list" aria-live="polite"></main>
<p id="empty" hidden data-i18n="inbox.empty">暂无待办任务</p>
{FIELD_REPORTS}
<script id="gridsvc-config" type="application/json">{_config(request, who, info)}</script>
<script src="/static/i18n/i18n.js"></script>
<script src="/static/vendor/leaflet/leaflet.js"></script>
<script src="/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"></script>
<script src="/static/basemap/basemap.js"></script>
<script src="/static/inbox/map.js"></script>
<script src="/static/ops/live.js"></script>
<script src="/static/inbox/inbox.js"></script>
<script src="/static/inbox/whistles.js"></script>
<script src="/static/inbox/duban.js"></script>
<script src="/static/inbox/field.js"></script>
</body></html>"""
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.get("/static/{path:path}")
async def static_file(path: str) -> Response:
    """Scripts, styles and dictionaries of the pages (and the vendored Leaflet)."""
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        raise APIError(404, "not_found", f"no static file {path!r}")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix in {".js", ".json", ".css"}:
        media += "; charset=utf-8"
    return FileResponse(target, media_type=media, headers={"Cache-Control": "no-cache"})
