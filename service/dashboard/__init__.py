"""The dashboard: static files (HTML, ES modules, CSS, the uPlot charting library) that the service
serves under /dashboard/ (service.http.dashboard). No build step: the browser loads the modules as
they are. Every number it shows comes from the public JSON API, called with the key the user signs
in with (kept in the tab's session storage, sent as `Authorization: Bearer`; no cookies).

`static/` holds `index.html`, `app.js` (sign-in, navigation, render timings), `api.js` (the API
client: keys, errors, NDJSON streams, what the OpenAPI document offers), `ui.js` and `charts.js`
(DOM and chart helpers), one module per page in `pages/`, and `vendor/uplot/` (uPlot from the npm
registry, with its licence).
"""

from pathlib import Path

#: The directory served under /dashboard/.
STATIC_DIR = Path(__file__).parent / "static"
