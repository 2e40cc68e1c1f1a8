"""Debian's Chromium driven by Playwright for Python, headless: how to launch it on these machines, how
to sign in to the dashboard, and how long each page takes to draw.

Playwright's own browser download cannot work here, so the browser is Debian's package
(`apt-get install -y chromium`, which `make test` does when it is missing), launched by its path. The
flags keep it from reaching out to the network (background updates, sync, component downloads) and
let it run as root in a container (`--no-sandbox`).

A page's first render is what the dashboard itself records (service/dashboard/static/app.js,
`window.encoreRenders`): from the start of the page's route to the moment its last card is drawn,
every API call answered; a campaign card is drawn once its first customers show, with its count
running. `load_ms` measures the same moment from the start of the document's navigation, so it
adds loading the HTML, scripts and the OpenAPI document. `complete_ms` is when what the page goes
on loading has come in (every campaign's whole NDJSON stream counted); for the other pages it is
the first render.
"""

from __future__ import annotations


from dataclasses import dataclass
from pathlib import Path

#: Debian's Chromium (package `chromium`).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage")
#: The dashboard's pages, in its navigation's order; customer and item take an id.
PAGES = ("overview", "customer", "item", "campaigns", "experiments")


def launch_options() -> dict:
    """Keyword arguments of Playwright's `chromium.launch` for Debian's Chromium, headless.

    Raises
    ------
    FileNotFoundError
        If Chromium is not installed (`make test` installs it: `apt-get install -y chromium`).
    """
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: run `make test` (or `apt-get install -y chromium`)")
    return {"executable_path": str(CHROMIUM), "args": list(CHROMIUM_ARGS), "headless": True}


DEMO_IMAGE_HOST = "https://example.com/"


def console_error(message) -> str | None:
    """The text of a Playwright console `message` if it is an error worth failing a test for, else None.

    A failed load of the demo catalog's placeholder images (`image_url`s on example.com, which this
    sandbox cannot resolve; the email block renders them in a sandboxed iframe, whose requests
    Playwright cannot route) is not an error of the dashboard's."""
    if message.type != "error":
        return None
    if message.text.startswith("Failed to load resource") and message.location.get("url", "").startswith(
            DEMO_IMAGE_HOST):
        return None
    return message.text


def sign_in(page, dashboard: str, key: str, timeout_ms: float = 30_000) -> None:
    """Open the dashboard (`http://host:port/dashboard/`), sign in with `key` and wait for the overview."""
    page.goto(dashboard)
    page.fill("#key", key)
    page.press("#key", "Enter")
    page.wait_for_selector("main[data-ready='overview']", timeout=timeout_ms)


def page_name(route: str) -> str:
    """`customer/u1?now=5` -> `customer`."""
    return route.split("?")[0].split("/")[0]


@dataclass(frozen=True)
class PageRender:
    """One page's first render, in milliseconds."""

    route: str  # e.g. customer/u000001
    render_ms: float  # from the route's start to its last card drawn
    load_ms: float  # from the document's navigation start to the same moment
    complete_ms: float  # from the route's start to what the page goes on loading having come in


def first_render(page, dashboard: str, route: str, timeout_ms: float = 60_000) -> PageRender:
    """Load `dashboard#/route` as a fresh document (the tab must be signed in), time its first render and
    wait until the page is complete."""
    page.goto("about:blank")
    page.goto(f"{dashboard}#/{route}")
    page.wait_for_selector(f"main[data-complete='{page_name(route)}']", timeout=timeout_ms)
    last = page.evaluate("() => window.encoreRenders[window.encoreRenders.length - 1]")
    return PageRender(route, float(last["ms"]), float(last["sinceLoad"]), float(last["completeMs"]))
