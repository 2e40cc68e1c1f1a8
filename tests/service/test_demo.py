"""`make demo` prints a working command for every route of the API."""

from __future__ import annotations

import os
import re
import stat

from service.demo import examples, load_or_make_keys, main
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


def test_a_bad_setting_stops_the_demo_with_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECS_REPEAT", "maybe")
    assert main(["--data-dir", str(tmp_path / "demo")]) == 2
    assert capsys.readouterr().err.startswith("error: RECS_REPEAT must be one of")
    assert not (tmp_path / "demo").exists()  # nothing was written first: no demo store, no keys
    monkeypatch.delenv("RECS_REPEAT")
    monkeypatch.setenv("RECS_PORT", "abc")  # read as a setting, not by argparse
    assert main(["--data-dir", str(tmp_path / "demo")]) == 2 and "RECS_PORT" in capsys.readouterr().err


def test_the_demo_keys_file_is_its_owners_alone(tmp_path):
    keys = load_or_make_keys(tmp_path / "demo" / "keys.env")
    assert stat.S_IMODE(os.stat(tmp_path / "demo" / "keys.env").st_mode) == 0o600
    assert load_or_make_keys(tmp_path / "demo" / "keys.env") == keys
