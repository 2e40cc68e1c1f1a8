"""`make demo` prints a working command for every route of the API."""

from __future__ import annotations

import re

from service.demo import examples
from service.http.routes import ROUTES


def test_the_printed_commands_show_every_route():
    text = examples("http://h", {"read": "r", "write": "w", "admin": "a"}, user="u000001", item="p00001")
    for method, path, _ in ROUTES:
        pattern = re.escape("http://h" + path)
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/?']+", pattern) + "[?']"
        commands = [line for line in text.splitlines() if re.search(pattern, line)]
        if method != "GET":
            commands = [line for line in commands if f"-X {method}" in line]
        assert commands, f"no command for {method} {path}"


async def test_the_demo_store_gives_customers_on_every_trigger_route(make_client, settings, tmp_path):
    import json

    from recommender.demo import CATALOG_CHANGES_FILE, generate_storefront, write_storefront
    from recommender.demo_triggers import with_trigger_stories

    data = with_trigger_stories(generate_storefront(n_users=1500, n_products=400, n_content=40, seed=5))
    events, catalog = write_storefront(data, tmp_path / "demo")
    client = await make_client(settings, bootstrap_events=events, bootstrap_catalog=catalog,
                               bootstrap_catalog_changes=tmp_path / "demo" / CATALOG_CHANGES_FILE)
    item = data.events.to_frame()["item_id"].value_counts().index[0]
    counts = {}
    for url in ("/v1/campaigns/back-in-stock?within_days=30&n=3", "/v1/campaigns/price-drop?min_drop_pct=10",
                "/v1/campaigns/browse-abandonment?older_than_hours=2&within_hours=48&min_views=2",
                f"/v1/items/{item}/audience?n=50"):
        response = await client.get(url)
        assert response.status == 200, await response.text()
        counts[url] = len([json.loads(line) for line in (await response.text()).splitlines()])
    assert all(count > 0 for count in counts.values()), counts
    trending = await (await client.get("/v1/items/trending?hours=24&n=5")).json()
    assert len(trending["items"]) == 5
