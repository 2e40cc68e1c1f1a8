"""URL map: every route the service answers, in one table (the OpenAPI document mirrors it)."""

from __future__ import annotations

from aiohttp import web

from service.http.handlers import (
    customers, email, experiments, feedback, insight, keys, lists, model, ops, retention, users, writes,
)

ROUTES: list[tuple[str, str, object]] = [
    ("GET", "/v1/users/{user_id}/recommendations", lists.user_recommendations),
    ("GET", "/v1/items/{item_id}/similar", lists.similar_items),
    ("GET", "/v1/items/trending", retention.trending_items),  # before /v1/items/{item_id}, which would match it
    ("POST", "/v1/recommendations/batch", lists.batch_recommendations),
    ("GET", "/v1/campaigns/lapsed", retention.lapsed_campaign),
    ("GET", "/v1/campaigns/abandoned-carts", retention.abandoned_carts_campaign),
    ("GET", "/v1/campaigns/back-in-stock", retention.back_in_stock_campaign),
    ("GET", "/v1/campaigns/price-drop", retention.price_drop_campaign),
    ("GET", "/v1/campaigns/browse-abandonment", retention.browse_abandonment_campaign),
    ("GET", "/v1/users/{user_id}/follow-up", retention.user_follow_up),
    ("GET", "/v1/users/{user_id}/new", retention.user_new_items),
    ("GET", "/v1/users/{user_id}/buy-again", retention.user_buy_again),
    ("POST", "/v1/users/{user_id}/shown", feedback.mark_shown),
    ("GET", "/v1/users/{user_id}/email-block", email.user_email_block),
    ("POST", "/v1/email-blocks/batch", email.email_blocks_batch),
    ("POST", "/v1/users/{user_id}/contacted", email.mark_contacted),
    ("GET", "/v1/stats/online", feedback.get_online_stats),
    ("POST", "/v1/events", writes.post_events),
    ("PUT", "/v1/items", writes.put_items),
    ("DELETE", "/v1/items/{item_id}", writes.delete_item),
    ("GET", "/v1/model", model.get_model),
    ("POST", "/v1/model/retrain", model.retrain),
    ("GET", "/v1/model/history", model.get_training_history),
    ("GET", "/v1/key", keys.get_key),
    ("GET", "/v1/users/{user_id}/events", insight.user_events),
    ("GET", "/v1/items/{item_id}/complements", insight.item_complements),
    ("GET", "/v1/items/{item_id}/audience", retention.item_audience_route),
    ("GET", "/v1/items/{item_id}", insight.item_record),
    ("GET", "/v1/stats/events", insight.event_stats),
    ("DELETE", "/v1/users/{user_id}", users.erase_user),
    ("GET", "/v1/users/{user_id}/erasure", users.erasure_state),
    ("POST", "/v1/users/{user_id}/merge", users.merge_user),
    ("GET", "/v1/experiments", experiments.list_experiments),
    ("PUT", "/v1/experiments/{name}", experiments.put_experiment),
    ("GET", "/v1/experiments/{name}", experiments.get_experiment),
    ("POST", "/v1/experiments/{name}/stop", experiments.stop_experiment),
    ("POST", "/v1/experiments/{name}/promote/{variant}", experiments.promote_variant),
    ("GET", "/v1/users/{user_id}/variant", experiments.user_variant),
    ("GET", "/healthz", ops.healthz),
    ("GET", "/readyz", ops.readyz),
    ("GET", "/metrics", ops.metrics),
    ("GET", "/openapi.json", ops.openapi),
    ("GET", "/v1/users/{user_id}/profile", customers.user_profile),
    ("GET", "/v1/customers", customers.customer_audience),
]


def setup_routes(app: web.Application) -> None:
    """Every route of ROUTES; each GET route also answers HEAD (RFC 9110: the GET's status and headers, no
    body), which load balancers' health checks send."""
    for method, path, handler in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler)  # allow_head=True
        else:
            app.router.add_route(method, path, handler)
