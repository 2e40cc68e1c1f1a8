"""The dashboard's static files: served under /dashboard/ without a key (they hold no data), with a strict
Content-Security-Policy, their own content types, and nothing outside the static directory."""

from __future__ import annotations

import re

import pytest

from service.dashboard import STATIC_DIR


async def test_the_dashboard_is_served_with_its_security_headers(client):
    response = await client.get("/dashboard", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/dashboard/"
    page = await client.get("/dashboard/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<script type="module" src="app.js">' in await page.text()
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Referrer-Policy"] == "no-referrer"
    for path, kind in (("app.js", "text/javascript"), ("pages/campaigns.js", "text/javascript"),
                       ("style.css", "text/css"), ("vendor/uplot/uPlot.iife.min.js", "text/javascript")):
        response = await client.get(f"/dashboard/{path}")
        assert response.status == 200 and response.headers["Content-Type"].startswith(kind), path
        assert response.headers["Content-Security-Policy"] == csp


@pytest.mark.parametrize("path", ["/dashboard/nothing.js", "/dashboard/%2e%2e/__init__.py",
                                  "/dashboard/..%2f..%2fsettings.py", "/dashboard/vendor/uplot/LICENSE",
                                  "/dashboard/pages/", "/dashboard/app.js%00.html", "/dashboard/%00",
                                  "/dashboard/" + "a" * 5000 + ".js"])
async def test_anything_else_under_the_prefix_is_404(client, path):
    """Names the file system would refuse (a NUL byte, too long) are not found either, not a 500 or a 503."""
    response = await client.get(path)
    assert response.status == 404 and (await response.json())["error"]["code"] == "not_found"


def test_every_module_the_dashboard_imports_is_there():
    for module in STATIC_DIR.rglob("*.js"):
        if "vendor" in module.parts:
            continue
        for target in re.findall(r'from "(\.{1,2}/[^"]+)"', module.read_text()):
            assert (module.parent / target).resolve().is_file(), f"{module.name} imports {target}"
    html = (STATIC_DIR / "index.html").read_text()
    for target in re.findall(r'(?:src|href)="([^"#:]+)"', html):
        assert (STATIC_DIR / target).is_file(), target
