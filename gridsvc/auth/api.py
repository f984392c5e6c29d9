"""Routes of the auth domain: the login page for the pages, ``/me``, and accounts for admins.

The pages (``/ops``, ``/inbox``) log in with a token: ``POST /login`` checks it and keeps it
in an HttpOnly, SameSite=Strict cookie (``gridsvc_token``), which every route accepts like a
bearer token. SameSite=Strict keeps other *sites* from riding on that cookie; pages on another
port of the same host are the same site, so state changes with the cookie, and ``POST /login``
itself, are also checked for their origin (:mod:`gridsvc.auth.csrf`).
``POST /logout`` only drops the cookie: the token itself stays valid until revoked.
"""

from __future__ import annotations

import html
import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from gridsvc.auth import models, service
from gridsvc.auth.csrf import check_origin
from gridsvc.auth.deps import TOKEN_COOKIE, current
from gridsvc.auth.policy import DEPARTMENT, GRID_HEAD, SQUAD
from gridsvc.errors import APIError

router = APIRouter(tags=["auth"])

# Where each role lands after logging in: the field roles have the phone inbox, the others
# the operator map.
LANDING = {GRID_HEAD: "/inbox", SQUAD: "/inbox", DEPARTMENT: "/inbox"}
DEFAULT_LANDING = "/ops"

_LOGIN_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 · Log in — gridsvc</title>
<style>
body {{ font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0;
       background: #f3f5f7; display: flex; min-height: 100vh; align-items: center;
       justify-content: center; }}
form {{ background: #fff; padding: 1.5rem; border-radius: 8px; width: min(24rem, 92vw);
       box-shadow: 0 1px 4px rgba(0,0,0,.15); }}
h1 {{ font-size: 1.2rem; margin: 0 0 1rem; }}
label {{ display: block; margin-bottom: .4rem; }}
input[type=password] {{ width: 100%; box-sizing: border-box; padding: .6rem; font-size: 1rem; }}
button {{ margin-top: 1rem; width: 100%; padding: .7rem; font-size: 1rem; }}
.en {{ color: #667; font-size: .85em; }}
.error {{ color: #b00020; margin: 0 0 .8rem; }}
</style></head>
<body><form method="post" action="/login">
<h1>综合行政执法 指挥调度 <span class="en">gridsvc dispatch</span></h1>
{error}
<label for="token">访问令牌 <span class="en">Access token</span></label>
<input type="password" id="token" name="token" autocomplete="current-password"
       placeholder="gs_..." required autofocus>
<input type="hidden" name="next" value="{next}">
<button type="submit">登录 <span class="en">Log in</span></button>
<p class="en">令牌由管理员发放（gridsvc users token）。Tokens are issued by an administrator
(gridsvc users token NAME).</p>
</form></body></html>
"""


def _login_page(*, error: str | None = None, next_path: str = "", status: int = 200) -> HTMLResponse:
    shown = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return HTMLResponse(_LOGIN_PAGE.format(error=shown, next=html.escape(next_path)), status_code=status)


def _safe_next(value: str | None) -> str | None:
    """Only a path on this site ("/ops?x"), never another host ("//evil", "https://...")."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@router.get("/login", response_class=HTMLResponse, summary="The login form (a token)")
async def login_form(
    next_: Annotated[str | None, Query(alias="next", description="where to go after")] = None,
) -> HTMLResponse:
    return _login_page(next_path=_safe_next(next_) or "")


@router.post(
    "/login",
    summary="Log in with a token: sets the cookie and goes to the pages",
    responses={
        303: {"description": "logged in: to /inbox (grid heads, squads, departments) or /ops"},
        401: {"description": "the token is unknown or revoked (the form again)"},
    },
)
async def login(request: Request) -> Response:
    # login CSRF: another site's page must not log this browser in to an account of its
    # choosing. A script without Origin/Referer (no browser) may still log in.
    check_origin(request, what="POST /login", require_evidence=False)
    form = await _form(request)
    token = (form.get("token") or "").strip()
    next_path = _safe_next(form.get("next"))
    found = await service.principal_for_token(request.app.state.pool, token) if token else None
    if found is None:
        return _login_page(
            error="令牌无效或已吊销。The token is unknown or revoked.", next_path=next_path or "", status=401
        )
    response = RedirectResponse(next_path or LANDING.get(found.role, DEFAULT_LANDING), status_code=303)
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
        max_age=request.app.state.settings.login_cookie_max_age_s,
    )
    return response


_FORM_MAX = 4096


async def _form(request: Request) -> dict[str, str]:
    """The form fields (urlencoded, the browser's way) or a JSON object (a script's)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _FORM_MAX:  # refused before reading it
        raise APIError(413, "body_too_large", f"a login form is small (at most {_FORM_MAX} bytes)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _FORM_MAX:
            raise APIError(413, "body_too_large", f"a login form is small (at most {_FORM_MAX} bytes)")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            raise APIError(400, "malformed_json", "body is not valid JSON") from None
        return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


@router.post(
    "/logout",
    summary="Forget the login cookie (the token stays valid)",
    responses={303: {"description": "to /login"}},
)
async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        TOKEN_COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.get("/me", response_model=models.Me, summary="Who the token belongs to, and its scope")
async def me(request: Request) -> dict[str, Any]:
    who = current(request)
    return {
        "user_id": who.user_id,
        "name": who.name,
        "role": who.role,
        "grid_codes": list(who.grid_codes),
        "squad_id": who.squad_id,
        "integration": who.integration,
        "department_code": who.department_code,
        "station_codes": list(who.station_codes),
        "township_codes": list(who.township_codes),
        "webhook_url": who.webhook_url,
        "display_name": who.display_name,
        "actor": getattr(request.state, "actor", None) or who.actor,
        "auth_enabled": request.app.state.settings.auth_enabled,
    }


# -- accounts (admins) -------------------------------------------------------------------


@router.get(
    "/users", response_model=list[models.UserOut], summary="Accounts with their tokens (prefixes only)"
)
async def list_users(request: Request) -> list[dict[str, Any]]:
    return await service.list_users(request.app.state.pool)


@router.post(
    "/users",
    response_model=models.UserCreated,
    status_code=201,
    summary="Create an account and its first token (shown once)",
)
async def create_user(request: Request, body: models.UserIn) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as connection, connection.transaction():
        try:
            await service.create_user(
                connection,
                name=body.name,
                role=body.role,
                grid_codes=body.grid_codes,
                squad_code=body.squad_code,
                integration=body.integration,
                webhook_url=body.webhook_url,
                display_name=body.display_name,
                department_code=body.department_code,
                station_codes=body.station_codes,
                township_codes=body.township_codes,
            )
        except service.UserError as error:
            raise APIError(422, "invalid_value", str(error)) from None
        token = await service.issue_token_row(connection, user_name=body.name, label=body.token_label)
        user = await service.get_user(connection, name=body.name)
    return {"user": user, "token": token}


@router.post(
    "/users/{name}/tokens",
    response_model=models.IssuedToken,
    status_code=201,
    summary="Issue another token for an account (shown once)",
)
async def issue_token(request: Request, name: str, body: models.TokenIn | None = None) -> dict[str, Any]:
    try:
        return await service.issue_token_row(
            request.app.state.pool, user_name=name, label=body.label if body else None
        )
    except service.UserNotFound as error:
        raise APIError(404, "not_found", str(error)) from None


@router.delete(
    "/tokens/{token_id}",
    response_model=models.TokenInfo,
    summary="Revoke a token (effective within 5 s in every process)",
)
async def revoke_token(request: Request, token_id: int) -> dict[str, Any]:
    row = await service.revoke_token(request.app.state.pool, token=token_id)
    if row is None:
        raise APIError(404, "not_found", f"token {token_id} does not exist")
    return row
