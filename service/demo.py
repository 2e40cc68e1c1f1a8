"""`make demo`: a synthetic storefront, fresh API keys, and the service serving it.

Prints working curl commands once the first model is trained.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import secrets
import sys
from pathlib import Path

from aiohttp import web

from recommender.demo import CATALOG_CHANGES_FILE, DemoData, generate_storefront, write_storefront
from recommender.demo_triggers import with_trigger_stories
from service.__main__ import configure_logging, serve
from service.http.app import create_app
from service.http.app_keys import SERVING
from service.settings import Settings, SettingsError


KEY_NAMES = ("read", "write", "admin")
#: The demo store's size: customers (`--users`), products and guides.
DEMO_USERS, DEMO_PRODUCTS, DEMO_CONTENT = 3000, 1200, 120


def demo_storefront(n_users: int = DEMO_USERS) -> DemoData:
    """The demo store: `n_users` customers whose events end now, DEMO_PRODUCTS products, DEMO_CONTENT guides, with
    the trigger stories (recommender.demo_triggers: restocks, price drops, browsing sessions, a trending burst)."""
    return with_trigger_stories(generate_storefront(n_users=n_users, n_products=DEMO_PRODUCTS,
                                                    n_content=DEMO_CONTENT))


def load_or_make_keys(path: Path) -> dict[str, str]:
    """Keys persist in the demo directory so restarts keep working curl commands; a key missing from
    an older file (the read key came with the dashboard) is made and added."""
    keys = dict(line.split("=", 1) for line in path.read_text().split()) if path.exists() else {}
    if all(name in keys for name in KEY_NAMES):
        return keys
    keys = {name: keys.get(name) or secrets.token_urlsafe(18) for name in KEY_NAMES}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # written anew, readable by its owner only from the start
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write("".join(f"{k}={v}\n" for k, v in keys.items()))
    return keys


def examples(base: str, keys: dict[str, str], user: str, item: str) -> str:
    read, write, admin = keys["read"], keys["write"], keys["admin"]
    auth = f"-H 'Authorization: Bearer {read}'"
    return f"""
Encore demo is serving at {base}
  dashboard: {base}/dashboard/  (sign in with the read key; the admin key may also retrain)
  read key:  {read}
  write key: {write}
  admin key: {admin}

Try (reads need the read key, or a write or admin key):
  curl -s {auth} '{base}/v1/users/{user}/recommendations?n=5'
  curl -s {auth} '{base}/v1/users/{user}/recommendations?n=3&fields=title,price,currency,url,image_url,brand,attributes'
  curl -s {auth} '{base}/v1/users/{user}/recommendations?n=3&kind=content'
  curl -s {auth} '{base}/v1/users/someone-new/recommendations?n=5'
  curl -s {auth} '{base}/v1/items/{item}/similar?n=5&fields=title,price'
  curl -s {auth} -X POST '{base}/v1/recommendations/batch' -d '{{"user_ids": ["{user}", "someone-new"], "n": 3}}'
  curl -s {auth} -X POST '{base}/v1/recommendations/batch' -H 'Accept: application/x-ndjson' -d '{{"user_ids": ["{user}", "someone-new"], "n": 3}}'
  curl -s {auth} '{base}/v1/campaigns/lapsed?min_days=240&max_days=365&n=4&kind=product&fields=title,price' | head -3
  curl -s {auth} '{base}/v1/campaigns/abandoned-carts?older_than_hours=24&within_days=7&n=3&cap_hours=16' | head -3
  curl -s {auth} '{base}/v1/campaigns/back-in-stock?within_days=30&n=3&fields=title' | head -3
  curl -s {auth} '{base}/v1/campaigns/price-drop?min_drop_pct=10&within_days=30&n=3' | head -3
  curl -s {auth} '{base}/v1/campaigns/browse-abandonment?older_than_hours=2&within_hours=48&min_views=2&n=3' | head -3
  curl -s {auth} '{base}/v1/items/{item}/audience?n=5&exclude_bought_days=90'
  curl -s {auth} '{base}/v1/items/trending?hours=24&n=5'
  curl -s -X POST '{base}/v1/events' -H 'Authorization: Bearer {write}' -d '{{"user_id": "{user}", "item_id": "{item}", "type": "notify_me"}}'
  curl -s {auth} '{base}/v1/users/{user}/email-block?blocks=recommended,buy_again,new_for_you,follow_up&n=4&fields=title,price,url,image_url'
  curl -s {auth} '{base}/v1/users/{user}/email-block?blocks=recommended,follow_up&n=3&format=html'
  curl -s {auth} -X POST '{base}/v1/email-blocks/batch' -d '{{"user_ids": ["{user}", "someone-new"], "blocks": ["recommended", "new_for_you"], "n": 3, "fields": ["title", "price"]}}'
  curl -s -X POST '{base}/v1/users/{user}/contacted' -H 'Authorization: Bearer {write}' -d '{{"channel": "email", "campaign": "win_back"}}'
  curl -s {auth} '{base}/v1/campaigns/lapsed?min_days=0&max_days=3650&n=2' | grep -c '"{user}"'   # 0: contacted within RECS_CONTACT_CAP_HOURS
  curl -s '{base}/metrics' | grep encore_campaign_customers_left_out_total
  curl -s {auth} '{base}/v1/users/{user}/follow-up?n=4'
  curl -s {auth} '{base}/v1/users/{user}/new?days=30&n=10'
  curl -s {auth} '{base}/v1/users/{user}/buy-again?n=10'
  curl -s {auth} '{base}/v1/users/{user}/profile'   # orders, revenue, AOV, p_alive, expected orders, predicted value, segment
  curl -s {auth} '{base}/v1/customers?segment=at_risk&n=5'
  curl -s {auth} '{base}/v1/campaigns/lapsed?max_p_alive=0.5&min_value=20&n=3' | head -3   # by value at risk
  curl -s {auth} '{base}/v1/users/{user}/events?n=5'
  curl -s {auth} '{base}/v1/items/{item}'
  curl -s -X POST '{base}/v1/events' -H 'Authorization: Bearer {write}' -d '{{"user_id": "someone-new", "item_id": "{item}", "type": "purchase"}}'
  curl -s {auth} '{base}/v1/users/{user}/recommendations?n=3&explain=true'
  curl -s -X POST '{base}/v1/users/{user}/shown' -H 'Authorization: Bearer {write}' -d '{{"item_ids": ["{item}"]}}'
  curl -s -X POST '{base}/v1/events' -H 'Authorization: Bearer {write}' -d '{{"user_id": "{user}", "item_id": "{item}", "type": "impression"}}'
  curl -s -X POST '{base}/v1/events' -H 'Authorization: Bearer {write}' -d '{{"user_id": "{user}", "item_id": "{item}", "type": "click", "recommendation_id": "RECOMMENDATION_ID_FROM_A_RESPONSE"}}'
  curl -s -X POST '{base}/v1/events' -H 'Authorization: Bearer {write}' -d '[{{"user_id": "{user}", "item_id": "{item}", "type": "purchase", "quantity": 2, "order_id": "demo-order-1", "recommendation_id": "RECOMMENDATION_ID_FROM_A_RESPONSE"}}, {{"user_id": "{user}", "item_id": "p00002", "type": "purchase", "price": 9.5, "order_id": "demo-order-1"}}]'
  curl -s {auth} '{base}/v1/stats/online?days=7'   # impressions, clicks, purchases, orders, revenue, aov, revenue_per_mille
  curl -s -X PUT '{base}/v1/items' -H 'Authorization: Bearer {write}' -d '[{{"item_id": "new-kettle", "kind": "product", "category": "kitchen", "in_stock": true, "title": "Kettle", "price": 39.9, "currency": "EUR", "url": "https://example.com/products/new-kettle", "image_url": "https://example.com/images/new-kettle.jpg", "brand": "Acme", "attributes": {{"litres": 1.7, "cordless": true}}}}]'
  curl -s -X DELETE '{base}/v1/items/{item}' -H 'Authorization: Bearer {write}'
  curl -s -X POST '{base}/v1/users/{user}/merge' -H 'Authorization: Bearer {write}' -d '{{"from": "someone-new"}}'   # a visitor signed in
  curl -s -X DELETE '{base}/v1/users/someone-new' -H 'Authorization: Bearer {admin}'   # erase a customer (GDPR/CCPA)
  curl -s '{base}/v1/users/someone-new/erasure' -H 'Authorization: Bearer {admin}'   # pending, then done after a training
  curl -s -X POST '{base}/v1/model/retrain' -H 'Authorization: Bearer {admin}'
  curl -s {auth} '{base}/v1/model'
  curl -s {auth} '{base}/v1/model/history?n=5'
  curl -s {auth} '{base}/v1/key'
  curl -s {auth} '{base}/v1/items/{item}/complements?n=5'
  curl -s {auth} '{base}/v1/stats/events?days=7&bucket=day'
  curl -s -X PUT '{base}/v1/experiments/spring' -H 'Authorization: Bearer {admin}' -d '{{"variants": [{{"name": "control", "share": 0.9, "model": "serving"}}, {{"name": "holdout", "share": 0.1, "model": "popularity"}}]}}'
  curl -s {auth} '{base}/v1/experiments'
  curl -s {auth} '{base}/v1/users/{user}/variant'
  curl -s {auth} '{base}/v1/experiments/spring'   # results per variant against the control
  curl -s -X POST '{base}/v1/experiments/spring/stop' -H 'Authorization: Bearer {admin}'
  curl -s -X POST '{base}/v1/experiments/spring/promote/control' -H 'Authorization: Bearer {admin}'
  curl -s '{base}/healthz'
  curl -s '{base}/readyz'
  curl -s '{base}/metrics' | head
  curl -s '{base}/openapi.json'
Stop with Ctrl-C.
"""


async def _announce(app: web.Application, text: str) -> None:
    while app[SERVING].current is None:
        await asyncio.sleep(0.2)
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data/demo")
    parser.add_argument("--port", type=int, help="default: RECS_PORT, else 8080")
    parser.add_argument("--users", type=int, default=DEMO_USERS)
    args = parser.parse_args(argv)

    data_dir = Path(args.data_dir)
    events_path, catalog_path = data_dir / "events.csv", data_dir / "catalog.csv"
    changes = data_dir / CATALOG_CHANGES_FILE
    try:  # before anything is written: a bad setting is a one-line error, not a traceback after the work
        settings = Settings.from_env({
            "RECS_BOOTSTRAP_CATALOG_CHANGES": str(changes),
            **os.environ, "RECS_DATA_DIR": str(data_dir / "service"),
            **({"RECS_PORT": str(args.port)} if args.port is not None else {}),
            "RECS_BOOTSTRAP_EVENTS": str(events_path), "RECS_BOOTSTRAP_CATALOG": str(catalog_path),
        })
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keys = load_or_make_keys(data_dir / "keys.env")
    settings = dataclasses.replace(settings, read_keys=(keys["read"],), write_keys=(keys["write"],),
                                   admin_keys=(keys["admin"],))
    if not events_path.exists():
        data = demo_storefront(args.users)
        write_storefront(data, data_dir)
        print(f"generated {len(data.events):,} demo events and {len(data.catalog):,} items in {data_dir}")
    if not changes.exists() and settings.bootstrap_catalog_changes == changes:  # a store made before them
        settings = dataclasses.replace(settings, bootstrap_catalog_changes=None)
    configure_logging(settings)
    app = create_app(settings)
    base = f"http://{settings.host}:{settings.port}"
    text = examples(base, keys, user="u000001", item="p00001")

    async def announce_ctx(app: web.Application):
        task = asyncio.create_task(_announce(app, text))
        yield
        task.cancel()

    app.cleanup_ctx.append(announce_ctx)
    return serve(app, settings.host, settings.port)


if __name__ == "__main__":
    sys.exit(main())
