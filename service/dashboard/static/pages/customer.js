// Customer: look a customer up; their events as a timeline, their lifecycle profile, what every
// route would give them (with reasons), and their email block as they would see it.

import * as api from "../api.js";
import { badge, card, facts, fmt, h, itemLink, itemTable, lookupForm, missing, note } from "../ui.js";

export const title = "Customer";
const TIMELINE = 200;

export async function render(page, { arg, params, signal }) {
  page.append(lookupForm("customer", "Customer id", arg));
  if (!arg) {
    page.append(note("Enter a customer id (a user_id your store sends with its events). Campaign previews link here too."));
    return;
  }
  const user = { user_id: arg };
  const now = params.get("now");
  const grid = h("div", { class: "grid" });
  page.append(grid);
  const get = async (template, query) => {
    const path = api.fill(template, user);
    return api.get(path, await api.withCatalogFields(template, query), { signal });
  };
  await Promise.all([
    card(grid, "Events", async (body) => drawTimeline(body, await get("/v1/users/{user_id}/events", { n: TIMELINE })),
      { wide: true, id: "timeline" }),
    card(grid, "Lifecycle profile", async (body) => drawProfile(body), { id: "profile" }),
    card(grid, "Recommendations", async (body) => {
      const list = await get("/v1/users/{user_id}/recommendations", { n: 10, explain: true });
      body.append(sourceLine(list.source, list.model_version), itemTable(list.items, {
        caption: "Recommendations", extra: [{ label: "because they had", value: (i) => reasons(i.because) }] }),
      h("p", { class: "muted small" }, "Looking a customer up calls the list routes, so these lists count as served ",
        "in the online statistics."));
    }),
    card(grid, "Buy again", async (body) => {
      const block = await get("/v1/users/{user_id}/buy-again", { n: 10, now });
      body.append(sourceLine(block.source), itemTable(block.items, { caption: "Buy again", extra: [
        { label: "bought", num: true, value: (i) => `${i.purchases}×` },
        { label: "usual interval", num: true, value: (i) => `${fmt.num(i.interval_days, 0)} d (${i.interval_source})` },
        { label: "last", value: (i) => fmt.date(i.last_purchase) }] }));
    }),
    card(grid, "New for you", async (body) => {
      const block = await get("/v1/users/{user_id}/new", { n: 10, now });
      body.append(sourceLine(block.source, block.model_version), itemTable(block.items, { caption: "New for you",
        extra: [{ label: "created", value: (i) => fmt.date(i.created_at) }, { label: "scored by", value: (i) => i.scored_by }] }));
    }),
    card(grid, "Follow-up after a purchase", async (body) => {
      const block = await get("/v1/users/{user_id}/follow-up", { n: 4, content_n: 2 });
      body.append(sourceLine(block.source, block.model_version));
      if (block.purchased.length) {
        body.append(h("p", {}, "After buying ", block.purchased.map((i, k) => [k ? ", " : "", itemLink(i.item_id, i.title)]), ":"));
      }
      body.append(itemTable(block.items, { caption: "Follow-up items", extra: [{ label: "via", value: (i) => i.via }] }));
      if (block.content.length) body.append(h("h3", {}, "Guides their buyers read"), itemTable(block.content, { caption: "Guides" }));
    }),
    card(grid, "Email block", async (body) => drawEmail(body), { wide: true }),
  ]);

  async function drawProfile(body) {
    const route = "/v1/users/{user_id}/profile";
    if (!(await api.offers("GET", route))) {
      body.append(missing("lifecycle profile (orders, revenue, AOV, churn risk, predicted value, next order).",
        `GET ${route}`));
      return;
    }
    let profile;
    try {
      profile = await get(route, { now });
    } catch (error) {
      if (!(error instanceof api.ApiError) || error.status !== 404) throw error;
      body.append(note("No profile: the service has no event of this customer and the model does not know them."));
      return;
    }
    drawLifecycle(body, profile);
  }

  async function drawEmail(body) {
    const route = "/v1/users/{user_id}/email-block";
    if (!(await api.offers("GET", route))) {
      body.append(missing("the email block rendered as the customer would see it.", `GET ${route}`));
      return;
    }
    const html = await api.text(api.fill(route, user), { format: "html", n: 4 }, { signal });
    // the service escapes every catalog string; the frame runs no script and cannot reach this page
    body.append(h("iframe", { class: "email", title: `Email block for ${arg}`, sandbox: "", srcdoc: html }));
  }
}

/** A customer's lifecycle profile: their history, then what the BG/NBD and Gamma-Gamma models expect of them. */
function drawLifecycle(body, profile) {
  const perCurrency = (amounts) => {
    const entries = Object.entries(amounts ?? {});
    return entries.length ? entries.map(([currency, value]) => `${fmt.num(value, 2)} ${currency}`).join(" · ") : "—";
  };
  const history = h("div", { class: "profile-history" }, facts([
    ["orders", `${fmt.int(profile.orders)} (${fmt.int(profile.purchases)} purchases)`],
    ["revenue", perCurrency(profile.revenue)],
    ["AOV", perCurrency(profile.aov)],
    ["first order", fmt.date(profile.first_order_at)],
    ["last order", profile.last_order_at === null ? "—"
      : `${fmt.date(profile.last_order_at)} (${fmt.int(profile.days_since_last_order)} days before)`],
    ["mean days between orders", fmt.num(profile.mean_days_between_orders, 1)],
  ]));
  body.append(history);
  const p = profile.prediction;
  if (!p) {
    const why = profile.prediction_unavailable;
    body.append(h("p", { class: "note", dataset: { noPrediction: why?.reason ?? "" } }, "No prediction: ",
      why?.message ?? "unavailable", "."));
    return;
  }
  body.append(h("div", { class: "profile-prediction" },
    h("p", {}, badge(p.segment.replaceAll("_", " "), `segment segment-${p.segment}`), " ",
      badge(`${p.churn_risk} churn risk`, `churn churn-${p.churn_risk}`)),
    facts([
      ["P(alive)", fmt.pct(p.p_alive, 1)],
      ["expected orders", `${fmt.num(p.expected_orders_30d, 2)} in 30 d · ${fmt.num(p.expected_orders_90d, 2)} in 90 d · ` +
        `${fmt.num(p.expected_orders_365d, 2)} in 365 d`],
      ["next order by", p.next_order_at === null ? "not expected" : fmt.date(p.next_order_at)],
      ["expected order value", fmt.num(p.expected_order_value, 2)],
      ["predicted 365-day value", fmt.num(p.value_365d, 2)],
      ["value at risk", fmt.num(p.value_at_risk, 2)],
      ["RFM scores", `R ${p.rfm.r} · F ${p.rfm.f} · M ${p.rfm.m}`],
    ])),
    h("p", { class: "muted small" }, "BG/NBD and Gamma-Gamma fitted at the training ",
      profile.lifecycle.fitted_at ? `of ${fmt.date(profile.lifecycle.fitted_at)}` : "",
      profile.purchases_since_fit ? `; ${fmt.int(profile.purchases_since_fit)} purchases since then counted` : "",
      ". Times in UTC."));
}

function sourceLine(source, version) {
  return h("p", { class: "muted small" }, "source ", badge(source ?? "—"), version ? [" · model ", h("code", {}, version)] : null);
}

function reasons(because) {
  if (!because?.length) return h("span", { class: "muted" }, "—");
  return because.map((id, k) => [k ? ", " : "", itemLink(id)]);
}

function drawTimeline(body, { events, total }) {
  if (!total) {
    body.append(note("No events for this customer: the service has never seen this id."));
    return;
  }
  const counts = {};
  for (const e of events) counts[e.type] = (counts[e.type] ?? 0) + 1;
  body.append(h("p", { class: "muted" }, `${fmt.int(total)} events in all`,
    total > events.length ? `; the newest ${events.length} below` : "", " (",
    Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(" · "), ").", " Times in UTC."));
  const list = h("ol", { class: "timeline", "aria-label": "Events, newest first", tabindex: "0" });
  let day = null;
  for (const e of events) {
    const date = fmt.date(e.timestamp);
    if (date !== day) {
      day = date;
      list.append(h("li", { class: "day" }, h("time", { datetime: date }, date)));
    }
    list.append(h("li", { class: "event", dataset: { type: e.type, item: e.item_id } },
      h("time", { datetime: new Date(e.timestamp * 1000).toISOString() }, fmt.time(e.timestamp).slice(11, 16)),
      badge(e.type.replaceAll("_", " "), `type-${e.type}`),
      itemLink(e.item_id, e.title), e.category ? h("span", { class: "muted" }, ` ${e.category}`) : null));
  }
  body.append(list);
}
