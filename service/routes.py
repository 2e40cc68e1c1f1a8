"""URL map: every route the service answers, in one table (the OpenAPI document mirrors it)."""

from __future__ import annotations

from aiohttp import web

from service import views

ROUTES: list[tuple[str, str, object]] = [
    ("GET", "/v1/users/{user_id}/recommendations", views.user_recommendations),
    ("GET", "/v1/items/{item_id}/similar", views.similar_items),
    ("POST", "/v1/recommendations/batch", views.batch_recommendations),
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
