// Item: look an item up; its catalog record and events, similar items, what its buyers also bought,
// who would want it (audience), and its stock and price history.

import * as api from "../api.js";
import { timeChart } from "../charts.js";
import { badge, card, customerLink, facts, fmt, h, itemTable, lookupForm, missing, note, table } from "../ui.js";

export const title = "Item";
const DAY = 86400;

export async function render(page, { arg, params, signal }) {
  page.append(lookupForm("item", "Item id", arg));
  if (!arg) {
    page.append(note("Enter an item id (an item_id of your catalog). Items in the other pages' lists link here."));
    return;
  }
  const item = { item_id: arg };
  const grid = h("div", { class: "grid" });
  page.append(grid);
  const record = api.get(api.fill("/v1/items/{item_id}", item), {}, { signal });
  const list = async (template, query) => api.get(api.fill(template, item), await api.withCatalogFields(template, query),
    { signal });
  await Promise.all([
    card(grid, "Item", async (body) => drawRecord(body, await record)),
    card(grid, "Stock and price", async (body) => drawStockAndPrice(body, await record)),
    card(grid, "Activity", async (body) => drawActivity(body, await record, params.get("now"), signal), { wide: true }),
    card(grid, "Similar items", async (body) => {
      const r = await record;
      if (!r.in_model) {
        body.append(note("The model has no vector for this item yet (no events before the last training)."));
        return;
      }
      const similar = await list("/v1/items/{item_id}/similar", { n: 10 });
      body.append(itemTable(similar.items, { caption: "Similar items" }));
    }),
    card(grid, "Bought together", async (body) => {
      const complements = await list("/v1/items/{item_id}/complements", { n: 10, content_n: 3 });
      body.append(complements.items.length ? itemTable(complements.items, { caption: "Bought together" })
        : note("Nobody who bought it bought anything else yet."));
      if (complements.content.length) {
        body.append(h("h3", {}, "Guides its buyers read"), itemTable(complements.content, { caption: "Guides" }));
      }
    }),
    card(grid, "Audience", async (body) => drawAudience(body)),
  ]);

  async function drawAudience(body) {
    const route = "/v1/items/{item_id}/audience";
    if (!(await api.offers("GET", route))) {
      body.append(missing("the audience: how many customers are likely to want this item.", `GET ${route}`));
      return;
    }
    // counting, not sending: no impressions or experiment exposures (dry_run)
    const { count, first } = await api.readLines(api.fill(route, item), { dry_run: "true" }, { keep: 10, signal });
    body.append(h("p", { class: "big-number", dataset: { count: String(count) } }, fmt.int(count)),
      h("p", { class: "muted" }, "customers in its audience with the route's default parameters"));
    if (first.length) {
      const scoredBy = first[0].scored_by === "model" ? "the model's score" : "their share of events in its category";
      body.append(table([
        { label: "customer", value: (r) => customerLink(r.user_id) },
        { label: "score", num: true, value: (r) => Number(r.score).toFixed(3) },
      ], first, { caption: `Most likely to want it (by ${scoredBy})` }));
    }
  }
}

function drawRecord(body, r) {
  const c = r.catalog ?? {};
  body.append(facts([
    ["title", c.title ?? "—"],
    ["item id", h("code", {}, r.item_id)],
    ["kind", c.kind ?? "—"],
    ["category", c.category ?? "—"],
    ["created", fmt.time(c.created_at)],
    ["in the catalog", r.catalog ? "yes" : badge("no", "warn")],
    ["removed", r.removed ? badge("removed: never recommended", "bad") : "no"],
    ["known to the model", r.in_model ? "yes" : badge("not yet", "warn")],
    ["customers", fmt.int(r.customers)],
    ["first event", fmt.time(r.first_event_at)],
    ["last event", fmt.time(r.last_event_at)],
  ]));
  const types = Object.entries(r.events).filter(([, n]) => n > 0);
  body.append(h("p", { class: "muted" }, "Events: ", types.map(([t, n]) => `${t} ${fmt.int(n)}`).join(" · ") || "none"));
}

async function drawStockAndPrice(body, r) {
  const c = r.catalog ?? {};
  const catalogFields = await api.schemaFields("Item");
  body.append(facts([
    ["in stock now", r.catalog ? (c.in_stock ? badge("in stock", "good") : badge("out of stock", "bad")) : "—"],
    catalogFields.has("price") ? ["price now", c.price === undefined || c.price === null ? "—"
      : `${Number(c.price).toFixed(2)} ${c.currency ?? ""}`.trim()] : null,
  ]));
  if (!catalogFields.has("price")) {
    body.append(missing("prices: the catalog has no price field.", "price in the catalog Item (PUT /v1/items)"));
  }
  const history = r.price_history ?? r.stock_history;
  if (Array.isArray(history)) {
    body.append(table([
      { label: "from", value: (p) => fmt.time(p.at ?? p.timestamp ?? p.since) },
      { label: "price", num: true, value: (p) => (p.price === undefined ? "" : Number(p.price).toFixed(2)) },
      { label: "stock", value: (p) => (p.in_stock === undefined ? "" : p.in_stock ? "in stock" : "out") },
    ], history, { caption: "Price history" }));
  } else {
    body.append(missing("stock and price history: the service keeps the current record only.",
      "price_history in GET /v1/items/{item_id}"));
  }
}

async function drawActivity(body, r, now, signal) {
  // the item's last 90 days of activity: up to now, or up to its last event if that is older
  let end = now ? Number(now) : Date.now() / 1000;
  if (r.last_event_at && r.last_event_at < end - 90 * DAY) end = r.last_event_at;
  const stats = await api.get("/v1/stats/events", { days: 90, bucket: "day", item_id: r.item_id,
    now: Math.floor(end) }, { signal });
  const types = Object.keys(stats.counts).filter((t) => stats.totals[t] > 0);
  timeChart(body, {
    title: `Events per day, ${fmt.date(stats.from)} to ${fmt.date(stats.to - 1)}`,
    x: stats.buckets,
    series: types.map((t) => ({ label: t, values: stats.counts[t], format: fmt.int })),
    axes: { y: "events per day" },
    empty: "No events on this item in these 90 days.",
  });
}
