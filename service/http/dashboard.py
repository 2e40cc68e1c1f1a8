"""The dashboard's static files under /dashboard/ (service/dashboard/static), with headers that keep
the page to its own scripts: a Content-Security-Policy allowing scripts, styles and API calls from
this origin only, no framing, no referrer. Not API routes, so not in routes.py or the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from service.dashboard import STATIC_DIR

PREFIX = "/dashboard/"
#: Styles may be inline only for the email preview (an email's HTML is all inline styles); it is
#: shown in a sandboxed frame that runs no script. Product images may come from any https host.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; "
       "connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
         ".png": "image/png", ".txt": "text/plain", ".md": "text/plain"}


async def _redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(PREFIX)


def static_files() -> dict[str, Path]:
    """The files a request may name: every file under STATIC_DIR of a type in TYPES, by its path relative to
    it. Requests are looked up here, so no request path ever reaches the file system (`..`, NUL bytes and
    names too long for it are simply not found)."""
    return {path.relative_to(STATIC_DIR).as_posix(): path for path in sorted(STATIC_DIR.rglob("*"))
            if path.is_file() and path.suffix in TYPES}


def setup_dashboard(app: web.Application) -> None:
    files = static_files()

    async def file(request: web.Request) -> web.StreamResponse:
        """A dashboard file (index.html for the directory); 404 for anything else."""
        path = files.get(request.match_info.get("path") or "index.html")
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={**HEADERS, "Content-Type": TYPES[path.suffix]})

    app.router.add_get(PREFIX.rstrip("/"), _redirect)
    app.router.add_get(PREFIX, file)
    app.router.add_get(PREFIX + "{path:.+}", file)
