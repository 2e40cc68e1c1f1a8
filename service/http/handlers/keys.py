"""Handler of the key route: what the caller's key may do, so a client (the dashboard's sign-in) can
refuse a wrong key and offer admin actions only to admin keys."""

from __future__ import annotations

from aiohttp import web

from service.http.app_keys import SETTINGS
from service.http.auth import READ, key_scopes, requires
from service.http.responses import json_response


@requires(READ)
async def get_key(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return json_response({"scopes": key_scopes(settings, request.headers.get("Authorization")),
                          "reads_need_a_key": bool(settings.read_keys)})
