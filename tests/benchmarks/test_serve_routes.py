"""The serving benchmark's request mixes."""

from __future__ import annotations

import json
from urllib.parse import unquote

import numpy as np

from benchmarks.serve_routes import BATCH_USERS, EVENTS_PER_REQUEST, HOT_ITEMS, HOT_USERS, KEYS, LIST_N, build_routes


def test_routes_split_users_and_items_into_hot_and_once_only() -> None:
    rng = np.random.default_rng(0)
    precomputed = np.array([f"u{k}" for k in range(HOT_USERS + 700)], dtype=object)
    pool = np.array([f"m{k}" for k in range(300)], dtype=object)
    items = np.array([f"i{k:05d}" for k in range(HOT_ITEMS + 400)], dtype=object)
    popular = items[::-1].copy()
    routes = build_routes(rng, precomputed, pool, items, popular, "v1")

    hot, first = routes["cached"].paths, routes["first_read"].paths
    assert len(hot) == HOT_USERS and len(first) == 700 and not set(hot) & set(first)
    assert len(set(first)) == len(first) and routes["first_read"].unique and routes["miss"].unique
    assert {p.split("/")[3] for p in hot + first} == set(precomputed)
    assert hot[0] == f"/v1/users/{hot[0].split('/')[3]}/recommendations?n={LIST_N}"
    assert hot != sorted(hot)  # shuffled: consecutive requests touch different keys
    assert {p.split("/")[3] for p in routes["miss"].paths} == set(pool)
    assert routes["first_read"].warm_paths == hot and routes["miss"].warm_paths == hot
    # the bare per-user GET reads the first-read users' own lists, one key per request
    bare = routes["bare_get_user"]
    assert bare.target == "bare_get" and bare.unique
    assert [unquote(p.removeprefix("/get/")) for p in bare.paths] == [
        KEYS.user_recs("v1", p.split("/")[3]) for p in reversed(first)]

    similar = {p.split("/")[3] for p in routes["similar"].paths}
    assert similar == set(popular[:HOT_ITEMS])
    assert {p.split("/")[3] for p in routes["similar_first"].paths} == set(items) - similar

    for body in routes["batch"].bodies:
        users = json.loads(body)["user_ids"]
        assert len(set(users)) == BATCH_USERS and set(users) <= set(precomputed)
    events = json.loads(routes["events"].bodies[0])
    assert len(events) == EVENTS_PER_REQUEST and all(e["user_id"].startswith("bench-new-") for e in events)
    assert routes["events"].headers["Authorization"].startswith("Bearer ")


def test_the_priced_events_and_the_fields_route_differ_from_their_base_only_by_what_they_measure(tmp_path) -> None:
    from benchmarks.serve_routes import LIST_FIELDS, prepare_catalog
    from recommender.catalog import read_catalog
    from service.ingest import parse_batch

    rng = np.random.default_rng(0)
    precomputed = np.array([f"u{k}" for k in range(HOT_USERS + 10)], dtype=object)
    items = np.array([f"i{k:05d}" for k in range(HOT_ITEMS + 10)], dtype=object)
    routes = build_routes(rng, precomputed, precomputed[:5], items, items, "v1")
    assert routes["cached_fields"].paths == [f"{p}&fields={LIST_FIELDS}" for p in routes["cached"].paths]
    for plain_body, priced_body in zip(routes["events"].bodies, routes["events_priced"].bodies):
        plain, priced = json.loads(plain_body), json.loads(priced_body)
        assert [{k: e[k] for k in ("user_id", "item_id", "type", "timestamp")} for e in priced] == plain
        table = parse_batch(priced).events  # valid as the service takes it
        carts_and_buys = np.isin(table.types, [2, 3])
        assert (table.quantities[carts_and_buys] >= 1).all() and np.isfinite(table.prices[carts_and_buys]).any()
        assert np.isnan(table.prices[table.types == 3]).any()  # some purchases priced from the catalog
    catalog = read_catalog(prepare_catalog(tmp_path, items[:3], 0))
    assert all(catalog.get(i).price and catalog.get(i).image_url for i in items[:3])
