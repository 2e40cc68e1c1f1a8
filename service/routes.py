"""URL map: every route the service answers, in one table (the OpenAPI document mirrors it)."""

from __future__ import annotations

from aiohttp import web

from service import feedback_views, retention_views, views

ROUTES: list[tuple[str, str, object]] = [
    ("GET", "/v1/users/{user_id}/recommendations", views.user_recommendations),
    ("GET", "/v1/items/{item_id}/similar", views.similar_items),
    ("POST", "/v1/recommendations/batch", views.batch_recommendations),
    ("GET", "/v1/campaigns/lapsed", retention_views.lapsed_campaign),
    ("GET", "/v1/campaigns/abandoned-carts", retention_views.abandoned_carts_campaign),
    ("GET", "/v1/users/{user_id}/follow-up", retention_views.user_follow_up),
    ("GET", "/v1/users/{user_id}/new", retention_views.user_new_items),
    ("GET", "/v1/users/{user_id}/buy-again", retention_views.user_buy_again),
    ("POST", "/v1/users/{user_id}/shown", feedback_views.mark_shown),
    ("GET", "/v1/stats/online", feedback_views.get_online_stats),
    ("POST", "/v1/events", views.post_events),
    ("PUT", "/v1/items", views.put_items),
    ("DELETE", "/v1/items/{item_id}", views.delete_item),
    ("GET", "/v1/model", views.get_model),
    ("POST", "/v1/model/retrain", views.retrain),
    ("GET", "/healthz", views.healthz),
    ("GET", "/readyz", views.readyz),
    ("GET", "/metrics", views.metrics),
    ("GET", "/openapi.json", views.openapi),
]


def setup_routes(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
