"""Email blocks (JSON, HTML, the NDJSON batch) and the contact cap through HTTP against a real Redis."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from service.http.app_keys import METRICS
from tests.service.conftest import AUTH_WRITE, NOW, wait_for

BLOCKS = ("recommended", "buy_again", "new_for_you", "follow_up")


def _buyers(demo, n: int) -> list[str]:
    """Customers with the most purchases (so every block has something)."""
    frame = demo[0].events.to_frame()
    return frame[frame["type"] == "purchase"]["user_id"].value_counts().index[:n].astype(str).tolist()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


async def test_one_recipient_gets_every_block_with_its_own_recommendation_id(client, demo):
    user = _buyers(demo, 1)[0]
    response = await client.get(f"/v1/users/{user}/email-block?blocks={','.join(BLOCKS)}&n=3&fields=title,price"
                                f"&now={int(NOW)}")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert list(body["blocks"]) == list(BLOCKS)
    ids = [block["recommendation_id"] for block in body["blocks"].values()]
    assert len(set(ids)) == 4 and [i.split(".")[0] for i in ids] == [f"email_{b}" for b in BLOCKS]
    assert body["blocks"]["recommended"]["items"] and body["blocks"]["follow_up"]["purchased"]
    for block in body["blocks"].values():
        assert len(block["items"]) <= 3 and all({"title", "price"} <= set(i) for i in block["items"])
    mine = (await (await client.get(f"/v1/users/{user}/recommendations?n=3")).json())["items"]
    assert [i["item_id"] for i in body["blocks"]["recommended"]["items"]] == [i["item_id"] for i in mine]


async def test_an_item_appears_in_one_block_of_an_email_only(client, demo):
    users = _buyers(demo, 60)
    orders = [list(BLOCKS), ["buy_again", "follow_up", "recommended", "new_for_you"]]
    alone = {}  # block -> user -> the block's items asked for on its own
    for block in BLOCKS:
        lines = await _batch(client, users, [block])
        alone[block] = {line["user_id"]: _ids(line["blocks"][block]) for line in lines}
    overlapping = 0
    for blocks in orders:
        for line in await _batch(client, users, blocks):
            seen: list[str] = []
            for block in blocks:
                items = _ids(line["blocks"][block])
                assert not set(items) & set(seen), (line["user_id"], block)
                earlier = set(seen)
                own = alone[block][line["user_id"]]
                if block == "recommended":  # read before the others: it only loses what they hold
                    assert items == [i for i in own if i not in earlier]
                else:  # the block's next items, up to n
                    assert items[:len([i for i in own if i not in earlier])] == [i for i in own if i not in earlier][
                        :len(items)]
                overlapping += len(set(own) & earlier)
                seen += items
    assert overlapping > 0  # the store's blocks do overlap, so the rule was exercised


async def _batch(client, users: list[str], blocks: list[str]) -> list[dict]:
    response = await client.post("/v1/email-blocks/batch", json={"user_ids": users, "blocks": blocks, "n": 4,
                                                                 "now": int(NOW)})
    assert response.status == 200, await response.text()
    return [json.loads(line) for line in (await response.text()).splitlines()]


def _ids(block: dict) -> list[str]:
    return [i["item_id"] for i in block["items"]]


async def test_an_unknown_recipient_gets_the_fallback_blocks(client):
    body = await (await client.get("/v1/users/never-seen/email-block?n=2")).json()
    sources = {name: block["source"] for name, block in body["blocks"].items()}
    assert sources == {"recommended": "fallback", "buy_again": "unknown_user", "new_for_you": "fallback",
                       "follow_up": "unknown_user"}
    assert len(body["blocks"]["recommended"]["items"]) == 2


async def test_html_blocks_escape_catalog_text_and_every_link_carries_the_recommendation_id(client, demo):
    user = _buyers(demo, 1)[0]
    first = (await (await client.get(f"/v1/users/{user}/recommendations?n=1")).json())["items"][0]["item_id"]
    await client.put("/v1/items", headers=AUTH_WRITE, json=[{
        "item_id": first, "title": '<script>alert("x")</script> & Co', "price": 2000, "currency": "JPY",
        "url": "https://example.com/p?utm_source=mail&rid=stale#top", "image_url": "https://example.com/i.jpg"}])
    response = await client.get(f"/v1/users/{user}/email-block?blocks=recommended,buy_again&n=3&format=html"
                                f"&now={int(NOW)}")
    assert response.status == 200 and response.content_type == "text/html"
    html = await response.text()
    assert "<script>" not in html and "&lt;script&gt;" in html and "¥2,000" in html
    parser = _Tags()
    parser.feed(html)
    links = [attrs["href"] for tag, attrs in parser.tags if tag == "a"]
    images = [attrs for tag, attrs in parser.tags if tag == "img"]
    assert links and images and all(image.get("alt") for image in images)
    rids = {parse_qs(urlsplit(link).query)["rid"][0] for link in links}
    assert len(rids) >= 1 and all(r.startswith("email_") for r in rids)
    for link in links:
        query = parse_qs(urlsplit(link).query)
        assert len(query["rid"]) == 1  # the store's own rid=stale was replaced, not repeated
    mine = next(link for link in links if "utm_source" in link)
    assert parse_qs(urlsplit(mine).query)["utm_source"] == ["mail"] and mine.endswith("#top")
    assert not re.search(r"\bclass=|<style", html)  # inline styles only


async def test_the_link_parameter_and_the_templates_can_be_replaced(make_client, settings, tmp_path, demo):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "email_item.html").write_text(
        '<a href="{{ item.url | with_param(link_param, block.recommendation_id) }}">{{ item.title }}</a>\n')
    client = await make_client(settings, link_param="utm_rec", template_dir=tmp_path / "templates")
    user = _buyers(demo, 1)[0]
    html = await (await client.get(f"/v1/users/{user}/email-block?blocks=recommended&n=2&format=html")).text()
    assert html.count("utm_rec=email_recommended.") == 2 and "<img" not in html


async def test_the_batch_streams_one_line_per_recipient_in_input_order(client, demo):
    users = _buyers(demo, 30) + ["stranger-1"]
    users = users * 40  # 1,240 recipients: more than one chunk
    response = await client.post("/v1/email-blocks/batch", json={
        "user_ids": users, "blocks": ["recommended", "buy_again"], "n": 2, "fields": ["title"],
        "now": int(NOW)})
    assert response.status == 200 and response.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in (await response.text()).splitlines()]
    assert [line["user_id"] for line in lines] == users
    assert len({line["blocks"]["recommended"]["recommendation_id"] for line in lines}) == 1
    html = await client.post("/v1/email-blocks/batch", json={"user_ids": users[:3], "format": "html"})
    html_lines = [json.loads(line) for line in (await html.text()).splitlines()]
    assert all(line["html"].startswith("<table") and set(line["recommendation_ids"]) == set(BLOCKS)
               for line in html_lines)

    async def counted():
        stats = await (await client.get("/v1/stats/online?days=1")).json()
        routes = {r["route"] for r in stats["by_route"]}
        return {"email_recommended", "email_buy_again"} <= routes

    await wait_for(counted, timeout=10)


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/users/u1/email-block?blocks=recommended,cross_sell", "blocks"),
    ("/v1/users/u1/email-block?format=pdf", "format"),
    ("/v1/users/u1/email-block?fields=sku", "fields"),
])
async def test_bad_email_block_parameters_are_400s_naming_the_field(client, path, field):
    response = await client.get(path)
    assert response.status == 400 and (await response.json())["error"]["field"] == field
    body = {"user_ids": ["u1"], field: "nonsense" if field != "fields" else ["sku"]}
    assert (await client.post("/v1/email-blocks/batch", json=body)).status == 400


# -- the contact cap -------------------------------------------------------------------------
async def _lapsed(client, query: str = "") -> list[str]:
    response = await client.get(f"/v1/campaigns/lapsed?min_days=0&max_days=3650&n=1&now={int(NOW)}{query}")
    assert response.status == 200
    return [json.loads(line)["user_id"] for line in (await response.text()).splitlines()]


async def test_contacted_customers_are_left_out_of_campaigns_for_the_cap_and_counted(client):
    everyone = await _lapsed(client)
    mailed = everyone[:3]
    for user in mailed:
        response = await client.post(f"/v1/users/{user}/contacted", json={"channel": "email", "campaign": "win_back"},
                                     headers=AUTH_WRITE)
        assert response.status == 202 and (await response.json())["campaign"] == "win_back"
    assert await _lapsed(client) == everyone[3:]
    assert await _lapsed(client, "&cap_hours=0") == everyone  # the cap turned off
    registry = client.app[METRICS].registry
    assert registry.get_sample_value("encore_campaign_customers_left_out_total",
                                     {"campaign": "lapsed", "reason": "contact_cap"}) == 3
    carts = await client.get(f"/v1/campaigns/abandoned-carts?older_than_hours=0&within_days=3650&now={int(NOW)}")
    capped = {json.loads(line)["user_id"] for line in (await carts.text()).splitlines()}
    uncapped = await client.get(f"/v1/campaigns/abandoned-carts?older_than_hours=0&within_days=3650&now={int(NOW)}"
                                "&cap_hours=0")
    everyone_with_carts = {json.loads(line)["user_id"] for line in (await uncapped.text()).splitlines()}
    assert capped == everyone_with_carts - set(mailed)
    assert registry.get_sample_value("encore_campaign_customers_left_out_total",
                                     {"campaign": "abandoned_carts", "reason": "contact_cap"}) == len(
        everyone_with_carts & set(mailed))


async def test_a_contact_older_than_the_cap_does_not_leave_the_customer_out(make_client, settings):
    client = await make_client(settings, contact_cap_hours=1)
    user = (await _lapsed(client))[0]
    await client.post(f"/v1/users/{user}/contacted", json={"campaign": "win_back"}, headers=AUTH_WRITE)
    later = int(time.time() + 7200)  # contacts are stamped with the clock: two hours on, a 1-hour cap is over
    response = await client.get(f"/v1/campaigns/lapsed?min_days=0&max_days=3650&n=1&now={later}")
    users = [json.loads(line)["user_id"] for line in (await response.text()).splitlines()]
    assert user in users
    assert user not in await _lapsed(client)


@pytest.mark.parametrize("body", [{}, {"campaign": ""}, {"campaign": "x" * 65}, {"campaign": "a", "channel": 3},
                                  {"campaign": "a\nb"}, ["win_back"]])
async def test_bad_contact_records_are_400s(client, body):
    response = await client.post("/v1/users/u1/contacted", json=body, headers=AUTH_WRITE)
    assert response.status == 400
    assert (await client.post("/v1/users/u1/contacted", json={"campaign": "a"})).status == 401


async def test_a_campaign_label_that_cannot_be_encoded_is_a_400(client):
    response = await client.post("/v1/users/u1/contacted", data='{"campaign": "\\ud800"}',
                                 headers={**AUTH_WRITE, "Content-Type": "application/json"})
    assert response.status == 400 and (await response.json())["error"]["field"] == "campaign"


async def test_every_field_of_a_block_is_in_the_openapi_schema(client, demo):
    doc = await (await client.get("/openapi.json")).json()
    line = doc["paths"]["/v1/users/{user_id}/email-block"]["get"]["responses"]["200"]["content"]["application/json"]
    schema = line["schema"]["properties"]["blocks"]["properties"]
    seen: dict[tuple[str, str], set[str]] = {}
    for user in _buyers(demo, 30) + ["stranger-1"]:
        body = await (await client.get(f"/v1/users/{user}/email-block?blocks={','.join(BLOCKS)}&n=4"
                                       f"&fields=title,price&now={int(NOW)}")).json()
        for name, block in body["blocks"].items():
            assert set(block) <= set(schema[name]["properties"]), name
            for part in ("items", "purchased"):
                for item in block.get(part, []):
                    seen.setdefault((name, part), set()).update(item)
    assert ("follow_up", "purchased") in seen and ("new_for_you", "items") in seen
    undocumented = {(name, part): keys - set(schema[name]["properties"][part]["items"]["properties"])
                    for (name, part), keys in seen.items()}
    assert not any(undocumented.values()), undocumented
